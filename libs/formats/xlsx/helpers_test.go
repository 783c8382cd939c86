package xlsx

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

// row is one result of RowReader.Next, for comparisons.
type row struct {
	N     int64
	Cells []string
}

// rows is a shorthand for a list of rows numbered from 1.
func rows(cells ...[]string) []row {
	out := make([]row, len(cells))
	for i, c := range cells {
		out[i] = row{N: int64(i + 1), Cells: c}
	}
	return out
}

// open opens a workbook held in memory.
func open(data []byte, l Limits) (*Workbook, error) {
	return Open(bytes.NewReader(data), int64(len(data)), l)
}

// readSheet reads every row of the named sheet (the first if name is ""),
// returning the rows read before an error and the error (nil at io.EOF).
func readSheet(tb testing.TB, data []byte, l Limits, name string) ([]row, error) {
	tb.Helper()
	w, err := open(data, l)
	if err != nil {
		return nil, err
	}
	sheets := w.Sheets()
	require.NotEmpty(tb, sheets)
	s := sheets[0]
	if name != "" {
		s = Sheet{Name: name}
	}
	return readRows(tb, w, s)
}

func readRows(tb testing.TB, w *Workbook, s Sheet) ([]row, error) {
	tb.Helper()
	rr, err := w.Rows(s)
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	var out []row
	for {
		n, cells, err := rr.Next()
		if err == io.EOF {
			_, _, again := rr.Next()
			require.Equal(tb, io.EOF, again, "EOF is sticky")
			return out, nil
		}
		if err != nil {
			require.Nil(tb, cells)
			_, _, again := rr.Next()
			require.Equal(tb, err, again, "errors are sticky")
			return out, err
		}
		require.NotEmpty(tb, cells, "rows without values are skipped")
		require.NotEqual(tb, "", cells[len(cells)-1], "trailing empty cells are dropped")
		out = append(out, row{N: n, Cells: cells})
	}
}

// mustRead reads the first sheet and fails the test on an error.
func mustRead(tb testing.TB, data []byte) []row {
	tb.Helper()
	got, err := readSheet(tb, data, Limits{}, "")
	require.NoError(tb, err)
	return got
}

// excelizeBook builds a workbook with excelize; build gets the file with
// its default sheet "Sheet1".
func excelizeBook(tb testing.TB, build func(f *excelize.File)) []byte {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	build(f)
	buf, err := f.WriteToBuffer()
	require.NoError(tb, err)
	return buf.Bytes()
}

// must fails the test on a non-nil error, for excelize calls in builders.
func must(tb testing.TB, err error) {
	tb.Helper()
	require.NoError(tb, err)
}

// entry is one file of a hand-made zip.
type entry struct {
	name   string
	body   string
	stored bool
}

// zipOf writes a zip of the entries, in order.
func zipOf(tb testing.TB, entries ...entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		m := zip.Deflate
		if e.stored {
			m = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: m})
		require.NoError(tb, err)
		_, err = io.WriteString(w, e.body)
		require.NoError(tb, err)
	}
	require.NoError(tb, zw.Close())
	return buf.Bytes()
}

const (
	nsMain = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	relNS  = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
)

// book describes a hand-made workbook: the raw XML of its parts.
type book struct {
	sheets   []bookSheet
	sst      string // body of <sst>; no sharedStrings part when ""
	styles   string // the whole styles.xml; none when ""
	date1904 bool
	extra    []entry // more zip entries, after the parts
	stored   bool    // store the parts instead of deflating them
}

type bookSheet struct {
	name  string
	state string // "", "hidden" or "veryHidden"
	xml   string // the whole sheet part
}

// sheetXML wraps rows (the content of <sheetData>) in a worksheet part.
func sheetXML(rows string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<worksheet ` + nsMain + `><dimension ref="A1"/><sheetData>` + rows + `</sheetData></worksheet>`
}

// oneSheet is a book with one sheet named Sheet1 holding rows.
func oneSheet(rows string) book {
	return book{sheets: []bookSheet{{name: "Sheet1", xml: sheetXML(rows)}}}
}

// stylesXML makes a styles part with the given custom number formats (id to
// code) and cell formats (numFmtId of each xf, in order).
func stylesXML(numFmts map[int]string, xfs ...int) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
	if len(numFmts) > 0 {
		fmt.Fprintf(&b, `<numFmts count="%d">`, len(numFmts))
		for id, code := range numFmts {
			fmt.Fprintf(&b, `<numFmt numFmtId="%d" formatCode="%s"/>`, id, xmlEscape(code))
		}
		b.WriteString(`</numFmts>`)
	}
	b.WriteString(`<cellStyleXfs count="1"><xf numFmtId="0"/></cellStyleXfs>`)
	fmt.Fprintf(&b, `<cellXfs count="%d">`, len(xfs))
	for _, id := range xfs {
		fmt.Fprintf(&b, `<xf numFmtId="%d" fontId="0" applyNumberFormat="1"><alignment/></xf>`, id)
	}
	b.WriteString(`</cellXfs></styleSheet>`)
	return b.String()
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }

// bytes builds the zip of the book.
func (b book) bytes(tb testing.TB) []byte {
	tb.Helper()
	var sheets, rels, overrides strings.Builder
	var entries []entry
	for i, s := range b.sheets {
		state := ""
		if s.state != "" {
			state = fmt.Sprintf(` state="%s"`, s.state)
		}
		fmt.Fprintf(&sheets, `<sheet name="%s" sheetId="%d"%s r:id="rId%d"/>`, xmlEscape(s.name), i+1, state, i+1)
		fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="%sworksheet" Target="worksheets/sheet%d.xml"/>`, i+1, relNS, i+1)
		fmt.Fprintf(&overrides, `<Override PartName="/xl/worksheets/sheet%d.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`, i+1)
		entries = append(entries, entry{name: fmt.Sprintf("xl/worksheets/sheet%d.xml", i+1), body: s.xml})
	}
	n := len(b.sheets)
	if b.sst != "" {
		fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="%ssharedStrings" Target="sharedStrings.xml"/>`, n+1, relNS)
		entries = append(entries, entry{name: "xl/sharedStrings.xml", body: `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` + b.sst + `</sst>`})
	}
	if b.styles != "" {
		fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="%sstyles" Target="styles.xml"/>`, n+2, relNS)
		entries = append(entries, entry{name: "xl/styles.xml", body: b.styles})
	}
	pr := ""
	if b.date1904 {
		pr = `<workbookPr date1904="1"/>`
	}
	head := []entry{
		{name: "[Content_Types].xml", body: `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` + overrides.String() + `</Types>`},
		{name: "_rels/.rels", body: `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="` + relNS + `officeDocument" Target="xl/workbook.xml"/></Relationships>`},
		{name: "xl/workbook.xml", body: `<?xml version="1.0" encoding="UTF-8"?><workbook ` + nsMain + `>` + pr + `<sheets>` + sheets.String() + `</sheets></workbook>`},
		{name: "xl/_rels/workbook.xml.rels", body: `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` + rels.String() + `</Relationships>`},
	}
	all := append(append(head, entries...), b.extra...)
	if b.stored {
		for i := range all {
			all[i].stored = true
		}
	}
	return zipOf(tb, all...)
}

// replaceEntry returns the entries of a zip with one entry's body replaced
// (or added), keeping the others as they are.
func replaceEntry(tb testing.TB, data []byte, name, body string) []byte {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(tb, err)
	var entries []entry
	found := false
	for _, f := range zr.File {
		if f.Name == name {
			entries = append(entries, entry{name: name, body: body})
			found = true
			continue
		}
		rc, err := f.Open()
		require.NoError(tb, err)
		b, err := io.ReadAll(rc)
		require.NoError(tb, err)
		entries = append(entries, entry{name: f.Name, body: string(b)})
	}
	if !found {
		entries = append(entries, entry{name: name, body: body})
	}
	return zipOf(tb, entries...)
}

// readEntry returns the body of one entry of a zip.
func readEntry(tb testing.TB, data []byte, name string) string {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(tb, err)
	for _, f := range zr.File {
		if f.Name == name {
			rc, err := f.Open()
			require.NoError(tb, err)
			b, err := io.ReadAll(rc)
			require.NoError(tb, err)
			return string(b)
		}
	}
	tb.Fatalf("no entry %s", name)
	return ""
}
