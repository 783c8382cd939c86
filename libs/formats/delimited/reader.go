package delimited

import (
	"bytes"
	"io"
	"strings"
)

// slabSize is how many fields the Reader allocates at once.
const slabSize = 256

// Reader parses the records of one chunk, or of any run of whole records.
type Reader struct {
	sc    scanner
	pos   int
	row   int64 // row number of the record at pos
	delim byte
	slab  []string // room for the fields of the next records
	err   error
	buf   []byte // unquoted bytes of the record being parsed
	ends  []int  // end of each field in buf
}

// NewReader returns a Reader over data, whose first record has the row
// number firstRow. The Reader does not modify data and the fields it returns
// do not share memory with it: the fields of one record are substrings of
// one string, so keeping any of them keeps that record's text alive.
func NewReader(data []byte, firstRow int64, opts Options) *Reader {
	o := opts.withDefaults()
	return &Reader{
		sc:    newScanner(data, len(data), o.Quote),
		row:   firstRow,
		delim: o.Delimiter,
		err:   opts.Validate(),
	}
}

// Next returns the row number and the fields of the next non-blank record,
// or io.EOF after the last one. Fields are returned exactly as written, with
// quotes removed and doubled quotes undone, including the line terminators of
// quoted fields; their count is not checked. On a malformed record it returns
// the row number and a *RecordError, and the caller may call Next again to
// continue with the following record.
func (r *Reader) Next() (row int64, fields []string, err error) {
	if r.err != nil {
		return 0, nil, r.err
	}
	data := r.sc.buf
	for r.pos < len(data) {
		start := r.pos
		term, _, quoted := r.sc.scan(start, false)
		r.pos = term
		if term < len(data) {
			r.pos++
			if data[term] == '\r' && r.pos < len(data) && data[r.pos] == '\n' {
				r.pos++
			}
		}
		row = r.row
		r.row++
		if term == start {
			continue // a blank record counts as a row but has no data
		}
		if !quoted {
			return row, r.split(data[start:term]), nil
		}
		fields, err = r.parseQuoted(row, data[start:term])
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
	for col := 1; ; col++ {
		if pos < len(rec) && rec[pos] == q {
			pos++
			for {
				i := bytes.IndexByte(rec[pos:], q)
				if i < 0 {
					return nil, &RecordError{Row: row, Column: col, Reason: ReasonQuoteNotClosed}
				}
				r.buf = append(r.buf, rec[pos:pos+i]...)
				pos += i + 1
				if pos < len(rec) && rec[pos] == q {
					r.buf = append(r.buf, q)
					pos++
					continue
				}
				break
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
		r.buf = append(r.buf, field...)
		r.ends = append(r.ends, len(r.buf))
		if i < 0 {
			break
		}
		pos += i + 1
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

// split splits a record without quotes at its delimiters.
func (r *Reader) split(rec []byte) []string {
	fields := r.fields(bytes.Count(rec, []byte{r.delim}) + 1)
	all := string(rec)
	for i := range len(fields) - 1 {
		j := strings.IndexByte(all, r.delim)
		fields[i] = all[:j]
		all = all[j+1:]
	}
	fields[len(fields)-1] = all
	return fields
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
