package outfile

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ferrydata/ferry/libs/formats/textenc"
	"github.com/ferrydata/ferry/libs/values"
)

// ValueKind is a cell's type.
type ValueKind int

// The kinds of value a cell holds.
const (
	Null ValueKind = iota
	String
	Integer
	Decimal
	Bool
	Date
	Timestamp
	JSON
)

var kindNames = [...]string{"null", "string", "integer", "decimal", "bool", "date", "timestamp", "json"}

// String returns the kind's name, e.g. "decimal".
func (k ValueKind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("ValueKind(%d)", int(k))
	}
	return kindNames[k]
}

// Value is one typed cell. Text holds String and JSON values, Num the
// canonical decimal text of Integer/Decimal ("-12", "1234.50"), Time Date
// (UTC midnight) and Timestamp values.
type Value struct {
	Kind ValueKind
	Text string
	Num  string
	Bool bool
	Time time.Time
}

// Column describes a column of the file.
type Column struct {
	Header string
	// Kind is the column's declared kind (a Null cell is empty). A cell of
	// another kind is written as its own kind.
	Kind ValueKind
	// DateFormat writes Date and Timestamp cells; nil or the ISO layout
	// means YYYY-MM-DD for dates and RFC 3339 in UTC for timestamps.
	DateFormat *values.DateLayout
	// DecimalSeparator replaces '.' in CSV numbers; 0 means '.'.
	DecimalSeparator rune
	// TrueWord and FalseWord write CSV booleans; "" means "true"/"false".
	TrueWord, FalseWord string
}

// Format is a file format.
type Format int

// The file formats.
const (
	CSV Format = iota + 1
	XLSX
	JSONL
)

// String returns the format's name.
func (f Format) String() string {
	switch f {
	case CSV:
		return "csv"
	case XLSX:
		return "xlsx"
	case JSONL:
		return "jsonl"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Options say how a file is written.
type Options struct {
	Format Format
	// Delimiter separates CSV fields; ',' when 0. It must be an ASCII
	// character other than '"', CR and LF.
	Delimiter byte
	// QuoteAll quotes every CSV field except Null cells.
	QuoteAll bool
	// LF ends CSV lines with \n instead of \r\n.
	LF bool
	// Encoding is the CSV text encoding, a name textenc.Lookup knows; ""
	// means UTF-8. XLSX and JSONL are always UTF-8.
	Encoding string
	// BOM starts a UTF-8 or UTF-16 CSV file with a byte-order mark; it is an
	// error for other encodings and formats.
	BOM bool
	// NoHeader marks a part after the first: a large export is formatted in
	// parts that are concatenated, and only the first part carries the BOM
	// and the header row, so NoHeader leaves out both.
	NoHeader bool
	// AllowFormulas turns off the spreadsheet guard. With the guard (CSV and
	// XLSX), a String or JSON cell whose text starts with = + - @ TAB CR or
	// NUL gets a leading apostrophe so that a spreadsheet shows it as text
	// instead of running it as a formula. Headers are guarded too; numbers,
	// dates and booleans never are.
	AllowFormulas bool
	// ReplaceUnencodable replaces a character that the output cannot hold
	// with '?' (U+FFFD for UTF-8 and UTF-16, which can hold every character
	// but not invalid UTF-8) and counts it in Stats.Replaced. When false,
	// such a character is an error: the row is not written, the writer
	// keeps checking the rows that follow, and Close returns an
	// *UnencodableError that lists them.
	ReplaceUnencodable bool
	// SheetName names the XLSX sheet; "Sheet1" when empty.
	SheetName string
}

// Stats count what a Writer wrote.
type Stats struct {
	// Rows is the number of data rows written (not the header).
	Rows int64
	// Bytes is the number of bytes written to the output.
	Bytes int64
	// Replaced is the number of characters replaced because the output
	// cannot hold them (Options.ReplaceUnencodable).
	Replaced int64
}

// Writer writes rows to an output. It is not safe for concurrent use.
type Writer interface {
	// WriteRow writes one row; row numbers it for error messages (1-based
	// data row). An error about a cell (wrong kind, a number that is not
	// canonical, a text too long for a spreadsheet cell) leaves the row out,
	// and the writer can go on; an error of the output is final.
	WriteRow(row int64, cells []Value) error
	// Close flushes the output (XLSX writes the whole workbook now) and
	// releases temporary files. It must be called, also after an error.
	Close() (Stats, error)
}

// maxListedRows bounds the rows an UnencodableError lists.
const maxListedRows = 100

// UnencodableError lists rows with characters the encoding cannot hold
// (first 100 rows, and the total count).
type UnencodableError struct {
	// Encoding is the output encoding, or "xlsx" for characters that an
	// XLSX cell cannot hold (control characters, invalid UTF-8).
	Encoding string
	// Rows are the first rows with such characters, in order.
	Rows []int64
	// Columns are the headers of the columns those characters were in, in
	// the order they were met.
	Columns []string
	// Count is the number of rows with such characters.
	Count int64
	// Example is the first character that could not be written;
	// utf8.RuneError stands for invalid UTF-8.
	Example rune
}

// Error names the example character, the rows and the columns.
func (e *UnencodableError) Error() string {
	var b strings.Builder
	holder := "an XLSX cell"
	if e.Encoding != xlsxEncoding {
		holder = "the encoding " + e.Encoding
	}
	verb := "rows have"
	if e.Count == 1 {
		verb = "row has"
	}
	fmt.Fprintf(&b, "%d %s characters that %s cannot hold, such as %s; rows ", e.Count, verb, holder, describeRune(e.Example))
	for i, r := range e.Rows {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, r)
	}
	if int64(len(e.Rows)) < e.Count {
		fmt.Fprintf(&b, " and %d more", e.Count-int64(len(e.Rows)))
	}
	b.WriteString(" in columns ")
	for i, c := range e.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", c)
	}
	switch e.Encoding {
	case xlsxEncoding, "utf-8", "utf-16le", "utf-16be":
	default:
		b.WriteString("; choose an encoding such as utf-8, or allow replacing them")
	}
	return b.String()
}

// Add appends the rows of o, a part of the same file whose rows are
// numbered from base, to e: counts add up, and rows and columns stay within
// the listed bounds.
func (e *UnencodableError) Add(o *UnencodableError, base int64) {
	if e.Count == 0 {
		e.Encoding, e.Example = o.Encoding, o.Example
	}
	e.Count += o.Count
	for _, r := range o.Rows {
		if len(e.Rows) < maxListedRows {
			e.Rows = append(e.Rows, base+r)
		}
	}
	for _, c := range o.Columns {
		if len(e.Columns) < maxListedRows && !slices.Contains(e.Columns, c) {
			e.Columns = append(e.Columns, c)
		}
	}
}

// unencodable collects the rows with characters the output cannot hold.
type unencodable struct {
	err     UnencodableError
	lastRow int64
	seenCol map[string]bool
}

// add records that column col of row holds r, which cannot be written.
func (u *unencodable) add(row int64, col string, r rune) {
	if u.err.Count == 0 {
		u.err.Example = r
		u.seenCol = map[string]bool{}
	}
	if u.err.Count == 0 || row != u.lastRow {
		u.err.Count++
		u.lastRow = row
		if len(u.err.Rows) < maxListedRows {
			u.err.Rows = append(u.err.Rows, row)
		}
	}
	if !u.seenCol[col] && len(u.err.Columns) < maxListedRows {
		u.seenCol[col] = true
		u.err.Columns = append(u.err.Columns, col)
	}
}

// result returns the error, or nil if every row could be written.
func (u *unencodable) result() error {
	if u.err.Count == 0 {
		return nil
	}
	e := u.err
	return &e
}

// CellError is an error about one cell: it names the row, the column, the
// value and what was expected.
type CellError struct {
	Row    int64
	Column string
	Err    error
}

// Error names the row and the column.
func (e *CellError) Error() string {
	return fmt.Sprintf("row %d, column %q: %v", e.Row, e.Column, e.Err)
}

// Unwrap returns the cause.
func (e *CellError) Unwrap() error { return e.Err }

// errClosed is returned by a Writer used after Close.
var errClosed = errors.New("write row: the writer is closed")

// New returns a Writer that writes the columns' rows to w in the format of
// o. It checks the options and columns; the CSV header and byte-order mark
// go out with the first flush.
func New(w io.Writer, cols []Column, o Options) (Writer, error) {
	spec, err := newSpec(cols, o)
	if err != nil {
		return nil, err
	}
	// Each case returns its own error so that a failed New returns a nil
	// Writer, not a Writer holding a nil pointer.
	switch o.Format {
	case CSV:
		c, err := newCSV(w, spec)
		if err != nil {
			return nil, err
		}
		return c, nil
	case XLSX:
		x, err := newXLSX(w, spec)
		if err != nil {
			return nil, err
		}
		return x, nil
	default:
		j, err := newJSONL(w, spec)
		if err != nil {
			return nil, err
		}
		return j, nil
	}
}

// spec is what every format needs from the columns and options.
type spec struct {
	cols []column
	o    Options
	enc  *textEncoder
}

// column is a Column with its defaults filled in.
type column struct {
	Column
	dateISO   bool // dates and timestamps are ISO 8601 / RFC 3339
	trueWord  string
	falseWord string
}

func newSpec(cols []Column, o Options) (*spec, error) {
	if o.Format < CSV || o.Format > JSONL {
		return nil, fmt.Errorf("output format %d is not csv, xlsx or jsonl", int(o.Format))
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("write %s: no columns", o.Format)
	}
	enc, err := textenc.Lookup(o.Encoding)
	if err != nil {
		return nil, err
	}
	if o.Format != CSV && enc != textenc.UTF8 {
		return nil, fmt.Errorf("write %s: encoding %s is not possible, %s files are always utf-8", o.Format, enc, o.Format)
	}
	if o.BOM {
		switch {
		case o.Format != CSV:
			return nil, fmt.Errorf("write %s: %s files have no byte-order mark", o.Format, o.Format)
		case enc != textenc.UTF8 && enc != textenc.UTF16LE && enc != textenc.UTF16BE:
			return nil, fmt.Errorf("write csv: encoding %s has no byte-order mark, only utf-8 and utf-16 do", enc)
		}
	}
	if o.Format == CSV {
		if o.Delimiter == 0 {
			o.Delimiter = ','
		}
		if d := o.Delimiter; d == '"' || d == '\r' || d == '\n' || d >= utf8.RuneSelf {
			return nil, fmt.Errorf("write csv: delimiter %q is not possible: use an ASCII character other than a quote, CR or LF", d)
		}
	}
	s := &spec{o: o, enc: newTextEncoder(enc, o.ReplaceUnencodable)}
	seen := map[string]int{}
	for i, c := range cols {
		if c.Kind < Null || c.Kind > JSON {
			return nil, fmt.Errorf("column %d (%q): kind %d is not a value kind", i+1, c.Header, int(c.Kind))
		}
		if j, dup := seen[c.Header]; dup && o.Format == JSONL {
			return nil, fmt.Errorf("columns %d and %d are both named %q, which JSON objects cannot hold", j+1, i+1, c.Header)
		}
		seen[c.Header] = i
		if err := (values.NumberFormat{Decimal: c.DecimalSeparator}).Validate(); err != nil || !utf8.ValidRune(c.DecimalSeparator) && c.DecimalSeparator != 0 {
			return nil, fmt.Errorf("column %q: decimal separator %q is not possible", c.Header, string(c.DecimalSeparator))
		}
		cc := column{Column: c, trueWord: c.TrueWord, falseWord: c.FalseWord}
		if cc.DecimalSeparator == 0 {
			cc.DecimalSeparator = '.'
		}
		if cc.trueWord == "" {
			cc.trueWord = "true"
		}
		if cc.falseWord == "" {
			cc.falseWord = "false"
		}
		if cc.trueWord == cc.falseWord {
			return nil, fmt.Errorf("column %q: true and false are both written as %q", c.Header, cc.trueWord)
		}
		cc.dateISO = c.DateFormat == nil || c.DateFormat.IsISO()
		s.cols = append(s.cols, cc)
	}
	return s, nil
}

// check returns an error if cells do not fit the columns. A cell of
// another kind than its column's is fine: it is written as its own kind.
func (s *spec) check(row int64, cells []Value) error {
	if len(cells) != len(s.cols) {
		return fmt.Errorf("row %d has %d cells, the file has %d columns", row, len(cells), len(s.cols))
	}
	for i := range cells {
		v := &cells[i]
		switch {
		case v.Kind < Null || v.Kind > JSON:
			return &CellError{row, s.cols[i].Header, fmt.Errorf("kind %d is not a value kind", int(v.Kind))}
		case isNumber(v.Kind) && !canonicalNumber(v.Num):
			return &CellError{row, s.cols[i].Header, fmt.Errorf("%q is not a canonical decimal number like -12 or 1234.50", v.Num)}
		}
	}
	return nil
}

func isNumber(k ValueKind) bool { return k == Integer || k == Decimal }

// canonicalNumber reports whether s is a decimal as values.ParseNumber
// writes it and as JSON allows it: -?(0|[1-9][0-9]*)(\.[0-9]+)?.
func canonicalNumber(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	n := leadingDigits(s)
	if n == 0 || n > 1 && s[0] == '0' {
		return false
	}
	s = s[n:]
	if s == "" {
		return true
	}
	return s[0] == '.' && len(s) > 1 && leadingDigits(s[1:]) == len(s)-1
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// needsGuard reports whether a spreadsheet could run text as a formula.
func needsGuard(text string) bool {
	if text == "" {
		return false
	}
	switch text[0] {
	case '=', '+', '-', '@', '\t', '\r', 0:
		return true
	}
	return false
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
