package delimited

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// referenceRead is a byte-at-a-time reading of the format rules, kept simple
// to check the Reader against: records end at LF, CRLF or CR after an even
// number of quotes; a field starting with a quote is quoted; a doubled quote
// inside is one quote.
func referenceRead(data []byte, opts Options) []record {
	o := opts.withDefaults()
	q, d := o.Quote, o.Delimiter
	var out []record
	row := int64(0)
	for i := 0; i < len(data); {
		row++
		start, inQuote := i, false
		for ; i < len(data); i++ {
			if c := data[i]; c == q {
				inQuote = !inQuote
			} else if !inQuote && (c == '\n' || c == '\r') {
				break
			}
		}
		rec := data[start:i]
		if i < len(data) {
			if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			i++
		}
		if len(rec) == 0 {
			continue
		}
		out = append(out, referenceRecord(row, rec, q, d))
	}
	return out
}

func referenceRecord(row int64, rec []byte, q, d byte) record {
	fail := func(col int, reason string) record {
		return record{Row: row, Err: (&RecordError{Row: row, Column: col, Reason: reason}).Error()}
	}
	var fields []string
	j := 0
	for col := 1; ; col++ {
		var field []byte
		if j < len(rec) && rec[j] == q {
			j++
			for {
				if j == len(rec) {
					return fail(col, ReasonQuoteNotClosed)
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
			if j < len(rec) && rec[j] != d {
				return fail(col, ReasonAfterQuote)
			}
		} else {
			for ; j < len(rec) && rec[j] != d; j++ {
				if rec[j] == q {
					return fail(col, ReasonBareQuote)
				}
				field = append(field, rec[j])
			}
		}
		fields = append(fields, string(field))
		if j == len(rec) {
			return record{Row: row, Fields: fields}
		}
		j++ // the delimiter
	}
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
