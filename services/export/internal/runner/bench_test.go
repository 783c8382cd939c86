package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/store"
	"github.com/ferrydata/ferry/libs/testkit"
)

const (
	benchRows = 200_000
	// bigRows is the size of the memory benchmark's dataset.
	bigRows = 5_000_000
)

// benchSetup makes a database with a people table of rows rows and a
// runner writing into an embedded NATS object store.
func benchSetup(b *testing.B, rows int) (*Runner, uuid.UUID, *ferryv1.Dataset) {
	ctx := context.Background()
	pool, err := store.Open(ctx, testkit.Database(b, true), testkit.Log(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool, testkit.Log(b)); err != nil {
		b.Fatal(err)
	}
	tenant := uuid.New()
	for _, sql := range []string{
		fmt.Sprintf(`INSERT INTO ferry.tenants (id, name, schema_name) VALUES ('%s', 't', 'tenant_t')`, tenant),
		`CREATE SCHEMA tenant_t`,
		`CREATE TABLE tenant_t.people (id text PRIMARY KEY, name text, grade bigint, balance numeric, born date,
			_ferry_run uuid, _ferry_run_seq bigint, _ferry_row bigint, _ferry_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
			_ferry_created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(), _ferry_deleted_at timestamptz)`,
		fmt.Sprintf(`INSERT INTO tenant_t.people (id, name, grade, balance, born)
			SELECT lpad(i::text, 7, '0'), 'Name number ' || i, i %% 12, (i %% 100000) / 100.0, date '2005-01-01' + (i %% 3650)
			FROM generate_series(1, %d) i`, rows),
		`ANALYZE tenant_t.people`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	ns := testkit.NATS(b)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js); err != nil {
		b.Fatal(err)
	}
	files, err := js.ObjectStore(ctx, bus.FilesBucket)
	if err != nil {
		b.Fatal(err)
	}
	r := &Runner{Pool: pool, Files: files, Log: testkit.Log(b)}
	f := func(name string, t ferryv1.FieldType) *ferryv1.Field { return &ferryv1.Field{Name: name, Type: t} }
	ds := &ferryv1.Dataset{Name: "people", Key: []string{"id"}, Fields: []*ferryv1.Field{
		f("id", ferryv1.FieldType_FIELD_TYPE_STRING), f("name", ferryv1.FieldType_FIELD_TYPE_STRING),
		f("grade", ferryv1.FieldType_FIELD_TYPE_INTEGER), f("balance", ferryv1.FieldType_FIELD_TYPE_DECIMAL),
		f("born", ferryv1.FieldType_FIELD_TYPE_DATE)}}

	return r, tenant, ds
}

// BenchmarkExport measures, on the same database in the same run,
// PostgreSQL's own `COPY (SELECT …) TO STDOUT` of a dataset's rows (the
// baseline), and export runs writing the same rows as CSV and as XLSX into
// the object store. Each reports rows per second; `make bench` prints them
// as ratios.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	r, tenant, ds := benchSetup(b, benchRows)
	pool := r.Pool
	b.Run("copy-to", func(b *testing.B) {
		for range b.N {
			conn, err := pool.Acquire(ctx)
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
			spec := &ferryv1.ExportProfileSpec{Dataset: "people", Format: format, FileName: "people", Mode: ferryv1.ExportMode_EXPORT_MODE_FULL,
				Csv: &ferryv1.ExportCSV{Delimiter: ",", LineEnding: "crlf", Encoding: "utf-8"}}
			for range b.N {
				snap := &ferryv1.ExportSnapshot{TenantId: tenant.String(), RunId: uuid.NewString(), Profile: "p", ProfileVersion: 1,
					Spec: spec, Template: &ferryv1.TemplateSpec{}, Dataset: ds, Schema: "tenant_t", Table: "people", CreateTime: timestamppb.Now()}
				out, err := r.export(ctx, snap)
				if err != nil || out.Rows != benchRows {
					b.Fatalf("export: %v, %d rows", err, out.Rows)
				}
			}
			b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkExportMemory exports 5 000 000 rows as CSV, and 1 000 000 as XLSX
// (a sheet holds at most 1 048 576 rows), and reports the process's peak
// resident set (VmHWM) and the peak Go heap in use while it ran: memory
// bounded by the batch, not the row count.
func BenchmarkExportMemory(b *testing.B) {
	ctx := context.Background()
	r, tenant, ds := benchSetup(b, bigRows)
	for _, format := range []ferryv1.ExportFormat{ferryv1.ExportFormat_EXPORT_FORMAT_CSV, ferryv1.ExportFormat_EXPORT_FORMAT_XLSX} {
		name := map[ferryv1.ExportFormat]string{ferryv1.ExportFormat_EXPORT_FORMAT_CSV: "csv", ferryv1.ExportFormat_EXPORT_FORMAT_XLSX: "xlsx"}[format]
		b.Run(name, func(b *testing.B) {
			spec := &ferryv1.ExportProfileSpec{Dataset: "people", Format: format, FileName: "people", Mode: ferryv1.ExportMode_EXPORT_MODE_FULL,
				Csv: &ferryv1.ExportCSV{Delimiter: ",", LineEnding: "crlf", Encoding: "utf-8"}}
			rows := int64(bigRows)
			if format == ferryv1.ExportFormat_EXPORT_FORMAT_XLSX {
				rows, spec.MaxRows = 1_000_000, 1_000_000
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
				snap := &ferryv1.ExportSnapshot{TenantId: tenant.String(), RunId: uuid.NewString(), Profile: "p", ProfileVersion: 1,
					Spec: spec, Template: &ferryv1.TemplateSpec{}, Dataset: ds, Schema: "tenant_t", Table: "people", CreateTime: timestamppb.Now()}
				out, err := r.export(ctx, snap)
				if err != nil || out.Rows != rows {
					b.Fatalf("export: %v, %d rows", err, out.Rows)
				}
				// The object store is not what is measured: drop the file.
				_ = r.Files.Delete(ctx, "exports/"+snap.GetRunId()+"/people."+name)
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
