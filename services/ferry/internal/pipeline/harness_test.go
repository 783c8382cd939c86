package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/libs/testkit"
	"github.com/ferrydata/ferry/services/delivery"
	"github.com/ferrydata/ferry/services/export"
	"github.com/ferrydata/ferry/services/transform"
)

// pipe is export, transform and delivery running in this process, with a
// tenant whose schema tenant_t holds a people table.
type pipe struct {
	pool    *pgxpool.Pool
	js      jetstream.JetStream
	files   jetstream.ObjectStore
	tenant  uuid.UUID
	profile uuid.UUID
	ds      *ferryv1.Dataset
}

type options struct {
	readers       int
	minPages      int64
	batchRows     int
	afterSnapshot func(snap *ferryv1.ExportSnapshot, ranges []int)
}

// service is what every service implements.
type service interface {
	Starting(context.Context) error
	Running(context.Context) error
	Stopping(context.Context) error
}

// start creates the database with rows people rows and starts the services.
func start(tb testing.TB, rows int, o options) *pipe {
	ctx := context.Background()
	pool := storetest.Open(tb)
	p := &pipe{pool: pool, tenant: uuid.New(), profile: uuid.New()}
	for _, sql := range []string{
		fmt.Sprintf(`INSERT INTO ferry.tenants (id, name, schema_name) VALUES ('%s', 't', 'tenant_t')`, p.tenant),
		fmt.Sprintf(`INSERT INTO ferry.export_profiles (id, tenant_id, name, current_version) VALUES ('%s', '%s', 'p', 1)`, p.profile, p.tenant),
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
			tb.Fatal(err)
		}
	}
	f := func(name string, t ferryv1.FieldType) *ferryv1.Field { return &ferryv1.Field{Name: name, Type: t} }
	p.ds = &ferryv1.Dataset{Name: "people", Key: []string{"id"}, Fields: []*ferryv1.Field{
		f("id", ferryv1.FieldType_FIELD_TYPE_STRING), f("name", ferryv1.FieldType_FIELD_TYPE_STRING),
		f("grade", ferryv1.FieldType_FIELD_TYPE_INTEGER), f("balance", ferryv1.FieldType_FIELD_TYPE_DECIMAL),
		f("born", ferryv1.FieldType_FIELD_TYPE_DATE)}}

	// FERRY_BENCH_NATS_URL runs against a NATS server in another process, so
	// that peak RSS measures Ferry's services without the server's caches.
	url := os.Getenv("FERRY_BENCH_NATS_URL")
	if url == "" {
		url = testkit.NATS(tb).ClientURL()
	}
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	if p.js, err = jetstream.New(nc); err != nil {
		tb.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, p.js); err != nil {
		tb.Fatal(err)
	}
	if p.files, err = p.js.ObjectStore(ctx, bus.FilesBucket); err != nil {
		tb.Fatal(err)
	}
	log := testkit.Log(tb)
	services := []service{
		export.New(export.Config{Workers: 2, Retention: 24 * time.Hour, Readers: o.readers},
			export.Deps{Pool: pool, NC: nc, JS: p.js, Log: log, AckWait: 30 * time.Second, RangeMinPages: o.minPages, BatchRows: o.batchRows, AfterSnapshot: o.afterSnapshot}),
		transform.New(transform.Config{Workers: 2}, transform.Deps{NC: nc, JS: p.js, Log: log, AckWait: 30 * time.Second}),
		delivery.New(delivery.Config{Workers: 2}, delivery.Deps{Pool: pool, JS: p.js, Log: log, AckWait: 30 * time.Second}),
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, s := range services {
		if err := s.Starting(ctx); err != nil {
			tb.Fatal(err)
		}
		wg.Go(func() { _ = s.Running(runCtx) })
	}
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return p
}

// spec is a full export of people as CSV.
func spec(format ferryv1.ExportFormat) *ferryv1.ExportProfileSpec {
	return &ferryv1.ExportProfileSpec{Dataset: "people", Format: format, FileName: "people", Mode: ferryv1.ExportMode_EXPORT_MODE_FULL,
		Csv: &ferryv1.ExportCSV{Delimiter: ",", LineEnding: "crlf", Encoding: "utf-8"}}
}

// result is how a run ended.
type result struct {
	run, status, reason string
	outputs             []*ferryv1.RunOutput
}

// export runs an export of s and waits for it to end.
func (p *pipe) export(tb testing.TB, s *ferryv1.ExportProfileSpec, tmpl *ferryv1.TemplateSpec) result {
	ctx := context.Background()
	run := uuid.New()
	if _, err := p.pool.Exec(ctx, `INSERT INTO ferry.runs (id, tenant_id, export_profile_id, profile_name, profile_version, dataset_name,
		trigger, status, kind, snapshot) VALUES ($1, $2, $3, 'p', 1, 'people', 'manual', 'queued', 'export', '')`, run, p.tenant, p.profile); err != nil {
		tb.Fatal(err)
	}
	if tmpl == nil {
		tmpl = &ferryv1.TemplateSpec{}
	}
	snap := &ferryv1.ExportSnapshot{TenantId: p.tenant.String(), RunId: run.String(), Profile: "p", ProfileVersion: 1,
		Spec: s, Template: tmpl, Dataset: p.ds, Schema: "tenant_t", Table: "people", CreateTime: timestamppb.Now()}
	if err := bus.Publish(ctx, p.js, bus.ExportCommandSubject(p.tenant.String()), "export/"+run.String(),
		&ferryv1.ExportCommand{Run: snap}); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		var status, reason string
		var outputs []byte
		if err := p.pool.QueryRow(ctx, `SELECT status, error, coalesce(outputs::text, '{}') FROM ferry.runs WHERE id = $1`, run).
			Scan(&status, &reason, &outputs); err != nil {
			tb.Fatal(err)
		}
		if status == "succeeded" || status == "failed" {
			var outs ferryv1.RunOutputs
			if err := protojson.Unmarshal(outputs, &outs); err != nil {
				tb.Fatal(err)
			}
			return result{run: run.String(), status: status, reason: reason, outputs: outs.GetOutputs()}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("export run %s did not end", run)
	return result{}
}

// file reads an output of a run.
func (p *pipe) file(tb testing.TB, run, name string) []byte {
	r, err := p.files.Get(context.Background(), "exports/"+run+"/"+name)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
