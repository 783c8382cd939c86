package outfile

import (
	"archive/zip"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// TextSheet writes a workbook of one sheet of text cells at a chosen
// position, for files that are read again as they were written — reject
// reports of workbook profiles: every cell is an inline string, so "007"
// stays "007", "=1+1" is text (no guard is added: a string cell is never a
// formula), and rows may have any number of cells. The sheets before the
// written one are empty, so that a reader that takes a sheet by position
// takes this one. Like the export writer, it writes the sheet's XML itself
// into a deflated zip entry: nothing is spooled, nothing grows with the
// row count.
type TextSheet struct {
	name  string
	index int
	out   *countingWriter
	zw    *zip.Writer
	sheet io.Writer
	buf   []byte
	refs  []string
	row   int
	// Replaced counts characters an XLSX cell cannot hold (control
	// characters, invalid UTF-8), written as U+FFFD.
	Replaced int64
	err      error
	closed   bool
}

// NewTextSheet starts a workbook on w whose sheet at the 1-based position
// index (0 means 1) is named name ("Sheet<index>" when empty).
func NewTextSheet(w io.Writer, name string, index int) (*TextSheet, error) {
	index = max(index, 1)
	if index > xlsxMaxSheets {
		return nil, fmt.Errorf("write xlsx: sheet position %d is not possible (1 to %d)", index, xlsxMaxSheets)
	}
	if name == "" {
		name = "Sheet" + strconv.Itoa(index)
	}
	if err := checkSheetName(name); err != nil {
		return nil, fmt.Errorf("write xlsx: sheet name %q: %w", name, err)
	}
	t := &TextSheet{name: name, index: index, out: &countingWriter{w: w}}
	t.zw = zip.NewWriter(t.out)
	t.zw.RegisterCompressor(zip.Deflate, fastDeflate)
	var err error
	if t.sheet, err = t.zw.CreateHeader(xlsxEntry(sheetPart(index))); err != nil {
		return nil, fmt.Errorf("write xlsx: %w", err)
	}
	t.buf = append(make([]byte, 0, xlsxFlushAt+4096), xml.Header...)
	t.buf = append(t.buf, `<worksheet xmlns="`+xlsxMainNS+`" xmlns:r="`+xlsxRelNS+`"><sheetData>`...)
	return t, nil
}

// Skip leaves the next n rows empty.
func (t *TextSheet) Skip(n int) { t.row += max(n, 0) }

// WriteRow writes the next row; empty strings are empty cells.
func (t *TextSheet) WriteRow(cells []string) error {
	switch {
	case t.closed:
		return errClosed
	case t.err != nil:
		return t.err
	case t.row >= xlsxMaxRows:
		t.err = fmt.Errorf("write xlsx row %d: a sheet holds at most %d rows", t.row+1, xlsxMaxRows)
		return t.err
	case len(cells) > xlsxMaxColumns:
		t.err = fmt.Errorf("write xlsx row %d: %d cells, a sheet holds at most %d columns", t.row+1, len(cells), xlsxMaxColumns)
		return t.err
	}
	t.row++
	for len(t.refs) < len(cells) {
		t.refs = append(t.refs, columnLetters(len(t.refs)))
	}
	t.buf = append(t.buf, `<row r="`...)
	t.buf = strconv.AppendInt(t.buf, int64(t.row), 10)
	t.buf = append(t.buf, `">`...)
	for i, text := range cells {
		if text == "" {
			continue
		}
		if j, _ := firstUnfitXML(text); j >= 0 {
			var n int
			text, n = replaceUnfit(text, j, xmlRune)
			t.Replaced += int64(n)
		}
		if err := checkCellLength(text); err != nil {
			t.err = fmt.Errorf("write xlsx row %d, column %s: %w", t.row, t.refs[i], err)
			return t.err
		}
		t.buf = appendInlineString(t.buf, t.refs[i], t.row, 0, text)
	}
	t.buf = append(t.buf, `</row>`...)
	if len(t.buf) >= xlsxFlushAt {
		if _, err := t.sheet.Write(t.buf); err != nil {
			t.err = fmt.Errorf("write xlsx: %w", err)
			return t.err
		}
		t.buf = t.buf[:0]
	}
	return nil
}

// Close finishes the workbook.
func (t *TextSheet) Close() error {
	if t.closed {
		return errClosed
	}
	t.closed = true
	if t.err != nil {
		return t.err
	}
	t.buf = append(t.buf, `</sheetData></worksheet>`...)
	if _, err := t.sheet.Write(t.buf); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	return writeWorkbook(t.zw, sheetNames(t.name, t.index), xlsxPlainStyles)
}

// xlsxPlainStyles is the stylesheet of a workbook without styled cells.
const xlsxPlainStyles = xml.Header + `<styleSheet xmlns="` + xlsxMainNS + `">` +
	`<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>` +
	`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>` +
	`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>` +
	`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
	`<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>` +
	`<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`

// sheetPart is the zip entry of the sheet at 1-based position i.
func sheetPart(i int) string { return "xl/worksheets/sheet" + strconv.Itoa(i) + ".xml" }

// sheetNames are the names of a workbook's sheets in order: empty sheets
// "Empty1", "Empty2", … before the written one at position index (one named
// like the written one, letter case aside, gets " (empty)": Excel refuses
// two sheets of one name).
func sheetNames(name string, index int) []string {
	names := make([]string, max(index, 1))
	for i := range len(names) - 1 {
		names[i] = "Empty" + strconv.Itoa(i+1)
		if strings.EqualFold(names[i], name) {
			names[i] += " (empty)"
		}
	}
	names[len(names)-1] = name
	return names
}

// writeWorkbook writes the parts of a workbook around its last sheet, whose
// entry (sheetPart(len(names))) is written already: the empty sheets before
// it, the styles, the workbook, the relationships and the content types,
// and closes zw. Relationship rId<i> is sheet i; the styles' comes after.
func writeWorkbook(zw *zip.Writer, names []string, styles string) error {
	var sheets, rels, types strings.Builder
	parts := []struct{ name, body string }{{"xl/styles.xml", styles}}
	for i, name := range names {
		n := strconv.Itoa(i + 1)
		fmt.Fprintf(&sheets, `<sheet name="%s" sheetId="%s" r:id="rId%s"/>`, xmlAttr(name), n, n)
		fmt.Fprintf(&rels, `<Relationship Id="rId%s" Type="%s/worksheet" Target="worksheets/sheet%s.xml"/>`, n, xlsxRelNS, n)
		fmt.Fprintf(&types, `<Override PartName="/%s" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`, sheetPart(i+1))
		if i < len(names)-1 {
			parts = append(parts, struct{ name, body string }{sheetPart(i + 1),
				xml.Header + `<worksheet xmlns="` + xlsxMainNS + `" xmlns:r="` + xlsxRelNS + `"><sheetData/></worksheet>`})
		}
	}
	parts = append(parts, []struct{ name, body string }{
		{"xl/workbook.xml", xml.Header + `<workbook xmlns="` + xlsxMainNS + `" xmlns:r="` + xlsxRelNS + `"><sheets>` + sheets.String() + `</sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", xml.Header + `<Relationships xmlns="` + xlsxPkgRelNS + `">` + rels.String() +
			`<Relationship Id="rId` + strconv.Itoa(len(names)+1) + `" Type="` + xlsxRelNS + `/styles" Target="styles.xml"/></Relationships>`},
		{"_rels/.rels", xml.Header + `<Relationships xmlns="` + xlsxPkgRelNS + `"><Relationship Id="rId1" Type="` + xlsxRelNS + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
		{"[Content_Types].xml", xml.Header + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			types.String() +
			`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>`},
	}...)
	for _, part := range parts {
		w, err := zw.CreateHeader(xlsxEntry(part.name))
		if err == nil {
			_, err = io.WriteString(w, part.body)
		}
		if err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	return nil
}
