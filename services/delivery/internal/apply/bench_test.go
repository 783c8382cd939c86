package apply

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

const benchChunk = 5000

// benchRows is the number of rows a benchmark run imports: 200 000, or
// BENCH_APPLY_ROWS.
func benchRows(b *testing.B) int64 {
	n := int64(200_000)
	if s := os.Getenv("BENCH_APPLY_ROWS"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < benchChunk || v%benchChunk != 0 {
			b.Fatalf("BENCH_APPLY_ROWS=%q: want a multiple of %d", s, benchChunk)
		}
		n = v
	}
	return n
}

// benchBatches are the record batches of a run of rows people rows, in
// chunks of benchChunk, as transform publishes them. The name of every
// row i with i%changeEvery == 0 carries the version suffix; changeEvery 0
// changes none.
func benchBatches(snap *ferryv1.RunSnapshot, rows int64, changeEvery int64, version string) []*ferryv1.RecordBatch {
	var out []*ferryv1.RecordBatch
	for seq := int64(1); (seq-1)*benchChunk < rows; seq++ {
		var data strings.Builder
		for i := (seq - 1) * benchChunk; i < seq*benchChunk; i++ {
			v := ""
			if changeEvery > 0 && i%changeEvery == 0 {
				v = version
			}
			fmt.Fprintf(&data, "\"k%07d\",\"Name number %d, with some text%s\",%d\n", i, i, v, i+2)
		}
		out = append(out, &ferryv1.RecordBatch{Run: snap, Seq: seq, Columns: []string{"id", "name", "_ferry_row"},
			CopyData: []byte(data.String()), Staged: benchChunk, Read: benchChunk, Header: []string{"id", "name"}})
	}
	return out
}

// BenchmarkDelivery measures, on the same database in the same run,
// PostgreSQL's own COPY of the rows into a table with the dataset's primary
// key (the baseline), and delivery staging the same rows chunk by chunk and
// applying the run: into an empty dataset, again over the same rows (nothing
// changed), and over the same keys with every other row changed. Each
// reports rows per second; `make bench` prints them as ratios.
func BenchmarkDelivery(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	// The system columns of a dataset table as the profile service creates it.
	if _, err := f.pool.Exec(ctx, `ALTER TABLE tenant_t.people ADD COLUMN _ferry_created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
		ADD COLUMN _ferry_version bigint`); err != nil {
		b.Fatal(err)
	}
	rows := benchRows(b)
	b.Run("copy", func(b *testing.B) {
		batches := benchBatches(&ferryv1.RunSnapshot{}, rows, 0, "")
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
		b.ReportMetric(float64(b.N)*float64(rows)/b.Elapsed().Seconds(), "rows/s")
	})
	a := &Applier{Pool: f.pool}
	// apply stages and applies one run of rows, returning its counts and
	// how long staging and applying took.
	apply := func(b *testing.B, changeEvery int64, version string) (*ferryv1.RunCounts, time.Duration, time.Duration) {
		snap := f.run(b, nil, int(rows/benchChunk))
		batches := benchBatches(snap, rows, changeEvery, version)
		start := time.Now()
		for _, bt := range batches {
			if _, err := a.Stage(ctx, bt); err != nil {
				b.Fatal(err)
			}
		}
		staged := time.Now()
		out, err := a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: snap})
		if err != nil || out.Status != "succeeded" {
			b.Fatalf("apply: %v %v", err, out)
		}
		return out.Counts, staged.Sub(start), time.Since(staged)
	}
	for _, bc := range []struct {
		name string
		// prefill applies the rows before the measured run.
		prefill     bool
		changeEvery int64
		want        func(c *ferryv1.RunCounts) bool
	}{
		{"stage+apply", false, 0, func(c *ferryv1.RunCounts) bool { return c.GetInserted() == rows }},
		{"reimport-unchanged", true, 0, func(c *ferryv1.RunCounts) bool { return c.GetUnchanged() == rows && c.GetUpdated() == 0 }},
		{"reimport-half-changed", true, 2, func(c *ferryv1.RunCounts) bool {
			return c.GetUpdated() == rows/2 && c.GetUnchanged() == rows-rows/2
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.StopTimer()
			var stage, applyTime time.Duration
			for i := range b.N {
				if _, err := f.pool.Exec(ctx, `TRUNCATE tenant_t.people`); err != nil {
					b.Fatal(err)
				}
				if bc.prefill {
					apply(b, 0, "")
					if _, err := f.pool.Exec(ctx, `VACUUM ANALYZE tenant_t.people`); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				c, s, ap := apply(b, bc.changeEvery, fmt.Sprintf(" v%d", i))
				b.StopTimer()
				if !bc.want(c) {
					b.Fatalf("counts: %v", c)
				}
				stage, applyTime = stage+s, applyTime+ap
			}
			b.ReportMetric(float64(b.N)*float64(rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(stage.Seconds()/float64(b.N), "stage-s/op")
			b.ReportMetric(applyTime.Seconds()/float64(b.N), "apply-s/op")
		})
	}
}
