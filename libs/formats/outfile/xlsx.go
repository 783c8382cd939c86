package outfile

import (
	"archive/zip"
	"compress/flate"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ferrydata/ferry/libs/values"
)

const (
	// maxSignificantDigits is what an Excel number (a double) holds exactly
	// and shows: a number with more significant digits is written as text.
	maxSignificantDigits = 15
	// Excel's largest and smallest non-zero magnitudes.
	excelMaxNumber = 9.99999999999999e307
	excelMinNumber = 1e-307
	// excelAfterLastSerial is 1 January 10000, which Excel cannot show.
	excelAfterLastSerial = 2958466
	// defaultDateFormat and defaultTimestampFormat are the Excel number
	// formats of dates and timestamps without a date format.
	defaultDateFormat      = "yyyy-mm-dd"
	defaultTimestampFormat = "yyyy-mm-dd hh:mm:ss"
	// xlsxEncoding names the XLSX cell in an UnencodableError.
	xlsxEncoding = "xlsx"
)

var (
	// excelEpoch is day 0 of Excel's 1900 date system as it counts from
	// 1 March 1900 on; before that Excel counts one day less, since it
	// believes 1900 was a leap year.
	excelEpoch     = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	excelFirstDay  = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	excelLeapBug   = time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC)
	excelAfterLast = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// xlsxWriter streams rows into one sheet: it writes the sheet's XML itself,
// straight into a deflated zip entry of the output, and the small parts of
// the workbook (styles, workbook, relationships, content types) at Close.
// Nothing is spooled and nothing grows with the row count. Strings are
// inline string cells; no shared-strings table is kept, since it would hold
// every distinct text of the file in memory.
type xlsxWriter struct {
	spec  *spec
	out   *countingWriter
	zw    *zip.Writer
	sheet io.Writer // the sheet's zip entry
	buf   []byte    // rows not yet written to sheet
	refs  []string  // the column letters of each column
	nums  []string  // the custom number formats, in order of first use
	// styles maps a (column, kind) date style to its cellXfs index.
	styles map[styleKey]int
	row    int // the last sheet row written
	text   []byte
	texts  []string // the checked text of each String and JSON cell of the row

	stats  Stats
	bad    unencodable
	failed bool
	err    error
	closed bool
}

// styleKey names the number-format style of a column for a kind of value.
type styleKey struct {
	col  int
	kind ValueKind
}

const (
	// Excel's limits: columns and rows of a sheet, UTF-16 code units of a
	// cell, characters of a sheet name.
	xlsxMaxColumns   = 16384
	xlsxMaxRows      = 1048576
	xlsxMaxCellChars = 32767
	xlsxMaxSheetName = 31
	// xlsxMaxSheets bounds a TextSheet's position: the empty sheets before
	// it are all in the workbook.
	xlsxMaxSheets = 255
	// xlsxBoldStyle is the cellXfs index of the header row's bold cells;
	// date styles follow it.
	xlsxBoldStyle = 1
	// xlsxFirstNumFmt is the first id of a custom number format.
	xlsxFirstNumFmt = 164
	// xlsxFlushAt is how many bytes of rows collect before they go to the
	// compressor.
	xlsxFlushAt = 64 << 10
)

// flateWriters keeps fastDeflate's compressors for reuse, as archive/zip
// does for its own.
var flateWriters sync.Pool

// pooledFlate is a compressor that goes back to flateWriters when closed.
type pooledFlate struct{ *flate.Writer }

func (p pooledFlate) Close() error {
	err := p.Writer.Close()
	flateWriters.Put(p.Writer)
	return err
}

// fastDeflate compresses a zip entry at deflate's best speed: the sheet's
// XML compresses well at any level, and the default level costs several
// times the CPU of writing the rows.
func fastDeflate(w io.Writer) (io.WriteCloser, error) {
	if fw, ok := flateWriters.Get().(*flate.Writer); ok {
		fw.Reset(w)
		return pooledFlate{fw}, nil
	}
	fw, err := flate.NewWriter(w, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	return pooledFlate{fw}, nil
}

func newXLSX(w io.Writer, s *spec) (*xlsxWriter, error) {
	if len(s.cols) > xlsxMaxColumns {
		return nil, fmt.Errorf("write xlsx: %d columns, a sheet holds at most %d", len(s.cols), xlsxMaxColumns)
	}
	if err := checkSheetName(s.sheetName()); err != nil {
		return nil, fmt.Errorf("write xlsx: sheet name %q: %w", s.sheetName(), err)
	}
	x := &xlsxWriter{spec: s, out: &countingWriter{w: w}, styles: map[styleKey]int{}, refs: make([]string, len(s.cols)), texts: make([]string, len(s.cols))}
	x.bad.err.Encoding = xlsxEncoding
	for i := range x.refs {
		x.refs[i] = columnLetters(i)
	}
	x.zw = zip.NewWriter(x.out)
	x.zw.RegisterCompressor(zip.Deflate, fastDeflate)
	var err error
	if x.sheet, err = x.zw.CreateHeader(xlsxEntry(sheetPart(1))); err != nil {
		return nil, fmt.Errorf("write xlsx: %w", err)
	}
	x.buf = append(make([]byte, 0, xlsxFlushAt+4096), xml.Header...)
	x.buf = append(x.buf, `<worksheet xmlns="`+xlsxMainNS+`" xmlns:r="`+xlsxRelNS+`"><sheetData>`...)
	if err := x.header(); err != nil {
		return nil, err
	}
	return x, nil
}

// sheetName is the name of the XLSX sheet.
func (s *spec) sheetName() string {
	if s.o.SheetName == "" {
		return "Sheet1"
	}
	return s.o.SheetName
}

// checkSheetName refuses a name Excel refuses.
func checkSheetName(name string) error {
	switch {
	case name == "":
		return errors.New("a sheet needs a name")
	case utf8.RuneCountInString(name) > xlsxMaxSheetName:
		return fmt.Errorf("longer than the %d characters Excel allows", xlsxMaxSheetName)
	case strings.HasPrefix(name, "'") || strings.HasSuffix(name, "'"):
		return errors.New("it starts or ends with an apostrophe")
	case strings.ContainsAny(name, `:\/?*[]`):
		return errors.New(`it holds one of : \ / ? * [ ]`)
	}
	if i, _ := firstUnfit(name, xmlRune); i >= 0 {
		return errors.New("it holds a character an XLSX file cannot hold")
	}
	return nil
}

// header writes the bold header row.
func (x *xlsxWriter) header() error {
	if x.spec.o.NoHeader {
		return nil
	}
	x.row++
	x.buf = append(x.buf, `<row r="1">`...)
	for i := range x.spec.cols {
		c := &x.spec.cols[i]
		text, n, r, ok := x.cellText(c.Header)
		if !ok {
			return fmt.Errorf("write xlsx: header %q has %s, which an XLSX cell cannot hold", c.Header, describeRune(r))
		}
		if err := checkCellLength(text); err != nil {
			return fmt.Errorf("write xlsx: header of column %d: %w", i+1, err)
		}
		x.stats.Replaced += int64(n)
		x.appendString(i, xlsxBoldStyle, text)
	}
	x.buf = append(x.buf, `</row>`...)
	return nil
}

// dateStyle returns the style with the number format of column i for
// dates or timestamps, making it on first use.
func (x *xlsxWriter) dateStyle(i int, kind ValueKind) int {
	k := styleKey{i, kind}
	if id, ok := x.styles[k]; ok {
		return id
	}
	numFmt := excelDateFormat(x.spec.cols[i].DateFormat, kind == Timestamp)
	id := slices.Index(x.nums, numFmt)
	if id < 0 {
		id = len(x.nums)
		x.nums = append(x.nums, numFmt)
	}
	x.styles[k] = xlsxBoldStyle + 1 + id
	return x.styles[k]
}

// cellText guards s and replaces or reports what a cell cannot hold.
func (x *xlsxWriter) cellText(s string) (text string, replaced int, bad rune, ok bool) {
	if !x.spec.o.AllowFormulas && needsGuard(s) {
		s = "'" + s
	}
	i, r := firstUnfitXML(s)
	if i < 0 {
		return s, 0, 0, true
	}
	if !x.spec.o.ReplaceUnencodable {
		return "", 0, r, false
	}
	s, replaced = replaceUnfit(s, i, xmlRune)
	return s, replaced, 0, true
}

func (x *xlsxWriter) WriteRow(row int64, cells []Value) error {
	switch {
	case x.closed:
		return errClosed
	case x.err != nil:
		return x.err
	}
	if err := x.spec.check(row, cells); err != nil {
		return err
	}
	// Check the row before any of it is written: a row left out is left
	// out whole.
	rowBad, replaced := false, 0
	for i := range cells {
		v, c := &cells[i], &x.spec.cols[i]
		if v.Kind != String && v.Kind != JSON {
			continue
		}
		text, n, r, ok := x.cellText(v.Text)
		if !ok {
			x.bad.add(row, c.Header, r)
			rowBad = true
			continue
		}
		if err := checkCellLength(text); err != nil {
			return &CellError{row, c.Header, err}
		}
		replaced += n
		x.texts[i] = text
	}
	if rowBad {
		x.failed = true
	}
	if x.failed {
		return nil
	}
	if x.row >= xlsxMaxRows {
		x.err = fmt.Errorf("write xlsx row %d: a sheet holds at most %d rows", row, xlsxMaxRows)
		return x.err
	}
	x.row++
	x.buf = append(x.buf, `<row r="`...)
	x.buf = strconv.AppendInt(x.buf, int64(x.row), 10)
	x.buf = append(x.buf, `">`...)
	for i := range cells {
		v, c := &cells[i], &x.spec.cols[i]
		switch v.Kind {
		case Null:
		case String, JSON:
			x.appendString(i, 0, x.texts[i])
		case Integer, Decimal:
			if f, ok := excelNumber(v.Num); ok {
				x.appendNumber(i, 0, f)
			} else {
				x.text = c.appendNumber(x.text[:0], v.Num)
				x.appendString(i, 0, string(x.text))
			}
		case Bool:
			x.appendRef(i, 0)
			if v.Bool {
				x.buf = append(x.buf, ` t="b"><v>1</v></c>`...)
			} else {
				x.buf = append(x.buf, ` t="b"><v>0</v></c>`...)
			}
		case Date, Timestamp:
			t := v.Time.UTC()
			if v.Kind == Date {
				t = dayOf(v.Time)
			}
			if serial, ok := excelSerial(t); ok {
				x.appendNumber(i, x.dateStyle(i, v.Kind), serial)
			} else {
				x.text = c.appendText(x.text[:0], v)
				x.appendString(i, 0, string(x.text))
			}
		}
	}
	x.buf = append(x.buf, `</row>`...)
	x.stats.Rows++
	x.stats.Replaced += int64(replaced)
	if len(x.buf) >= xlsxFlushAt {
		return x.flush()
	}
	return nil
}

// flush writes the collected rows to the sheet's entry.
func (x *xlsxWriter) flush() error {
	if _, err := x.sheet.Write(x.buf); err != nil {
		x.err = fmt.Errorf("write xlsx: %w", err)
		return x.err
	}
	x.buf = x.buf[:0]
	return nil
}

// firstUnfitXML is firstUnfit(s, xmlRune), with a fast path for ASCII.
func firstUnfitXML(s string) (int, rune) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			j, r := firstUnfit(s[i:], xmlRune)
			if j < 0 {
				return -1, 0
			}
			return i + j, r
		}
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return i, rune(c)
		}
	}
	return -1, 0
}

// appendRef starts cell i of the current row: its reference and style.
func (x *xlsxWriter) appendRef(i, style int) { x.buf = appendCellStart(x.buf, x.refs[i], x.row, style) }

// appendCellStart starts the cell of column letters ref in row: its
// reference and, unless 0, its style.
func appendCellStart(b []byte, ref string, row, style int) []byte {
	b = append(b, `<c r="`...)
	b = append(b, ref...)
	b = strconv.AppendInt(b, int64(row), 10)
	b = append(b, '"')
	if style != 0 {
		b = append(b, ` s="`...)
		b = strconv.AppendInt(b, int64(style), 10)
		b = append(b, '"')
	}
	return b
}

// appendNumber writes a number cell.
func (x *xlsxWriter) appendNumber(i, style int, f float64) {
	x.appendRef(i, style)
	x.buf = append(x.buf, `><v>`...)
	x.buf = strconv.AppendFloat(x.buf, f, 'f', -1, 64)
	x.buf = append(x.buf, `</v></c>`...)
}

// appendString writes an inline string cell. Its text holds only
// characters XML can hold (cellText saw to that).
func (x *xlsxWriter) appendString(i, style int, text string) {
	x.buf = appendInlineString(x.buf, x.refs[i], x.row, style, text)
}

// appendInlineString writes an inline string cell of column letters ref in
// row; text holds only characters XML can hold.
func appendInlineString(b []byte, ref string, row, style int, text string) []byte {
	b = appendCellStart(b, ref, row, style)
	b = append(b, ` t="inlineStr"><is><t`...)
	if text != "" && (isXMLSpace(text[0]) || isXMLSpace(text[len(text)-1])) {
		b = append(b, ` xml:space="preserve"`...)
	}
	b = append(b, '>')
	b = appendCellText(b, text)
	return append(b, `</t></is></c>`...)
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendCellText appends text escaped for an XML element. Carriage returns
// are written as references, since XML readers turn a literal one into a
// line feed. A "_x" followed by four hex digits and "_" is how OOXML escapes
// a character, so its underscore is itself escaped (_x005F_): the text
// reads back as written.
func appendCellText(b []byte, text string) []byte {
	last := 0
	for i := 0; i < len(text); i++ {
		var esc string
		switch text[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r':
			esc = "&#13;"
		case '_':
			if !ooxmlEscape(text[i:]) {
				continue
			}
			esc = "_x005F_"
		default:
			continue
		}
		b = append(b, text[last:i]...)
		b = append(b, esc...)
		last = i + 1
	}
	return append(b, text[last:]...)
}

// ooxmlEscape reports whether s starts with _xHHHH_.
func ooxmlEscape(s string) bool {
	if len(s) < 7 || s[1] != 'x' || s[6] != '_' {
		return false
	}
	for _, c := range []byte(s[2:6]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// columnLetters returns the letters of the 0-based column i: A, B, … Z, AA…
func columnLetters(i int) string {
	var b []byte
	for i++; i > 0; i = (i - 1) / 26 {
		b = append(b, byte('A'+(i-1)%26))
	}
	slices.Reverse(b)
	return string(b)
}

func (x *xlsxWriter) Close() (Stats, error) {
	if x.closed {
		return x.stats, errClosed
	}
	x.closed = true
	if x.err != nil {
		return x.stats, x.err
	}
	if err := x.bad.result(); err != nil {
		return x.stats, err
	}
	x.buf = append(x.buf, `</sheetData></worksheet>`...)
	if err := x.flush(); err != nil {
		return x.stats, err
	}
	err := writeWorkbook(x.zw, []string{x.spec.sheetName()}, x.stylesXML())
	x.stats.Bytes = x.out.n
	if err != nil {
		return x.stats, err
	}
	return x.stats, nil
}

// stylesXML is the workbook's styles: the default, the bold header, and a
// style for each number format of dates and timestamps in order of first
// use (dateStyle's indexes).
func (x *xlsxWriter) stylesXML() string {
	var b strings.Builder
	b.WriteString(xml.Header + `<styleSheet xmlns="` + xlsxMainNS + `">`)
	if len(x.nums) > 0 {
		fmt.Fprintf(&b, `<numFmts count="%d">`, len(x.nums))
		for i, f := range x.nums {
			fmt.Fprintf(&b, `<numFmt numFmtId="%d" formatCode="%s"/>`, xlsxFirstNumFmt+i, xmlAttr(f))
		}
		b.WriteString(`</numFmts>`)
	}
	b.WriteString(`<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font><font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>`)
	b.WriteString(`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>`)
	b.WriteString(`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>`)
	b.WriteString(`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>`)
	fmt.Fprintf(&b, `<cellXfs count="%d"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>`, 2+len(x.nums))
	for i := range x.nums {
		fmt.Fprintf(&b, `<xf numFmtId="%d" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>`, xlsxFirstNumFmt+i)
	}
	b.WriteString(`</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`)
	return b.String()
}

// xmlAttr escapes s for an XML attribute value.
func xmlAttr(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

const (
	xlsxMainNS   = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
	xlsxRelNS    = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	xlsxPkgRelNS = "http://schemas.openxmlformats.org/package/2006/relationships"
)

// xlsxEntry is the header of a deflated zip entry of the workbook, dated
// 1 January 1980 (zip's first day) so that the same rows give the same bytes.
func xlsxEntry(name string) *zip.FileHeader {
	return &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// checkCellLength refuses text longer than the 32,767 UTF-16 code units an
// Excel cell holds; excelize would cut it silently.
func checkCellLength(s string) error {
	if len(s) <= xlsxMaxCellChars {
		return nil
	}
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	if n > xlsxMaxCellChars {
		return fmt.Errorf("text of %d characters is longer than the %d an XLSX cell holds", n, xlsxMaxCellChars)
	}
	return nil
}

// excelNumber returns the canonical decimal num as the double an Excel cell
// holds, or false when the double would not be num: more than 15
// significant digits (Excel keeps and shows 15), or a magnitude outside
// Excel's range.
func excelNumber(num string) (float64, bool) {
	first, last, n := -1, -1, 0
	for i := 0; i < len(num); i++ {
		c := num[i]
		if c < '0' || c > '9' {
			continue
		}
		if c != '0' {
			if first < 0 {
				first = n
			}
			last = n
		}
		n++
	}
	if first >= 0 && last-first+1 > maxSignificantDigits {
		return 0, false
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false
	}
	if f == 0 {
		return 0, true
	}
	if a := math.Abs(f); a < excelMinNumber || a > excelMaxNumber {
		return 0, false
	}
	return f, true
}

// excelSerial returns t (UTC) as an Excel date serial in the 1900 date
// system, or false when Excel cannot show it as a date: before 1900, or
// after 9999 once rounded to the double, which holds the time of day to
// about a microsecond (to 40 µs in 9999).
func excelSerial(t time.Time) (float64, bool) {
	if t.Before(excelFirstDay) || !t.Before(excelAfterLast) {
		return 0, false
	}
	secs := t.Unix() - excelEpoch.Unix()
	days := secs / 86400
	if t.Before(excelLeapBug) {
		days--
	}
	nanos := (secs%86400)*1e9 + int64(t.Nanosecond())
	serial := float64(days) + float64(nanos)/(86400*1e9)
	return serial, serial < excelAfterLastSerial
}

// excelTokens maps the tokens of values.DateLayout to Excel format codes.
var excelTokens = map[string]string{
	"YYYY": "yyyy", "YY": "yy",
	"MMMM": "mmmm", "MMM": "mmm", "MM": "mm", "M": "m",
	"DD": "dd", "D": "d",
	"HH": "hh", "H": "h", "hh": "hh", "h": "h",
	"mm": "mm", "ss": "ss",
	"A": "AM/PM",
	// Cells hold UTC times, and Format writes UTC as Z.
	"Z": `\Z`,
}

// excelDateFormat converts a date format to an Excel number format, or
// returns the default for nil and ISO. It reads the pattern with the
// grammar of values.ParseLayout. Excel shows at most milliseconds, so SSS
// becomes .000 after "ss."; elsewhere Excel cannot show it and it is left
// out.
func excelDateFormat(l *values.DateLayout, timestamp bool) string {
	def := defaultDateFormat
	if timestamp {
		def = defaultTimestampFormat
	}
	if l == nil || l.IsISO() {
		return def
	}
	p := l.String()
	var b strings.Builder
	literal := func(s string) {
		for _, r := range s {
			if strings.ContainsRune("-/:., ", r) {
				b.WriteRune(r)
				continue
			}
			b.WriteByte('\\')
			b.WriteRune(r)
		}
	}
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\'':
			end, text := quotedLiteral(p, i)
			literal(text)
			i = end
		case c == 'T':
			literal("T")
			i++
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			n := 1
			for i+n < len(p) && p[i+n] == c {
				n++
			}
			run := p[i : i+n]
			i += n
			if run == "SSS" {
				if strings.HasSuffix(b.String(), "ss.") {
					b.WriteString("000")
				}
				continue
			}
			code, ok := excelTokens[run]
			if !ok {
				return def
			}
			b.WriteString(code)
		default:
			_, size := utf8.DecodeRuneInString(p[i:])
			literal(p[i : i+size])
			i += size
		}
	}
	return b.String()
}

// quotedLiteral reads the quoted literal at p[start] (a quote) as
// values.ParseLayout does: two quotes in a row stand for one.
func quotedLiteral(p string, start int) (end int, text string) {
	if strings.HasPrefix(p[start:], "''") {
		return start + 2, "'"
	}
	var b strings.Builder
	for i := start + 1; i < len(p); i++ {
		if p[i] != '\'' {
			b.WriteByte(p[i])
			continue
		}
		if i+1 < len(p) && p[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		return i + 1, b.String()
	}
	return len(p), b.String()
}

// describeRune names a character for an error message.
func describeRune(r rune) string {
	if r == utf8.RuneError {
		return "invalid UTF-8"
	}
	return fmt.Sprintf("%q (U+%04X)", string(r), r)
}
