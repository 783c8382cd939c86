package outfile

import (
	"io"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchColumns are the columns of the memory test and the benchmarks.
var benchColumns = []Column{
	{Header: "id", Kind: Integer},
	{Header: "name", Kind: String},
	{Header: "city", Kind: String},
	{Header: "amount", Kind: Decimal},
	{Header: "active", Kind: Bool},
	{Header: "born", Kind: Date},
	{Header: "updated", Kind: Timestamp},
	{Header: "tags", Kind: JSON},
}

// benchRow fills cells with row i.
func benchRow(cells []Value, i int64) {
	id := strconv.FormatInt(i, 10)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cells[0] = integer(id)
	cells[1] = str("Customer " + id)
	cells[2] = str("Zoë's town, \"north\"")
	cells[3] = decimal(id + ".25")
	cells[4] = boolean(i%2 == 0)
	cells[5] = Value{Kind: Date, Time: base.AddDate(0, 0, int(i%3650))}
	cells[6] = timestamp(base.Add(time.Duration(i) * time.Second))
	cells[7] = jsonv(`["a","b"]`)
	if i%7 == 0 {
		cells[2] = null
	}
}

// heapWatch samples the heap in use after a GC, every interval and when
// asked, and keeps the largest sample.
type heapWatch struct {
	mu   sync.Mutex
	max  uint64
	stop chan struct{}
	done chan struct{}
}

func watchHeap(interval time.Duration) *heapWatch {
	h := &heapWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				h.sample()
			}
		}
	}()
	return h
}

func (h *heapWatch) sample() {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h.mu.Lock()
	h.max = max(h.max, m.HeapInuse)
	h.mu.Unlock()
}

func (h *heapWatch) Max() uint64 {
	close(h.stop)
	<-h.done
	h.sample()
	return h.max
}

// TestMemoryBounded writes a million rows and checks that the heap does not
// grow with them: the writers hold a row, a buffer and a compressor.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a million rows")
	}
	const (
		rows  = 1_000_000
		limit = 64 << 20
	)
	for _, format := range []Format{CSV, XLSX} {
		t.Run(format.String(), func(t *testing.T) {
			runtime.GC()
			h := watchHeap(time.Second)
			w, err := New(io.Discard, benchColumns, Options{Format: format, Encoding: "utf-8"})
			require.NoError(t, err)
			cells := make([]Value, len(benchColumns))
			for i := int64(1); i <= rows; i++ {
				benchRow(cells, i)
				require.NoError(t, w.WriteRow(i, cells))
				if i%100_000 == 0 {
					h.sample()
				}
			}
			stats, err := w.Close()
			require.NoError(t, err)
			peak := h.Max()
			require.Equal(t, int64(rows), stats.Rows)
			t.Logf("%s: %d rows, %d MiB written, peak heap in use %d MiB", format, stats.Rows, stats.Bytes>>20, peak>>20)
			require.Less(t, peak, uint64(limit))
		})
	}
}
