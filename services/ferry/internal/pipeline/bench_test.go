package pipeline

import (
	"context"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

const (
	benchRows = 200_000
	// bigRows is the size of the memory benchmark's dataset.
	bigRows = 5_000_000
)

// BenchmarkExport measures, on the same database in the same run,
// PostgreSQL's own `COPY (SELECT …) TO STDOUT` of a dataset's rows (the
// baseline), and export runs writing the same rows as CSV and as XLSX into
// the object store: read by parallel readers, formatted by transform,
// assembled by delivery, all in this process. Each reports rows per second;
// `make bench` prints them as ratios.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	p := start(b, benchRows, options{readers: 4})
	b.Run("copy-to", func(b *testing.B) {
		for range b.N {
			conn, err := p.pool.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard,
				`COPY (SELECT id, name, grade, balance, born FROM tenant_t.people WHERE _ferry_deleted_at IS NULL ORDER BY id) TO STDOUT (FORMAT csv, HEADER)`); err != nil {
				b.Fatal(err)
			}
			conn.Release()
		}
		b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "rows/s")
	})
	for _, format := range []ferryv1.ExportFormat{ferryv1.ExportFormat_EXPORT_FORMAT_CSV, ferryv1.ExportFormat_EXPORT_FORMAT_XLSX} {
		name := map[ferryv1.ExportFormat]string{ferryv1.ExportFormat_EXPORT_FORMAT_CSV: "csv", ferryv1.ExportFormat_EXPORT_FORMAT_XLSX: "xlsx"}[format]
		b.Run(name, func(b *testing.B) {
			for range b.N {
				res := p.export(b, spec(format), nil)
				if res.status != "succeeded" || res.outputs[0].GetRows() != benchRows {
					b.Fatalf("export: %s %s, %v", res.status, res.reason, res.outputs)
				}
				_ = p.files.Delete(ctx, "exports/"+res.run+"/"+res.outputs[0].GetName())
			}
			b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkExportMemory exports 5 000 000 rows as CSV, and 1 000 000 as XLSX
// (a sheet holds at most 1 048 576 rows), and reports the process's peak
// resident set (VmHWM) and the peak Go heap in use while it ran — export,
// transform and delivery together: memory bounded by the batch and the
// readers, not the row count.
func BenchmarkExportMemory(b *testing.B) {
	ctx := context.Background()
	p := start(b, bigRows, options{readers: 4})
	for _, format := range []ferryv1.ExportFormat{ferryv1.ExportFormat_EXPORT_FORMAT_CSV, ferryv1.ExportFormat_EXPORT_FORMAT_XLSX} {
		name := map[ferryv1.ExportFormat]string{ferryv1.ExportFormat_EXPORT_FORMAT_CSV: "csv", ferryv1.ExportFormat_EXPORT_FORMAT_XLSX: "xlsx"}[format]
		b.Run(name, func(b *testing.B) {
			s := spec(format)
			rows := int64(bigRows)
			if format == ferryv1.ExportFormat_EXPORT_FORMAT_XLSX {
				rows, s.MaxRows = 1_000_000, 1_000_000
			}
			var peak atomic.Uint64
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				var m runtime.MemStats
				for {
					runtime.ReadMemStats(&m)
					if m.HeapInuse > peak.Load() {
						peak.Store(m.HeapInuse)
					}
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}()
			for range b.N {
				res := p.export(b, s, nil)
				if res.status != "succeeded" || res.outputs[0].GetRows() != rows {
					b.Fatalf("export: %s %s, %v", res.status, res.reason, res.outputs)
				}
				// The object store is not what is measured: drop the file.
				_ = p.files.Delete(ctx, "exports/"+res.run+"/"+res.outputs[0].GetName())
			}
			close(stop)
			<-sampled
			b.ReportMetric(float64(int64(b.N)*rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
			b.ReportMetric(peakRSS()/(1<<20), "peak-rss-MiB")
		})
	}
}

// peakRSS is the process's peak resident set size in bytes (Linux VmHWM).
func peakRSS() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	return 0
}
