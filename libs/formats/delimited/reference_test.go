package delimited

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// referenceRead is a byte-at-a-time reading of the format rules, kept simple
// to check the Reader against: records end at LF, CRLF or CR after an even
// number of quotes, a backslash inside quotes hiding the next byte when
// escapes are backslashes; a record starting with the comment character ends
// at the first LF or CR; a field starting with a quote is quoted; a doubled
// quote inside is one quote.
func referenceRead(data []byte, opts Options) []record {
	o := opts.withDefaults()
	var out []record
	row := int64(0)
	for i := 0; i < len(data); {
		row++
		start, inQuote := i, false
		isComment := o.Comment != 0 && data[i] == o.Comment
		for ; i < len(data); i++ {
			c := data[i]
			switch {
			case isComment:
				if c == '\n' || c == '\r' {
					goto end
				}
			case inQuote && o.Escape == EscapeBackslash && c == '\\':
				i++
			case c == o.Quote:
				inQuote = !inQuote
			case !inQuote && (c == '\n' || c == '\r'):
				goto end
			}
		}
	end:
		i = min(i, len(data))
		rec := data[start:i]
		if i < len(data) {
			if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			i++
		}
		if len(rec) == 0 || isComment {
			continue
		}
		fields, err := referenceRecord(row, rec, o)
		if err != nil {
			out = append(out, record{Row: row, Err: err.Error()})
			continue
		}
		out = append(out, record{Row: row, Fields: fields})
	}
	return out
}

// referenceRecord parses one record without its terminator; o has its
// defaults. Faults are found left to right: in a quoted field, a missing
// closing quote, then the size once it is closed, then what follows it; in
// an unquoted field, a quote, then the size; then the field count, without
// the empty field after a trailing delimiter.
func referenceRecord(row int64, rec []byte, o Options) ([]string, *RecordError) {
	q, d := o.Quote, o.Delimiter
	fail := func(col int, reason string) *RecordError {
		return &RecordError{Row: row, Column: col, Reason: reason}
	}
	tooLarge := func(col, size int) *RecordError {
		return (&LimitError{What: LimitField, Row: row, Column: col, Limit: o.MaxFieldSize, Got: size}).recordError()
	}
	var fields []string
	j, fieldStart := 0, 0
	for col := 1; ; col++ {
		var field []byte
		fieldStart = j
		if j < len(rec) && rec[j] == q {
			j++
			for {
				if j == len(rec) {
					return nil, fail(col, ReasonQuoteNotClosed)
				}
				if o.Escape == EscapeBackslash && rec[j] == '\\' {
					if j+1 == len(rec) {
						return nil, fail(col, ReasonQuoteNotClosed)
					}
					if next := rec[j+1]; next != q && next != '\\' {
						field = append(field, '\\')
					}
					field = append(field, rec[j+1])
					j += 2
					continue
				}
				if rec[j] == q {
					if j+1 < len(rec) && rec[j+1] == q {
						field = append(field, q)
						j += 2
						continue
					}
					j++
					break
				}
				field = append(field, rec[j])
				j++
			}
			if len(field) > o.MaxFieldSize {
				return nil, tooLarge(col, len(field))
			}
			if j < len(rec) && rec[j] != d {
				return nil, fail(col, ReasonAfterQuote)
			}
		} else {
			for ; j < len(rec) && rec[j] != d; j++ {
				if rec[j] == q {
					return nil, fail(col, ReasonBareQuote)
				}
				field = append(field, rec[j])
			}
			if len(field) > o.MaxFieldSize {
				return nil, tooLarge(col, len(field))
			}
		}
		fields = append(fields, string(field))
		if j == len(rec) {
			break
		}
		j++ // the delimiter
	}
	if o.TrailingDelimiter && fieldStart == len(rec) {
		fields = fields[:len(fields)-1]
	}
	if len(fields) > o.MaxColumns {
		return nil, (&LimitError{What: LimitColumns, Row: row, Limit: o.MaxColumns, Got: len(fields)}).recordError()
	}
	return fields, nil
}

func TestReaderMatchesReference(t *testing.T) {
	for _, tt := range splitInputs {
		t.Run(tt.name, func(t *testing.T) {
			checkReference(t, []byte(tt.input), tt.opts)
		})
	}
	checkReference(t, generate(200<<10, false), Options{})
}

// checkReference checks that one Reader over data gives what referenceRead gives.
func checkReference(tb testing.TB, data []byte, opts Options) {
	tb.Helper()
	got, _ := readAll(tb, data, 1, opts)
	require.Equal(tb, referenceRead(data, opts), got)
}
