package outfile

import (
	"io"
	"testing"
)

// BenchmarkWrite writes batches of rows of benchColumns to io.Discard,
// Close included, and reports rows per second.
func BenchmarkWrite(b *testing.B) {
	const batch = 10_000
	formats := []struct {
		name string
		o    Options
	}{
		{"csv/utf-8", Options{Format: CSV}},
		{"csv/windows-1252", Options{Format: CSV, Encoding: "windows-1252"}},
		{"csv/utf-16le", Options{Format: CSV, Encoding: "utf-16le", BOM: true}},
		{"jsonl", Options{Format: JSONL}},
		{"xlsx", Options{Format: XLSX}},
	}
	for _, f := range formats {
		b.Run(f.name, func(b *testing.B) {
			cells := make([]Value, len(benchColumns))
			b.ReportAllocs()
			for b.Loop() {
				w, err := New(io.Discard, benchColumns, f.o)
				if err != nil {
					b.Fatal(err)
				}
				for i := int64(1); i <= batch; i++ {
					benchRow(cells, i)
					if err := w.WriteRow(i, cells); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
