package delimited

import (
	"bytes"
	"io"
	"strings"
)

// slabSize is how many fields the Reader allocates at once.
const slabSize = 256

// Reader parses the records of one chunk, or of any run of whole records.
// It ignores Options.HeaderRow and Options.NoHeader: every record it is given
// is data.
type Reader struct {
	sc       scanner
	pos      int
	row      int64 // row number of the record at pos
	delim    byte
	trailing bool
	maxField int
	maxCols  int
	slab     []string // room for the fields of the next records
	err      error
	buf      []byte // unquoted bytes of the record being parsed
	ends     []int  // end of each field in buf
}

// NewReader returns a Reader over data, whose first record has the row
// number firstRow. The Reader does not modify data and the fields it returns
// do not share memory with it: the fields of one record are substrings of
// one string, so keeping any of them keeps that record's text alive.
func NewReader(data []byte, firstRow int64, opts Options) *Reader {
	o := opts.withDefaults()
	return &Reader{
		sc:       newScanner(data, len(data), o),
		row:      firstRow,
		delim:    o.Delimiter,
		trailing: o.TrailingDelimiter,
		maxField: o.MaxFieldSize,
		maxCols:  o.MaxColumns,
		err:      opts.Validate(),
	}
}

// Next returns the row number and the fields of the next record that is
// neither blank nor a comment, or io.EOF after the last one. Fields are
// returned exactly as written, with quotes removed and escaped quotes undone,
// including the line terminators of quoted fields; their count is checked
// against MaxColumns only. On a malformed record, or one over MaxFieldSize or
// MaxColumns, it returns the row number and a *RecordError, and the caller
// may call Next again to continue with the following record. Faults are
// reported in the order the fields are read; the field count is checked
// last, once the trailing delimiter's field is dropped.
func (r *Reader) Next() (row int64, fields []string, err error) {
	if r.err != nil {
		return 0, nil, r.err
	}
	data := r.sc.buf
	for r.pos < len(data) {
		start := r.pos
		st := outside
		if r.sc.comment != 0 {
			st = r.sc.start(start)
		}
		term, _, quoted := r.sc.scan(start, st)
		r.pos = term
		if term < len(data) {
			r.pos++
			if data[term] == '\r' && r.pos < len(data) && data[r.pos] == '\n' {
				r.pos++
			}
		}
		row = r.row
		r.row++
		if term == start || st == inComment {
			continue // a blank or comment record counts as a row but has no data
		}
		if !quoted {
			fields, err = r.split(row, data[start:term])
		} else {
			fields, err = r.parseQuoted(row, data[start:term])
		}
		return row, fields, err
	}
	return 0, nil, io.EOF
}

// parseQuoted parses a record, without its terminator, that contains at
// least one quote character.
func (r *Reader) parseQuoted(row int64, rec []byte) ([]string, error) {
	q, d := r.sc.quote, r.delim
	r.buf, r.ends = r.buf[:0], r.ends[:0]
	pos := 0
	// With backslash escapes, the next quote and escape at or after pos,
	// found once each so that many escapes before a distant quote stay linear.
	nextQuote, nextEsc := -1, -1
	for col := 1; ; col++ {
		if pos < len(rec) && rec[pos] == q {
			value := len(r.buf)
			if r.sc.esc == 0 {
				pos = r.unquote(rec, pos+1)
			} else {
				pos = r.unquoteEscaped(rec, pos+1, &nextQuote, &nextEsc)
			}
			if pos < 0 {
				return nil, &RecordError{Row: row, Column: col, Reason: ReasonQuoteNotClosed}
			}
			if len(r.buf)-value > r.maxField {
				return nil, r.fieldTooLarge(row, col, len(r.buf)-value)
			}
			r.ends = append(r.ends, len(r.buf))
			if pos == len(rec) {
				break
			}
			if rec[pos] != d {
				return nil, &RecordError{Row: row, Column: col, Reason: ReasonAfterQuote}
			}
			pos++
			continue
		}
		field := rec[pos:]
		i := bytes.IndexByte(field, d)
		if i >= 0 {
			field = field[:i]
		}
		if bytes.IndexByte(field, q) >= 0 {
			return nil, &RecordError{Row: row, Column: col, Reason: ReasonBareQuote}
		}
		if len(field) > r.maxField {
			return nil, r.fieldTooLarge(row, col, len(field))
		}
		r.buf = append(r.buf, field...)
		r.ends = append(r.ends, len(r.buf))
		if i < 0 {
			break
		}
		pos += i + 1
	}
	if r.trailing && rec[len(rec)-1] == d {
		// The record ends with a delimiter, not in a quoted field, which
		// would end with a quote: drop the empty field after it.
		r.ends = r.ends[:len(r.ends)-1]
	}
	if len(r.ends) > r.maxCols {
		return nil, r.tooManyFields(row, len(r.ends))
	}
	// One string for the whole record; the fields are slices of it.
	all := string(r.buf)
	fields := r.fields(len(r.ends))
	prev := 0
	for i, end := range r.ends {
		fields[i] = all[prev:end]
		prev = end
	}
	return fields, nil
}

// unquote appends to buf the value of the quoted field that starts at pos,
// after its opening quote, and returns the position after its closing quote,
// or -1 if it has none.
func (r *Reader) unquote(rec []byte, pos int) int {
	q := r.sc.quote
	for {
		i := bytes.IndexByte(rec[pos:], q)
		if i < 0 {
			return -1
		}
		r.buf = append(r.buf, rec[pos:pos+i]...)
		pos += i + 1
		if pos < len(rec) && rec[pos] == q {
			r.buf = append(r.buf, q)
			pos++
			continue
		}
		return pos
	}
}

// unquoteEscaped is unquote with backslash escapes. nextQuote and nextEsc
// are the positions of the next quote and escape found so far in rec, len(rec)
// for none; below pos they are stale.
func (r *Reader) unquoteEscaped(rec []byte, pos int, nextQuote, nextEsc *int) int {
	q, esc := r.sc.quote, r.sc.esc
	for {
		if *nextQuote < pos {
			*nextQuote = indexFrom(rec, pos, q)
		}
		if *nextEsc < pos {
			*nextEsc = indexFrom(rec, pos, esc)
		}
		if e := *nextEsc; e < *nextQuote {
			if e+1 == len(rec) {
				return -1
			}
			r.buf = append(r.buf, rec[pos:e]...)
			if c := rec[e+1]; c != q && c != esc {
				r.buf = append(r.buf, esc)
			}
			r.buf = append(r.buf, rec[e+1])
			pos = e + 2
			continue
		}
		if *nextQuote == len(rec) {
			return -1
		}
		r.buf = append(r.buf, rec[pos:*nextQuote]...)
		pos = *nextQuote + 1
		if pos < len(rec) && rec[pos] == q {
			r.buf = append(r.buf, q)
			pos++
			continue
		}
		return pos
	}
}

// split splits a record without quotes at its delimiters.
func (r *Reader) split(row int64, rec []byte) ([]string, error) {
	if r.trailing && rec[len(rec)-1] == r.delim {
		rec = rec[:len(rec)-1]
	}
	if len(rec) > r.maxField {
		// Only a record longer than the limit can hold a field that is.
		for col, rest := 1, rec; ; col++ {
			i := bytes.IndexByte(rest, r.delim)
			if i < 0 {
				if len(rest) > r.maxField {
					return nil, r.fieldTooLarge(row, col, len(rest))
				}
				break
			}
			if i > r.maxField {
				return nil, r.fieldTooLarge(row, col, i)
			}
			rest = rest[i+1:]
		}
	}
	n := bytes.Count(rec, []byte{r.delim}) + 1
	if n > r.maxCols {
		return nil, r.tooManyFields(row, n)
	}
	fields := r.fields(n)
	all := string(rec)
	for i := range len(fields) - 1 {
		j := strings.IndexByte(all, r.delim)
		fields[i] = all[:j]
		all = all[j+1:]
	}
	fields[len(fields)-1] = all
	return fields, nil
}

func (r *Reader) fieldTooLarge(row int64, col, size int) error {
	return (&LimitError{What: LimitField, Row: row, Column: col, Limit: r.maxField, Got: size}).recordError()
}

func (r *Reader) tooManyFields(row int64, n int) error {
	return (&LimitError{What: LimitColumns, Row: row, Limit: r.maxCols, Got: n}).recordError()
}

// fields returns a slice for n fields. The slices of many records share one
// allocation; each is capped, so appending to one never touches another.
func (r *Reader) fields(n int) []string {
	if len(r.slab) < n {
		r.slab = make([]string, max(n, slabSize))
	}
	f := r.slab[:n:n]
	r.slab = r.slab[n:]
	return f
}

// indexFrom returns the position of the first c in b at or after from, or
// len(b) if there is none.
func indexFrom(b []byte, from int, c byte) int {
	if i := bytes.IndexByte(b[from:], c); i >= 0 {
		return from + i
	}
	return len(b)
}
