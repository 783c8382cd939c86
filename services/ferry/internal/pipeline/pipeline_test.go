package pipeline

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
)

const testRows = 30_000

// TestRangesShareOneSnapshot reads a dataset with four readers over key
// ranges, in batches of 1 000 rows, while another connection inserts, updates
// and deletes rows after the snapshot was taken: every file holds exactly
// the rows of the snapshot, once each, in key order, in CSV, XLSX and JSONL.
func TestRangesShareOneSnapshot(t *testing.T) {
	ctx := context.Background()
	var ranges atomic.Int64
	var p *pipe
	p = start(t, testRows, options{readers: 4, minPages: 1, batchRows: 1000, afterSnapshot: func(_ *ferryv1.ExportSnapshot, r []int) {
		ranges.Store(int64(r[0]))
		// Committed after the snapshot, before the readers start: no
		// reader may see any of it.
		for _, sql := range []string{
			`INSERT INTO tenant_t.people (id, name) VALUES ('0000000', 'first, new'), ('9999999', 'last, new'), ('0015000x', 'middle, new')`,
			`UPDATE tenant_t.people SET name = 'changed' WHERE id IN ('0000001', '0015000', '0030000')`,
			`UPDATE tenant_t.people SET _ferry_deleted_at = now() WHERE id IN ('0000002', '0020000')`,
		} {
			if _, err := p.pool.Exec(ctx, sql); err != nil {
				panic(err)
			}
		}
	}})
	want := make([]string, 0, testRows)
	rows, err := p.pool.Query(ctx, `SELECT id || ' ' || name FROM tenant_t.people ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		want = append(want, s)
	}
	require.NoError(t, rows.Err())
	restore := func() {
		for _, sql := range []string{
			`DELETE FROM tenant_t.people WHERE name LIKE '%, new'`,
			`UPDATE tenant_t.people SET name = 'Name number ' || ltrim(id, '0') WHERE name = 'changed'`,
			`UPDATE tenant_t.people SET _ferry_deleted_at = NULL`,
		} {
			_, err := p.pool.Exec(ctx, sql)
			require.NoError(t, err)
		}
	}

	for _, format := range []ferryv1.ExportFormat{ferryv1.ExportFormat_EXPORT_FORMAT_CSV, ferryv1.ExportFormat_EXPORT_FORMAT_XLSX, ferryv1.ExportFormat_EXPORT_FORMAT_JSONL} {
		t.Run(format.String(), func(t *testing.T) {
			defer restore()
			res := p.export(t, spec(format), nil)
			require.Equal(t, "succeeded", res.status, res.reason)
			require.Greater(t, ranges.Load(), int64(1), "the dataset was not split into key ranges")
			require.Len(t, res.outputs, 1)
			require.Equal(t, int64(testRows), res.outputs[0].GetRows())
			data := p.file(t, res.run, res.outputs[0].GetName())
			var got []string
			switch format {
			case ferryv1.ExportFormat_EXPORT_FORMAT_CSV:
				records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
				require.NoError(t, err)
				require.Equal(t, []string{"id", "name", "grade", "balance", "born"}, records[0])
				for _, r := range records[1:] {
					got = append(got, r[0]+" "+r[1])
				}
			case ferryv1.ExportFormat_EXPORT_FORMAT_XLSX:
				f, err := excelize.OpenReader(bytes.NewReader(data))
				require.NoError(t, err)
				records, err := f.GetRows("Sheet1")
				require.NoError(t, err)
				for _, r := range records[1:] {
					got = append(got, r[0]+" "+r[1])
				}
			default:
				for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
					var m map[string]any
					require.NoError(t, json.Unmarshal([]byte(line), &m))
					got = append(got, m["id"].(string)+" "+m["name"].(string))
				}
			}
			require.Equal(t, len(want), len(got))
			require.Equal(t, want, got)
		})
	}
}

// TestErrorsNameRowsAcrossParts checks that what fails in a part names the
// row of the file, counted across ranges and batches: characters the
// encoding cannot hold, and an expression that fails on one row.
func TestErrorsNameRowsAcrossParts(t *testing.T) {
	ctx := context.Background()
	p := start(t, testRows, options{readers: 4, minPages: 1, batchRows: 1000})
	_, err := p.pool.Exec(ctx, `UPDATE tenant_t.people SET name = name || ' ✓' WHERE id IN ('0000005', '0025000')`)
	require.NoError(t, err)

	s := spec(ferryv1.ExportFormat_EXPORT_FORMAT_CSV)
	s.Csv.Encoding = "windows-1252"
	res := p.export(t, s, nil)
	require.Equal(t, "failed", res.status)
	require.Contains(t, res.reason, "2 rows have characters that the encoding windows-1252 cannot hold")
	require.Contains(t, res.reason, "rows 5, 25000 in columns \"name\"")

	s.Unencodable = ferryv1.Unencodable_UNENCODABLE_REPLACE
	res = p.export(t, s, nil)
	require.Equal(t, "succeeded", res.status, res.reason)

	tmpl := &ferryv1.TemplateSpec{Columns: []*ferryv1.TemplateColumn{
		{Header: "id", Field: "id"},
		{Header: "ratio", Expr: `100 / (fields.id == "0025000" ? 0 : 1)`},
	}}
	res = p.export(t, spec(ferryv1.ExportFormat_EXPORT_FORMAT_CSV), tmpl)
	require.Equal(t, "failed", res.status)
	require.Contains(t, res.reason, `row 25000, column "ratio"`)
	require.Contains(t, res.reason, "division by zero")
}

// TestPoisonMessagesFailTheirRuns: a message that can never be handled —
// here bytes that do not decode — fails the run it belongs to (named by its
// subject, or by its Ferry-Tenant and Ferry-Run headers) with the reason,
// instead of leaving the run waiting for its effect; for every consumer of
// a run's work in transform, delivery and export.
func TestPoisonMessagesFailTheirRuns(t *testing.T) {
	p := start(t, 10, options{readers: 1})
	ctx := context.Background()
	tenant := p.tenant.String()
	nc := p.js.Conn()
	runs := map[string]string{} // run to the consumer that gets its poison
	poison := func(consumer, subject string, headers bool) {
		run := uuid.NewString()
		runs[run] = consumer
		if subject == "" {
			subject = map[string]string{
				"transform":        bus.ChunkSubject(tenant, run),
				"delivery":         bus.RecordSubject(tenant, run),
				"transform-export": bus.ExportRowsSubject(tenant, run),
				"delivery-export":  bus.ExportPartsSubject(tenant, run),
			}[consumer]
		}
		m := &nats.Msg{Subject: subject, Data: []byte("\xff not protobuf"), Header: nats.Header{}}
		if headers {
			m.Header.Set(bus.HeaderTenant, tenant)
			m.Header.Set(bus.HeaderRun, run)
		}
		_, err := p.js.PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	poison("transform", "", false)
	poison("delivery", "", false)
	poison("transform-export", "", false)
	poison("delivery-export", "", false)
	poison("export", bus.ExportCommandSubject(tenant), true)
	poison("delivery-apply", bus.ApplyCommandSubject(tenant), true)
	require.NoError(t, nc.Flush())

	failed := map[string]string{}
	cons, err := bus.EnsureConsumer(ctx, p.js, bus.StreamProgress, jetstream.ConsumerConfig{Durable: "poison-test", FilterSubject: "ferry.progress.>"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		batch, err := cons.FetchNoWait(10)
		require.NoError(t, err)
		for m := range batch.Messages() {
			var pr ferryv1.Progress
			require.NoError(t, proto.Unmarshal(m.Data(), &pr))
			if pr.GetFailed() != nil {
				failed[pr.GetRunId()] = pr.GetFailed().GetReason()
			}
			require.NoError(t, m.Ack())
		}
		return len(failed) == len(runs)
	}, 30*time.Second, 50*time.Millisecond, "failed: %v", failed)
	for run, consumer := range runs {
		require.NotEmpty(t, failed[run], "the run poisoned for %s failed", consumer)
	}
}
