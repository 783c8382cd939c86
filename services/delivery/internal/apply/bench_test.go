package apply

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

const (
	benchRows  = 200_000
	benchChunk = 5000
)

// benchBatches are the record batches of a run of benchRows new people
// rows, in chunks of benchChunk, as transform publishes them.
func benchBatches(snap *ferryv1.RunSnapshot) []*ferryv1.RecordBatch {
	var out []*ferryv1.RecordBatch
	for seq := int64(1); (seq-1)*benchChunk < benchRows; seq++ {
		var data strings.Builder
		for i := (seq - 1) * benchChunk; i < seq*benchChunk; i++ {
			fmt.Fprintf(&data, "\"k%07d\",\"Name number %d, with some text\",%d\n", i, i, i+2)
		}
		out = append(out, &ferryv1.RecordBatch{Run: snap, Seq: seq, Columns: []string{"id", "name", "_ferry_row"},
			CopyData: []byte(data.String()), Staged: benchChunk, Read: benchChunk, Header: []string{"id", "name"}})
	}
	return out
}

// BenchmarkDelivery measures, on the same database in the same run,
// PostgreSQL's own COPY of the rows into a table with the dataset's primary
// key (the baseline), and delivery staging the same rows chunk by chunk and
// applying the run into an empty dataset. Both report rows per second;
// `make bench` prints them as ratios.
func BenchmarkDelivery(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	b.Run("copy", func(b *testing.B) {
		batches := benchBatches(&ferryv1.RunSnapshot{})
		b.StopTimer()
		for range b.N {
			_, err := f.pool.Exec(ctx, `DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy (id text PRIMARY KEY, name text, _ferry_row bigint)`)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			conn, err := f.pool.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for _, bt := range batches {
				if _, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(bt.GetCopyData()), "COPY bench_copy FROM STDIN (FORMAT csv)"); err != nil {
					b.Fatal(err)
				}
			}
			conn.Release()
			b.StopTimer()
		}
		b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("stage+apply", func(b *testing.B) {
		a := &Applier{Pool: f.pool}
		b.StopTimer()
		for range b.N {
			if _, err := f.pool.Exec(ctx, `TRUNCATE tenant_t.people`); err != nil {
				b.Fatal(err)
			}
			snap := f.run(b, nil, benchRows/benchChunk)
			batches := benchBatches(snap)
			b.StartTimer()
			for _, bt := range batches {
				if _, err := a.Stage(ctx, bt); err != nil {
					b.Fatal(err)
				}
			}
			out, err := a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: snap})
			b.StopTimer()
			if err != nil || out.Counts.GetInserted() != benchRows {
				b.Fatalf("apply: %v %v", err, out.Counts)
			}
		}
		b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "rows/s")
	})
}
