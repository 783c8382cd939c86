package xlsx

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadAhead reads a sheet large enough to be inflated ahead of the XML
// scanner: every row arrives in order, a reader closed halfway stops its
// goroutine, and a limit hit on the inflating goroutine ends the reading
// with that limit's error.
func TestReadAhead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.xlsx")
	writeSharedWorkbook(t, path, 100_000)
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	st, err := fh.Stat()
	require.NoError(t, err)

	w, err := Open(fh, st.Size(), Limits{})
	require.NoError(t, err)
	rr, err := w.Rows(w.Sheets()[0])
	require.NoError(t, err)
	require.NotNil(t, rr.ra, "a sheet of %d bytes is read ahead", w.a.file(w.sheets[0].part).UncompressedSize64)
	for i := int64(1); i <= 100_000; i++ {
		row, cells, err := rr.Next()
		require.NoError(t, err)
		require.Equal(t, i, row)
		require.Len(t, cells, bigColumns)
	}
	_, _, err = rr.Next()
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, rr.Close())

	rr, err = w.Rows(w.Sheets()[0])
	require.NoError(t, err)
	for range 10 {
		_, _, err := rr.Next()
		require.NoError(t, err)
	}
	ra := rr.ra
	require.NoError(t, rr.Close())
	select {
	case <-ra.done:
	default:
		t.Fatal("the read-ahead goroutine still runs after Close")
	}

	// A limit the inflating goroutine hits is the reader's error.
	w, err = Open(fh, st.Size(), Limits{MaxUncompressed: 12 << 20})
	require.NoError(t, err)
	rr, err = w.Rows(w.Sheets()[0])
	require.NoError(t, err)
	defer rr.Close()
	for {
		_, _, err = rr.Next()
		if err != nil {
			break
		}
	}
	var le *LimitError
	require.True(t, errors.As(err, &le), "got %v", err)
	require.Equal(t, LimitUncompressed, le.What)
}
