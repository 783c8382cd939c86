package outfile

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

func TestNewErrors(t *testing.T) {
	s := []Column{{Header: "a", Kind: String}}
	tests := []struct {
		name string
		cols []Column
		o    Options
		err  string
	}{
		{"no format", s, Options{}, "output format 0 is not csv, xlsx or jsonl"},
		{"no columns", nil, Options{Format: CSV}, "write csv: no columns"},
		{"unknown encoding", s, Options{Format: CSV, Encoding: "ebcdic"}, `unknown text encoding "ebcdic"`},
		{"jsonl encoding", s, Options{Format: JSONL, Encoding: "latin1"}, "write jsonl: encoding iso-8859-1 is not possible, jsonl files are always utf-8"},
		{"xlsx encoding", s, Options{Format: XLSX, Encoding: "utf-16le"}, "write xlsx: encoding utf-16le is not possible, xlsx files are always utf-8"},
		{"jsonl BOM", s, Options{Format: JSONL, BOM: true}, "write jsonl: jsonl files have no byte-order mark"},
		{"xlsx BOM", s, Options{Format: XLSX, BOM: true}, "write xlsx: xlsx files have no byte-order mark"},
		{"BOM in a legacy encoding", s, Options{Format: CSV, Encoding: "cp1252", BOM: true}, "write csv: encoding windows-1252 has no byte-order mark, only utf-8 and utf-16 do"},
		{"quote delimiter", s, Options{Format: CSV, Delimiter: '"'}, `write csv: delimiter '"' is not possible`},
		{"LF delimiter", s, Options{Format: CSV, Delimiter: '\n'}, `write csv: delimiter '\n' is not possible`},
		{"non-ASCII delimiter", s, Options{Format: CSV, Delimiter: 0xA7}, `write csv: delimiter '§' is not possible`},
		{"bad kind", []Column{{Header: "a", Kind: 99}}, Options{Format: CSV}, `column 1 ("a"): kind 99 is not a value kind`},
		{"duplicate keys", []Column{{Header: "a"}, {Header: "b"}, {Header: "a"}}, Options{Format: JSONL}, `columns 1 and 3 are both named "a", which JSON objects cannot hold`},
		{"digit separator", []Column{{Header: "n", Kind: Decimal, DecimalSeparator: '5'}}, Options{Format: CSV}, `column "n": decimal separator "5" is not possible`},
		{"sign separator", []Column{{Header: "n", Kind: Decimal, DecimalSeparator: '-'}}, Options{Format: CSV}, `column "n": decimal separator "-" is not possible`},
		{"same words", []Column{{Header: "b", Kind: Bool, TrueWord: "false"}}, Options{Format: CSV}, `column "b": true and false are both written as "false"`},
		{"invalid jsonl header", []Column{{Header: "a\xff"}}, Options{Format: JSONL}, `write jsonl: header "a\xff" has invalid UTF-8`},
		{"invalid xlsx header", []Column{{Header: "a\x01"}}, Options{Format: XLSX}, `write xlsx: header "a\x01" has "\x01" (U+0001), which an XLSX cell cannot hold`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := New(&bytes.Buffer{}, tt.cols, tt.o)
			require.True(t, w == nil, "a nil Writer")
			require.ErrorContains(t, err, tt.err)
		})
	}
	_, err := New(&bytes.Buffer{}, []Column{{Header: "a"}, {Header: "a"}}, Options{Format: CSV})
	require.NoError(t, err, "CSV and XLSX may repeat a header")
}

func TestWriteRowErrors(t *testing.T) {
	cols := []Column{{Header: "n", Kind: Decimal}, {Header: "s", Kind: String}}
	bad := []struct {
		cells []Value
		err   string
	}{
		{[]Value{decimal("1")}, "row 2 has 1 cells, the file has 2 columns"},
		{[]Value{{Kind: 42}, null}, `row 2, column "n": kind 42 is not a value kind`},
		{[]Value{decimal("1e5"), null}, `row 2, column "n": "1e5" is not a canonical decimal number like -12 or 1234.50`},
		{[]Value{decimal("01"), null}, `"01" is not a canonical`},
		{[]Value{decimal("1."), null}, `"1." is not a canonical`},
		{[]Value{decimal(".5"), null}, `".5" is not a canonical`},
		{[]Value{decimal("+1"), null}, `"+1" is not a canonical`},
		{[]Value{decimal("1,5"), null}, `"1,5" is not a canonical`},
		{[]Value{decimal(""), null}, `"" is not a canonical`},
		{[]Value{decimal("-"), null}, `"-" is not a canonical`},
	}
	for _, format := range []Format{CSV, XLSX, JSONL} {
		t.Run(format.String(), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := New(&buf, cols, Options{Format: format})
			require.NoError(t, err)
			require.NoError(t, w.WriteRow(1, []Value{integer("-0"), str("a")}))
			for _, b := range bad {
				err := w.WriteRow(2, b.cells)
				require.ErrorContains(t, err, b.err)
			}
			var ce *CellError
			require.ErrorAs(t, w.WriteRow(2, bad[1].cells), &ce)
			require.Equal(t, "n", ce.Column)
			require.Equal(t, int64(2), ce.Row)
			require.NoError(t, w.WriteRow(3, []Value{decimal("0.5"), null}))
			stats, err := w.Close()
			require.NoError(t, err)
			require.Equal(t, int64(2), stats.Rows)
			require.ErrorIs(t, w.WriteRow(4, []Value{null, null}), errClosed)
			_, err = w.Close()
			require.ErrorIs(t, err, errClosed)
		})
	}
}

// failingWriter fails every write.
type failingWriter struct{}

var errDiskFull = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestOutputErrors(t *testing.T) {
	cols := []Column{{Header: "s", Kind: String}}
	for _, format := range []Format{CSV, XLSX, JSONL} {
		t.Run(format.String(), func(t *testing.T) {
			w, err := New(failingWriter{}, cols, Options{Format: format})
			require.NoError(t, err)
			big := str(string(bytes.Repeat([]byte("x"), 1000)))
			for i := int64(1); i <= 100 && err == nil; i++ {
				err = w.WriteRow(i, []Value{big})
			}
			if err == nil {
				_, err = w.Close()
			} else {
				require.ErrorIs(t, w.WriteRow(101, []Value{big}), errDiskFull, "an output error is final")
				_, _ = w.Close()
			}
			require.ErrorIs(t, err, errDiskFull)
		})
	}
}

// TestCellKindWins writes cells whose kind is not their column's: each is
// written as its own kind.
func TestCellKindWins(t *testing.T) {
	cols := []Column{{Header: "s", Kind: String}, {Header: "s2", Kind: String}, {Header: "n", Kind: Integer}}
	row := []Value{decimal("1.5"), date(2024, 5, 1), str("007")}

	out, _ := write(t, cols, Options{Format: CSV}, row)
	require.Equal(t, "s,s2,n\r\n1.5,2024-05-01,007\r\n", string(out))
	out, _ = write(t, cols, Options{Format: JSONL}, row)
	require.Equal(t, `{"s":1.5,"s2":"2024-05-01","n":"007"}`+"\n", string(out))

	out, _ = write(t, cols, Options{Format: XLSX}, row, row)
	f := openXLSX(t, out)
	require.Equal(t, xlsxCell{Raw: "1.5", Shown: "1.5"}, readCell(t, f, "Sheet1", "A2"))
	require.Equal(t, xlsxCell{Raw: "45413", Shown: "2024-05-01", NumFmt: "yyyy-mm-dd"}, readCell(t, f, "Sheet1", "B3"))
	require.Equal(t, xlsxCell{Type: excelize.CellTypeInlineString, Raw: "007", Shown: "007"}, readCell(t, f, "Sheet1", "C2"))
}
