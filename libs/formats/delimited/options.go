package delimited

import (
	"errors"
	"fmt"
)

const (
	// DefaultTargetChunkSize is the chunk size used when Options.TargetChunkSize is 0.
	DefaultTargetChunkSize = 256 << 10
	// DefaultMaxRecordSize is the record size limit used when Options.MaxRecordSize is 0.
	DefaultMaxRecordSize = 1 << 20
	// DefaultMaxFieldSize is the field size limit used when Options.MaxFieldSize
	// is 0, or the record size limit if that is smaller.
	DefaultMaxFieldSize = 1 << 20
	// DefaultMaxColumns is the column limit used when Options.MaxColumns is 0.
	DefaultMaxColumns = 10000
)

// Escape says how a quote character is written inside a quoted field.
type Escape uint8

const (
	// EscapeDoubled writes a quote inside a quoted field as two quotes, as in
	// RFC 4180: "say ""hi""".
	EscapeDoubled Escape = iota
	// EscapeBackslash writes a quote inside a quoted field as \" and a
	// backslash as \\, as MySQL exports do. Inside quotes, a backslash
	// followed by any other byte stands for both bytes (\n stays a backslash
	// and an n, \N stays \N) and the byte after a backslash never closes the
	// field or ends the record. A doubled quote is still read as one quote.
	// Outside quotes a backslash is an ordinary byte.
	EscapeBackslash
)

// String returns "doubled" or "backslash".
func (e Escape) String() string {
	switch e {
	case EscapeDoubled:
		return "doubled"
	case EscapeBackslash:
		return "backslash"
	}
	return fmt.Sprintf("Escape(%d)", uint8(e))
}

// Options describe the CSV dialect and the limits that keep memory bounded.
// The Reader uses the dialect fields and the field and column limits; only
// the Splitter uses HeaderRow, NoHeader, TargetChunkSize and MaxRecordSize.
type Options struct {
	// Delimiter separates fields; ',' when 0.
	Delimiter byte
	// Quote starts and ends a quoted field; '"' when 0.
	Quote byte
	// Escape says how a quote is written inside a quoted field; doubled when 0.
	Escape Escape
	// Comment, when not 0, makes a record whose first byte it is a comment:
	// the record ends at the first line terminator, quotes or not, counts as
	// a row and yields no data, like a blank record. Comments may also come
	// before the header.
	Comment byte
	// TrailingDelimiter says that every record ends with a delimiter: the
	// empty last field that this makes is dropped. Only a record whose last
	// byte is the delimiter loses a field, so a record written without the
	// trailing delimiter keeps its last field, and one whose last value is
	// empty is then one field short. A quoted empty last field ("") is data
	// and is kept.
	TrailingDelimiter bool
	// HeaderRow is the 1-based row of the header; 1 when 0. The records
	// before it are skipped, whatever they hold, and counted as rows; as
	// everywhere, a row is a record, so a line break inside quotes does not
	// start one. Comment records at or after it are skipped too; the header
	// is the first other record. With NoHeader it is the row where the data
	// starts: the records before it are skipped the same way.
	HeaderRow int
	// NoHeader says the file has no header: Splitter.Header returns the
	// names "1", "2", … "N", N being the field count of the first data
	// record, which stays the first data row.
	NoHeader bool
	// TargetChunkSize is the chunk size in bytes: a chunk is closed at the
	// first record boundary at or after this size. 256 KiB when 0.
	TargetChunkSize int
	// MaxRecordSize is the largest record, in bytes without its line
	// terminator, that the Splitter accepts. 1 MiB when 0.
	MaxRecordSize int
	// MaxFieldSize is the largest field value, in bytes after quotes and
	// escapes are removed, that the Reader accepts. 1 MiB when 0, or
	// MaxRecordSize if that is smaller; it must not exceed MaxRecordSize.
	MaxFieldSize int
	// MaxColumns is the largest number of fields in a record, the header
	// included. 10000 when 0.
	MaxColumns int
}

// Validate reports whether the options describe a usable dialect.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if o.Delimiter == '\n' || o.Delimiter == '\r' {
		errs = append(errs, fmt.Errorf("delimiter %q: a line terminator cannot separate fields", o.Delimiter))
	}
	if o.Quote == '\n' || o.Quote == '\r' {
		errs = append(errs, fmt.Errorf("quote %q: a line terminator cannot quote fields", o.Quote))
	}
	if o.Delimiter == o.Quote {
		errs = append(errs, fmt.Errorf("delimiter and quote are both %q", o.Delimiter))
	}
	switch o.Escape {
	case EscapeDoubled:
	case EscapeBackslash:
		if o.Quote == '\\' {
			errs = append(errs, errors.New(`quote '\\': the backslash is the escape character`))
		}
		if o.Delimiter == '\\' {
			errs = append(errs, errors.New(`delimiter '\\': the backslash is the escape character`))
		}
	default:
		errs = append(errs, fmt.Errorf("escape %d: must be EscapeDoubled or EscapeBackslash", o.Escape))
	}
	switch o.Comment {
	case 0:
	case '\n', '\r':
		errs = append(errs, fmt.Errorf("comment %q: a line terminator cannot start a comment", o.Comment))
	case o.Delimiter:
		errs = append(errs, fmt.Errorf("comment and delimiter are both %q", o.Comment))
	case o.Quote:
		errs = append(errs, fmt.Errorf("comment and quote are both %q", o.Comment))
	}
	if o.HeaderRow < 0 {
		errs = append(errs, fmt.Errorf("header row %d: must not be negative", o.HeaderRow))
	}
	if o.TargetChunkSize < 0 {
		errs = append(errs, fmt.Errorf("target chunk size %d: must not be negative", o.TargetChunkSize))
	}
	if o.MaxRecordSize < 0 {
		errs = append(errs, fmt.Errorf("max record size %d: must not be negative", o.MaxRecordSize))
	}
	if o.MaxFieldSize < 0 {
		errs = append(errs, fmt.Errorf("max field size %d: must not be negative", o.MaxFieldSize))
	}
	if o.MaxRecordSize > 0 && o.MaxFieldSize > o.MaxRecordSize {
		errs = append(errs, fmt.Errorf("max field size %d: must not exceed the max record size %d", o.MaxFieldSize, o.MaxRecordSize))
	}
	if o.MaxColumns < 0 {
		errs = append(errs, fmt.Errorf("max columns %d: must not be negative", o.MaxColumns))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delimited options: %w", err)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Delimiter == 0 {
		o.Delimiter = ','
	}
	if o.Quote == 0 {
		o.Quote = '"'
	}
	if o.HeaderRow == 0 {
		o.HeaderRow = 1
	}
	if o.TargetChunkSize == 0 {
		o.TargetChunkSize = DefaultTargetChunkSize
	}
	if o.MaxRecordSize == 0 {
		o.MaxRecordSize = DefaultMaxRecordSize
	}
	if o.MaxFieldSize == 0 {
		o.MaxFieldSize = DefaultMaxFieldSize
		if o.MaxRecordSize > 0 && o.MaxRecordSize < o.MaxFieldSize {
			o.MaxFieldSize = o.MaxRecordSize
		}
	}
	if o.MaxColumns == 0 {
		o.MaxColumns = DefaultMaxColumns
	}
	return o
}

// escapeByte returns the escape character the scanner must honour inside
// quotes, 0 for none.
func (o Options) escapeByte() byte {
	if o.Escape == EscapeBackslash {
		return '\\'
	}
	return 0
}
