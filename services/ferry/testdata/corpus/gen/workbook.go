package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/xuri/excelize/v2"
)

// zipTime is the modification time of every entry of a re-written archive.
var zipTime = time.Date(2024, 3, 15, 9, 30, 0, 0, time.UTC)

func errf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// book wraps an excelize file and remembers the first error, so that the
// cases read as a list of cells.
type book struct {
	f   *excelize.File
	err error
}

func newBook(firstSheet string) *book {
	b := &book{f: excelize.NewFile()}
	if firstSheet != "Sheet1" {
		b.check(b.f.SetSheetName("Sheet1", firstSheet))
	}
	return b
}

func (b *book) check(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

func (b *book) sheet(name string) {
	_, err := b.f.NewSheet(name)
	b.check(err)
}

// set writes one cell: a string is a text cell (shared string), an int or
// a float64 a number, a bool a boolean; nil leaves the cell out.
func (b *book) set(sheet, ref string, v any) {
	switch v := v.(type) {
	case nil:
	case string:
		b.check(b.f.SetCellStr(sheet, ref, v))
	case int:
		b.check(b.f.SetCellInt(sheet, ref, int64(v)))
	case float64:
		b.check(b.f.SetCellFloat(sheet, ref, v, -1, 64))
	case bool:
		b.check(b.f.SetCellBool(sheet, ref, v))
	default:
		b.check(errf("cell %s: unsupported value %T", ref, v))
	}
}

// rows writes rows starting at row first, column A.
func (b *book) rows(sheet string, first int, rows ...[]any) {
	for i, r := range rows {
		for j, v := range r {
			ref, err := excelize.CoordinatesToCellName(j+1, first+i)
			b.check(err)
			b.set(sheet, ref, v)
		}
	}
}

// style returns a style with the built-in number format id (0 for none) or
// the custom number format code.
func (b *book) style(builtin int, custom string) int {
	s := &excelize.Style{NumFmt: builtin}
	if custom != "" {
		s.CustomNumFmt = &custom
	}
	id, err := b.f.NewStyle(s)
	b.check(err)
	return id
}

func (b *book) styled(sheet, ref string, style int, v any) {
	b.set(sheet, ref, v)
	b.check(b.f.SetCellStyle(sheet, ref, ref, style))
}

// bytes returns the workbook; patches rewrite parts of the archive (by path,
// such as "xl/worksheets/sheet1.xml").
func (b *book) bytes(patches map[string]func(string) (string, error)) ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	buf, err := b.f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	if len(patches) == 0 {
		return buf.Bytes(), nil
	}
	return rezip(buf.Bytes(), patches)
}

// rezip copies a ZIP archive entry by entry, in order, rewriting the
// entries patches name.
func rezip(data []byte, patches map[string]func(string) (string, error)) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	done := map[string]bool{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			return nil, err
		}
		content, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		if p := patches[zf.Name]; p != nil {
			s, err := p(string(content))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", zf.Name, err)
			}
			content = []byte(s)
			done[zf.Name] = true
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: zf.Name, Method: zip.Deflate, Modified: zipTime})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(content); err != nil {
			return nil, err
		}
	}
	for name := range patches {
		if !done[name] {
			return nil, errf("the workbook has no part %s to patch", name)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// cells returns a patch that replaces whole <c> elements of a sheet by the
// given XML, by cell reference. Each cell must exist exactly once (write a
// placeholder with book.set first).
func cells(repl map[string]string) func(string) (string, error) {
	return func(xml string) (string, error) {
		for ref, c := range repl {
			re := regexp.MustCompile(`(?s)<c r="` + ref + `"(?:[^>]*?/>|[^>]*>.*?</c>)`)
			locs := re.FindAllStringIndex(xml, -1)
			if len(locs) != 1 {
				return "", errf("cell %s: found %d times", ref, len(locs))
			}
			xml = xml[:locs[0][0]] + c + xml[locs[0][1]:]
		}
		return xml, nil
	}
}

// serial1900 is t as an Excel serial number in the 1900 date system (for
// dates from 1900-03-01 on), as Excel stores it: a float64.
func serial1900(t time.Time) float64 {
	d := t.Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC))
	return float64(d) / float64(24*time.Hour)
}

// serial1904 is t as an Excel serial number in the 1904 date system.
func serial1904(t time.Time) float64 {
	d := t.Sub(time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC))
	return float64(d) / float64(24*time.Hour)
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func at(y int, m time.Month, d, hh, mm, ss int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, time.UTC)
}

// timeOfDay is a time as the fraction of a day Excel stores.
func timeOfDay(hh, mm, ss int) float64 {
	return float64(hh*3600+mm*60+ss) / 86400
}

// zipWithBestCompression writes entries (in order) with deflate level 9.
func zipWithBestCompression(entries []zipEntry) ([]byte, error) {
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: zipTime})
		if err != nil {
			return nil, err
		}
		if err := e.write(w); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

type zipEntry struct {
	name  string
	write func(io.Writer) error
}

func zipReader(data []byte) (*zip.Reader, error) {
	return zip.NewReader(bytes.NewReader(data), int64(len(data)))
}
