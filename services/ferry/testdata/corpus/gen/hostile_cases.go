package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

const encryptedPassword = "ferry"

func hostileCases() []inputCase {
	return []inputCase{
		// A CSV file saved under an .xlsx name.
		{dir: "72-xlsx-not-a-zip", file: "input.xlsx", gen: text(lines(crlf, "Student ID,Name", "000123,Ann"))},
		// The first half of a workbook: the upload was cut off.
		{dir: "73-xlsx-truncated", file: "input.xlsx", gen: func() ([]byte, error) {
			b, err := xlsxBasic()
			if err != nil {
				return nil, err
			}
			return b[:len(b)/2], nil
		}},
		// Password "ferry" (ECMA-376 standard encryption, as excelize writes it).
		{dir: "74-xlsx-encrypted", file: "input.xlsx", gen: xlsxEncrypted, keep: keepEncrypted},
		// 500 MiB of sheet XML deflated to a few hundred KiB.
		{dir: "75-xlsx-zip-bomb", file: "input.xlsx", gen: xlsxZipBomb},
		{dir: "76-png-declared-csv", file: "input.csv", gen: pngImage},
		{dir: "77-csv-100000-columns", file: "input.csv", gen: func() ([]byte, error) {
			var b strings.Builder
			for i := 1; i <= 100000; i++ {
				if i > 1 {
					b.WriteByte(',')
				}
				b.WriteString("c" + strconv.Itoa(i))
			}
			b.WriteString("\n")
			return []byte(b.String()), nil
		}},
		// A workbook uploaded to a CSV profile.
		{dir: "78-xlsx-uploaded-to-csv-profile", file: "input.xlsx", gen: xlsxBasic},
		// A web application's "Excel export": an HTML table named .xls.
		{dir: "79-html-saved-as-xls", file: "input.xls", gen: text(lines(crlf,
			`<html xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:x="urn:schemas-microsoft-com:office:excel">`,
			`<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>`,
			`<body><table>`,
			`<tr><th>Student ID</th><th>Name</th></tr>`,
			`<tr><td>000123</td><td>Zoë</td></tr>`,
			`</table></body></html>`,
		))},
		// The profile names a sheet the workbook does not have.
		{dir: "80-xlsx-missing-sheet", file: "input.xlsx", gen: xlsxBasic},
	}
}

func xlsxEncrypted() ([]byte, error) {
	raw, err := xlsxBasic()
	if err != nil {
		return nil, err
	}
	f, err := excelize.OpenReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := f.Write(&out, excelize.Options{Password: encryptedPassword}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// keepEncrypted keeps an encrypted workbook that still opens with the
// password and holds the basic workbook's cells: its salt is random, so a
// new one would differ in every byte.
func keepEncrypted(path string) bool {
	f, err := excelize.OpenFile(path, excelize.Options{Password: encryptedPassword})
	if err != nil {
		return false
	}
	defer f.Close()
	v, err := f.GetCellValue("Students", "B2")
	return err == nil && v == "Zoë"
}

// xlsxZipBomb is a valid workbook whose sheet XML holds a header row, one
// data row and then 500 MiB of spaces (whitespace between elements is
// valid XML): deflate packs it about 1000:1.
func xlsxZipBomb() ([]byte, error) {
	small, err := xlsxBasicSheet1()
	if err != nil {
		return nil, err
	}
	const (
		head = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
			`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
			`<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c></row>` +
			`<row r="2"><c r="A2" t="inlineStr"><is><t>1</t></is></c></row>`
		tail = `</sheetData></worksheet>`
		size = 500 << 20
	)
	entries, err := copyEntries(small, map[string]func(io.Writer) error{
		sheet1: func(w io.Writer) error {
			if _, err := io.WriteString(w, head); err != nil {
				return err
			}
			block := bytes.Repeat([]byte{' '}, 1<<20)
			for i := 0; i < size>>20; i++ {
				if _, err := w.Write(block); err != nil {
					return err
				}
			}
			_, err := io.WriteString(w, tail)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	return zipWithBestCompression(entries)
}

// xlsxBasicSheet1 is a one-sheet workbook whose sheet is Sheet1.
func xlsxBasicSheet1() ([]byte, error) {
	b := newBook("Sheet1")
	b.rows("Sheet1", 1, []any{"id"}, []any{"1"})
	return b.bytes(nil)
}

// copyEntries lists a ZIP archive's entries, replacing the writers of the
// ones named in repl.
func copyEntries(data []byte, repl map[string]func(io.Writer) error) ([]zipEntry, error) {
	zr, err := zipReader(data)
	if err != nil {
		return nil, err
	}
	var es []zipEntry
	for _, zf := range zr.File {
		if w := repl[zf.Name]; w != nil {
			es = append(es, zipEntry{name: zf.Name, write: w})
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, err
		}
		content, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		es = append(es, zipEntry{name: zf.Name, write: func(w io.Writer) error {
			_, err := w.Write(content)
			return err
		}})
	}
	return es, nil
}

// pngImage is a small PNG (a 64x64 gradient), as a phone's "scan" of a list.
func pngImage() ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x * 4), G: uint8(y * 4), B: 128, A: 255})
		}
	}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
