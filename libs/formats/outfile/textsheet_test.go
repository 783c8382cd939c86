package outfile

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/formats/xlsx"
)

// TestTextSheetRoundTrip writes a workbook as reject reports do and reads it
// back with Ferry's reader and with excelize: the sheet is at its position
// after empty sheets, below the skipped rows, and every text comes back as
// written, ragged rows included; what a cell cannot hold is replaced.
func TestTextSheetRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewTextSheet(&buf, "Empty1", 3)
	require.NoError(t, err)
	w.Skip(1)
	rows := [][]string{
		{"ID", "Name", "_error"},
		{"007", "=1+1", "say \"hi\"\nthere"},
		{"1e3", "", "TRUE", "extra", " spaced "},
		{"a & <b>", "_x0041_", "tab\there\r"},
	}
	for _, r := range rows {
		require.NoError(t, w.WriteRow(r))
	}
	require.NoError(t, w.WriteRow([]string{"bell\x07"}))
	require.NoError(t, w.Close())
	require.EqualValues(t, 1, w.Replaced)
	require.ErrorIs(t, w.Close(), errClosed)
	want := append(append([][]string{}, rows...), []string{"bell\uFFFD"})

	wb, err := xlsx.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), xlsx.Limits{})
	require.NoError(t, err)
	sheets := wb.Sheets()
	require.Len(t, sheets, 3)
	require.Equal(t, []string{"Empty1 (empty)", "Empty2", "Empty1"}, []string{sheets[0].Name, sheets[1].Name, sheets[2].Name})
	rr, err := wb.Rows(sheets[2])
	require.NoError(t, err)
	defer rr.Close()
	for i, cells := range want {
		n, got, err := rr.Next()
		require.NoError(t, err)
		require.EqualValues(t, i+2, n, "the first row is skipped")
		require.Equal(t, cells, got, "row %d", n)
	}
	_, _, err = rr.Next()
	require.ErrorIs(t, err, io.EOF)

	f := openXLSX(t, buf.Bytes())
	require.Equal(t, []string{"Empty1 (empty)", "Empty2", "Empty1"}, f.GetSheetList())
	got, err := f.GetRows("Empty1")
	require.NoError(t, err)
	require.Equal(t, append([][]string{nil}, want...), got)
	for _, empty := range []string{"Empty1 (empty)", "Empty2"} {
		rows, err := f.GetRows(empty)
		require.NoError(t, err)
		require.Empty(t, rows)
	}
}

func TestTextSheetDefaultsAndLimits(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewTextSheet(&buf, "", 0)
	require.NoError(t, err)
	require.NoError(t, w.WriteRow([]string{"x"}))
	require.NoError(t, w.Close())
	require.Equal(t, []string{"Sheet1"}, openXLSX(t, buf.Bytes()).GetSheetList())

	w, err = NewTextSheet(io.Discard, "", 2)
	require.NoError(t, err)
	require.Equal(t, "Sheet2", w.name)

	_, err = NewTextSheet(io.Discard, "a/b", 1)
	require.ErrorContains(t, err, `"a/b"`)
	_, err = NewTextSheet(io.Discard, "R", xlsxMaxSheets+1)
	require.ErrorContains(t, err, "sheet position")

	w, err = NewTextSheet(io.Discard, "R", 1)
	require.NoError(t, err)
	err = w.WriteRow([]string{"ok", strings.Repeat("x", xlsxMaxCellChars+1)})
	require.ErrorContains(t, err, "row 1, column B")
	require.Error(t, w.WriteRow([]string{"later"}), "the writer stays failed")
	require.Error(t, w.Close())

	w, err = NewTextSheet(io.Discard, "R", 1)
	require.NoError(t, err)
	w.Skip(xlsxMaxRows)
	require.ErrorContains(t, w.WriteRow([]string{"x"}), "at most 1048576 rows")
}
