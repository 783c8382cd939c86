package outfile

import (
	"bytes"
	"encoding/csv"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/formats/textenc"
	"github.com/ferrydata/ferry/libs/values"
)

// Constructors of cells.
func str(s string) Value     { return Value{Kind: String, Text: s} }
func jsonv(s string) Value   { return Value{Kind: JSON, Text: s} }
func integer(n string) Value { return Value{Kind: Integer, Num: n} }
func decimal(n string) Value { return Value{Kind: Decimal, Num: n} }
func boolean(b bool) Value   { return Value{Kind: Bool, Bool: b} }
func date(y, m, d int) Value {
	return Value{Kind: Date, Time: time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)}
}
func timestamp(t time.Time) Value { return Value{Kind: Timestamp, Time: t} }

var null = Value{}

// layout compiles a date format or fails the test.
func layout(tb testing.TB, pattern string) *values.DateLayout {
	tb.Helper()
	l, err := values.ParseLayout(pattern)
	require.NoError(tb, err)
	return l
}

// write writes rows (numbered from 1) with a new Writer and returns the
// output and the stats; it fails the test on any error.
func write(tb testing.TB, cols []Column, o Options, rows ...[]Value) ([]byte, Stats) {
	tb.Helper()
	out, stats, err := tryWrite(tb, cols, o, rows...)
	require.NoError(tb, err)
	return out, stats
}

// tryWrite is write that returns Close's error.
func tryWrite(tb testing.TB, cols []Column, o Options, rows ...[]Value) ([]byte, Stats, error) {
	tb.Helper()
	var buf bytes.Buffer
	w, err := New(&buf, cols, o)
	require.NoError(tb, err)
	for i, r := range rows {
		require.NoError(tb, w.WriteRow(int64(i+1), r))
	}
	stats, err := w.Close()
	return buf.Bytes(), stats, err
}

// readCSV decodes data from enc with Ferry's decoder (which also drops a
// byte-order mark) and splits it with encoding/csv.
func readCSV(tb testing.TB, data []byte, enc textenc.Encoding, delim rune) [][]string {
	tb.Helper()
	d := textenc.NewDecoder(bytes.NewReader(data), enc)
	text, err := io.ReadAll(d)
	require.NoError(tb, err)
	require.Zero(tb, d.Invalid(), "invalid bytes in %q", data)
	r := csv.NewReader(bytes.NewReader(text))
	r.Comma = delim
	r.FieldsPerRecord = -1
	records, err := r.ReadAll()
	require.NoError(tb, err)
	return records
}
