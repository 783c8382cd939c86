package xlsx

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWriterRoundTrip writes a workbook and reads it back with the reader:
// the values, the sheet position and the skipped rows come back as written.
func TestWriterRoundTrip(t *testing.T) {
	w, err := NewWriter("Rejects", 2)
	require.NoError(t, err)
	w.Skip(1)
	require.NoError(t, w.WriteRow([]string{"ID", "Name", "_error"}))
	require.NoError(t, w.WriteRow([]string{"007", "=1+1", "say \"hi\"\nthere"}))
	require.NoError(t, w.WriteRow([]string{"1e3", "", "TRUE"}))
	var buf bytes.Buffer
	require.NoError(t, w.Close(&buf))

	wb, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), Limits{})
	require.NoError(t, err)
	sheets := wb.Sheets()
	require.Len(t, sheets, 2)
	require.Equal(t, "Rejects", sheets[1].Name)
	rows, err := readRows(t, wb, sheets[1])
	require.NoError(t, err)
	require.Equal(t, []row{
		{N: 2, Cells: []string{"ID", "Name", "_error"}},
		{N: 3, Cells: []string{"007", "=1+1", "say \"hi\"\nthere"}},
		{N: 4, Cells: []string{"1e3", "", "TRUE"}},
	}, rows)
}
