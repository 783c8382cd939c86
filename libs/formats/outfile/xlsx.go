package outfile

import (
	"archive/zip"
	"compress/flate"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

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

// xlsxWriter streams rows into one sheet through excelize's StreamWriter,
// which spools the sheet to a temporary file; Close zips the workbook
// straight into the output.
type xlsxWriter struct {
	spec   *spec
	out    *countingWriter
	f      *excelize.File
	sw     *excelize.StreamWriter
	styles []map[ValueKind]int // the number format styles of each column
	sheet  int                 // the last sheet row written
	vals   []any
	text   []byte

	stats  Stats
	bad    unencodable
	failed bool
	err    error
	closed bool
}

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

// fastDeflate compresses a zip entry at deflate's best speed.
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
	if len(s.cols) > excelize.MaxColumns {
		return nil, fmt.Errorf("write xlsx: %d columns, a sheet holds at most %d", len(s.cols), excelize.MaxColumns)
	}
	x := &xlsxWriter{spec: s, out: &countingWriter{w: w}, f: excelize.NewFile(), vals: make([]any, len(s.cols))}
	x.bad.err.Encoding = xlsxEncoding
	// WriteTo builds the whole zip in memory; a zip writer on the output
	// streams it instead, leaving excelize's buffer empty. Deflate at its
	// fastest: the sheet's XML compresses well at any level, and the default
	// level costs several times the CPU of writing the rows.
	x.f.SetZipWriter(func(io.Writer) excelize.ZipWriter {
		zw := zip.NewWriter(x.out)
		zw.RegisterCompressor(zip.Deflate, fastDeflate)
		return zw
	})
	if err := x.start(); err != nil {
		_ = x.f.Close()
		return nil, err
	}
	return x, nil
}

// start names the sheet, makes the styles and writes the header row.
func (x *xlsxWriter) start() error {
	sheet := x.spec.o.SheetName
	if sheet == "" {
		sheet = "Sheet1"
	}
	if err := x.f.SetSheetName(x.f.GetSheetName(0), sheet); err != nil {
		return fmt.Errorf("write xlsx: sheet name %q: %w", sheet, err)
	}
	x.styles = make([]map[ValueKind]int, len(x.spec.cols))
	for i := range x.spec.cols {
		if k := x.spec.cols[i].Kind; k == Date || k == Timestamp {
			if _, err := x.dateStyle(i, k); err != nil {
				return err
			}
		}
	}
	var err error
	if x.sw, err = x.f.NewStreamWriter(sheet); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	if x.spec.o.NoHeader {
		return nil
	}
	bold, err := x.f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
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
		x.vals[i] = excelize.Cell{StyleID: bold, Value: text}
	}
	return x.setRow()
}

// dateStyle returns the style with the number format of column i for
// dates or timestamps, making it on first use.
func (x *xlsxWriter) dateStyle(i int, kind ValueKind) (int, error) {
	if id, ok := x.styles[i][kind]; ok {
		return id, nil
	}
	c := &x.spec.cols[i]
	numFmt := excelDateFormat(c.DateFormat, kind == Timestamp)
	id, err := x.f.NewStyle(&excelize.Style{CustomNumFmt: &numFmt})
	if err != nil {
		return 0, fmt.Errorf("write xlsx: number format %q of column %q: %w", numFmt, c.Header, err)
	}
	if x.styles[i] == nil {
		x.styles[i] = map[ValueKind]int{}
	}
	x.styles[i][kind] = id
	return id, nil
}

// cellText guards s and replaces or reports what a cell cannot hold.
func (x *xlsxWriter) cellText(s string) (text string, replaced int, bad rune, ok bool) {
	if !x.spec.o.AllowFormulas && needsGuard(s) {
		s = "'" + s
	}
	i, r := firstUnfit(s, xmlRune)
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
	rowBad, replaced := false, 0
	for i := range cells {
		v, c := &cells[i], &x.spec.cols[i]
		switch v.Kind {
		case Null:
			x.vals[i] = nil
		case String, JSON:
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
			x.vals[i] = text
		case Integer, Decimal:
			if f, ok := excelNumber(v.Num); ok {
				x.vals[i] = f
			} else {
				x.text = c.appendNumber(x.text[:0], v.Num)
				x.vals[i] = string(x.text)
			}
		case Bool:
			x.vals[i] = v.Bool
		case Date, Timestamp:
			t := v.Time.UTC()
			if v.Kind == Date {
				t = dayOf(v.Time)
			}
			if serial, ok := excelSerial(t); ok {
				style, err := x.dateStyle(i, v.Kind)
				if err != nil {
					x.err = err
					return err
				}
				x.vals[i] = excelize.Cell{StyleID: style, Value: serial}
			} else {
				x.text = c.appendText(x.text[:0], v)
				x.vals[i] = string(x.text)
			}
		}
	}
	if rowBad {
		x.failed = true
	}
	if x.failed {
		return nil
	}
	if err := x.setRow(); err != nil {
		x.err = fmt.Errorf("write xlsx row %d: %w", row, err)
		return x.err
	}
	x.stats.Rows++
	x.stats.Replaced += int64(replaced)
	return nil
}

// setRow writes x.vals as the next sheet row.
func (x *xlsxWriter) setRow() error {
	if x.sheet >= excelize.TotalRows {
		return fmt.Errorf("a sheet holds at most %d rows", excelize.TotalRows)
	}
	x.sheet++
	return x.sw.SetRow("A"+strconv.Itoa(x.sheet), x.vals)
}

func (x *xlsxWriter) Close() (Stats, error) {
	if x.closed {
		return x.stats, errClosed
	}
	x.closed = true
	defer x.f.Close()
	if x.err != nil {
		return x.stats, x.err
	}
	if err := x.bad.result(); err != nil {
		return x.stats, err
	}
	if err := x.sw.Flush(); err != nil {
		return x.stats, fmt.Errorf("write xlsx: %w", err)
	}
	_, err := x.f.WriteTo(x.out)
	x.stats.Bytes = x.out.n
	if err != nil {
		return x.stats, fmt.Errorf("write xlsx: %w", err)
	}
	return x.stats, nil
}

// checkCellLength refuses text longer than the 32,767 UTF-16 code units an
// Excel cell holds; excelize would cut it silently.
func checkCellLength(s string) error {
	if len(s) <= excelize.TotalCellChars {
		return nil
	}
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	if n > excelize.TotalCellChars {
		return fmt.Errorf("text of %d characters is longer than the %d an XLSX cell holds", n, excelize.TotalCellChars)
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
