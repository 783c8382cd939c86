package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/libs/telemetry/telemetrytest"
	"github.com/ferrydata/ferry/libs/testkit"
)

// fixture is tenant acme with the dataset `people (id text key, name
// text, amount decimal, born date)` and its event import profile, in a
// database and a JetStream server of the test's own.
type fixture struct {
	pool    *pgxpool.Pool
	js      jetstream.JetStream
	nc      *nats.Conn
	a       *Applier
	tenant  uuid.UUID
	profile uuid.UUID
	seq     uint64
}

var people = &ferryv1.Dataset{Name: "people", Key: []string{"id"}, Fields: []*ferryv1.Field{
	{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING},
	{Name: "name", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true},
	{Name: "amount", Type: ferryv1.FieldType_FIELD_TYPE_DECIMAL},
	{Name: "born", Type: ferryv1.FieldType_FIELD_TYPE_DATE},
}}

func activeSpec() *ferryv1.ImportProfileSpec {
	return &ferryv1.ImportProfileSpec{Dataset: "people", Status: ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE,
		Events: &ferryv1.EventImport{BatchSize: 3, BatchWindowMs: 200}}
}

func newFixture(t *testing.T, spec *ferryv1.ImportProfileSpec) *fixture {
	ctx := context.Background()
	pool := storetest.Open(t)
	nc, js := testkit.JetStream(t)
	f := &fixture{pool: pool, js: js, nc: nc, tenant: uuid.New(), profile: uuid.New()}
	f.a = &Applier{Pool: pool, JS: js, Log: testkit.Log(t)}
	def, err := protojson.Marshal(&ferryv1.Dataset{Fields: people.GetFields(), Key: people.GetKey()})
	require.NoError(t, err)
	specJSON, err := protojson.Marshal(spec)
	require.NoError(t, err)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO ferry.tenants (id, name, schema_name) VALUES ($1, 'acme', 'tenant_acme')`, []any{f.tenant}},
		{`CREATE SCHEMA tenant_acme`, nil},
		{`CREATE TABLE tenant_acme.people (id text NOT NULL PRIMARY KEY, name text, amount numeric, born date,
			_ferry_created_at timestamptz NOT NULL DEFAULT now(), _ferry_updated_at timestamptz NOT NULL DEFAULT now(),
			_ferry_run uuid NOT NULL, _ferry_run_seq bigint NOT NULL, _ferry_row bigint NOT NULL,
			_ferry_xid xid8 NOT NULL DEFAULT pg_current_xact_id(), _ferry_deleted_at timestamptz,
			_ferry_created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(), _ferry_version bigint)`, nil},
		{`INSERT INTO ferry.datasets (id, tenant_id, name, version, definition, table_name) VALUES ($1, $2, 'people', 1, $3, 'tenant_acme.people')`,
			[]any{uuid.New(), f.tenant, def}},
		{`INSERT INTO ferry.import_profiles (id, tenant_id, name, current_version) VALUES ($1, $2, 'people-events', 1)`, []any{f.profile, f.tenant}},
		{`INSERT INTO ferry.import_profile_versions (tenant_id, profile_id, version, spec) VALUES ($1, $2, 1, $3)`, []any{f.tenant, f.profile, specJSON}},
	} {
		_, err := pool.Exec(ctx, q.sql, q.args...)
		require.NoError(t, err, q.sql)
	}
	return f
}

// msg is a JSON event as the next message of the stream.
func (f *fixture) msg(t testing.TB, ev map[string]any) Message {
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	return f.raw(b, "")
}

func (f *fixture) raw(data []byte, contentType string) Message {
	f.seq++
	return Message{Subject: bus.EventSubject("acme", "people"), Data: data, ContentType: contentType, StreamSeq: f.seq}
}

func upsert(id string, version int, eventID, name string) map[string]any {
	return map[string]any{"op": "upsert", "key": map[string]any{"id": id}, "fields": map[string]any{"name": name},
		"event_id": eventID, "version": version}
}

func (f *fixture) apply(t testing.TB, msgs ...Message) Outcome {
	out, err := f.a.Apply(context.Background(), "acme", "people", msgs)
	require.NoError(t, err)
	return out
}

// row is a stored row: name, amount as text, deleted, version; nil when absent.
type row struct {
	name, amount string
	deleted      bool
	version      int64
}

func (f *fixture) row(t testing.TB, id string) *row {
	rows, err := f.pool.Query(context.Background(), `SELECT coalesce(name, ''), coalesce(amount::text, ''), _ferry_deleted_at IS NOT NULL,
		coalesce(_ferry_version, 0) FROM tenant_acme.people WHERE id = $1`, id)
	require.NoError(t, err)
	defer rows.Close()
	if !rows.Next() {
		return nil
	}
	var r row
	require.NoError(t, rows.Scan(&r.name, &r.amount, &r.deleted, &r.version))
	return &r
}

func (f *fixture) counts(t testing.TB) [3]int64 {
	var c [3]int64
	err := f.pool.QueryRow(context.Background(), `SELECT coalesce(sum(applied), 0), coalesce(sum(rejected), 0), coalesce(sum(ignored), 0)
		FROM ferry.event_import_counts WHERE profile_id = $1`, f.profile).Scan(&c[0], &c[1], &c[2])
	require.NoError(t, err)
	return c
}

// deadLetters reads the dead letters published so far.
func (f *fixture) deadLetters(t testing.TB) []*ferryv1.DeadLetter {
	ctx := context.Background()
	c, err := f.js.OrderedConsumer(ctx, bus.StreamDeadLetter, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	info, err := f.js.Stream(ctx, bus.StreamDeadLetter)
	require.NoError(t, err)
	n := int(info.CachedInfo().State.Msgs)
	var out []*ferryv1.DeadLetter
	if n == 0 {
		return nil
	}
	b, err := c.Fetch(n, jetstream.FetchMaxWait(2*time.Second))
	require.NoError(t, err)
	for m := range b.Messages() {
		var dl ferryv1.DeadLetter
		require.NoError(t, proto.Unmarshal(m.Data(), &dl))
		require.Equal(t, bus.DeadLetterSubject("acme", "people"), m.Subject())
		out = append(out, &dl)
	}
	return out
}

func TestOutOfOrderVersions(t *testing.T) {
	f := newFixture(t, activeSpec())
	out := f.apply(t, f.msg(t, upsert("1", 2, "e2", "Two")))
	require.EqualValues(t, 1, out.Applied)
	// An older version arriving later, in another batch and in the same one.
	out = f.apply(t, f.msg(t, upsert("1", 1, "e1", "One")))
	require.EqualValues(t, 0, out.Applied)
	require.EqualValues(t, 1, out.Ignored)
	require.Equal(t, &row{name: "Two", version: 2}, f.row(t, "1"))
	out = f.apply(t, f.msg(t, upsert("2", 5, "e5", "Five")), f.msg(t, upsert("2", 4, "e4", "Four")), f.msg(t, upsert("2", 6, "e6", "Six")))
	require.EqualValues(t, 2, out.Applied)
	require.EqualValues(t, 1, out.Ignored)
	require.Equal(t, &row{name: "Six", version: 6}, f.row(t, "2"))
	// An equal version is not newer.
	out = f.apply(t, f.msg(t, upsert("2", 6, "e6b", "Other")))
	require.EqualValues(t, 1, out.Ignored)
	require.Equal(t, "Six", f.row(t, "2").name)
	require.Equal(t, [3]int64{3, 0, 3}, f.counts(t))
}

func TestDuplicateEventIDs(t *testing.T) {
	f := newFixture(t, activeSpec())
	first := f.msg(t, upsert("1", 1, "e1", "One"))
	f.apply(t, first)
	// The same id published again with a newer version changes nothing.
	out := f.apply(t, f.msg(t, upsert("1", 9, "e1", "Changed")))
	require.EqualValues(t, 0, out.Applied)
	require.EqualValues(t, 1, out.Ignored)
	require.Equal(t, &row{name: "One", version: 1}, f.row(t, "1"))
	// Twice in one batch: the first one applies.
	out = f.apply(t, f.msg(t, upsert("3", 1, "e3", "Three")), f.msg(t, upsert("3", 2, "e3", "Again")))
	require.EqualValues(t, 1, out.Applied)
	require.EqualValues(t, 1, out.Ignored)
	require.Equal(t, "Three", f.row(t, "3").name)
	// A redelivery (same stream sequence) of a committed batch is not
	// counted again.
	out = f.apply(t, first)
	require.EqualValues(t, 1, out.Redelivered)
	require.Zero(t, out.Applied+out.Ignored+out.Rejected)
	require.Equal(t, [3]int64{2, 0, 2}, f.counts(t))
	var xid1, xid2 string
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT _ferry_xid::text FROM tenant_acme.people WHERE id = '1'`).Scan(&xid1))
	f.apply(t, f.msg(t, upsert("1", 1, "e1", "One")))
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT _ferry_xid::text FROM tenant_acme.people WHERE id = '1'`).Scan(&xid2))
	require.Equal(t, xid1, xid2, "a repeated event does not touch the row")
}

func TestDeleteThenOlderUpsert(t *testing.T) {
	f := newFixture(t, activeSpec())
	f.apply(t, f.msg(t, upsert("1", 1, "a1", "One")))
	out := f.apply(t, f.msg(t, map[string]any{"op": "delete", "key": map[string]any{"id": "1"}, "event_id": "a3", "version": 3}))
	require.EqualValues(t, 1, out.Applied)
	require.Equal(t, &row{name: "One", deleted: true, version: 3}, f.row(t, "1"))
	out = f.apply(t, f.msg(t, upsert("1", 2, "a2", "Late")))
	require.EqualValues(t, 1, out.Ignored)
	require.Equal(t, &row{name: "One", deleted: true, version: 3}, f.row(t, "1"))
	// A delete of a key never seen keeps the version: the older upsert stays out.
	f.apply(t, f.msg(t, map[string]any{"op": "delete", "key": map[string]any{"id": "9"}, "event_id": "b5", "version": 5}))
	f.apply(t, f.msg(t, upsert("9", 4, "b4", "Old")))
	r := f.row(t, "9")
	require.True(t, r.deleted)
	require.Equal(t, "", r.name)
	// A newer upsert brings a deleted key back.
	f.apply(t, f.msg(t, upsert("1", 4, "a4", "Back")))
	require.Equal(t, &row{name: "Back", version: 4}, f.row(t, "1"))
}

func TestInvalidEventsAreDeadLettered(t *testing.T) {
	f := newFixture(t, activeSpec())
	bad := map[string]any{"op": "upsert", "key": map[string]any{"id": "1"}, "fields": map[string]any{"name": "A", "amount": "12x"},
		"event_id": "x1", "version": 1}
	wrongTenant := upsert("2", 1, "x2", "B")
	wrongTenant["tenant"] = "globex"
	out := f.apply(t,
		f.msg(t, bad),
		f.msg(t, wrongTenant),
		f.msg(t, map[string]any{"op": "upsert", "key": map[string]any{"id": "3"}, "fields": map[string]any{"amount": 1}, "event_id": "x3", "version": 1}),
		f.raw([]byte(`{"op":"merge","key":{"id":"4"},"event_id":"x4","version":1}`), ""),
		f.raw([]byte(`{"op":"upsert","key":{"id":"5"},"fields":{"name":"E"},"event_id":"x5"}`), ""),
		f.msg(t, upsert("6", 1, "x6", "Good")),
	)
	require.EqualValues(t, 1, out.Applied)
	require.EqualValues(t, 5, out.Rejected)
	require.Nil(t, f.row(t, "1"))
	require.Nil(t, f.row(t, "2"))
	require.NotNil(t, f.row(t, "6"))
	dls := f.deadLetters(t)
	require.Len(t, dls, 5)
	require.Contains(t, dls[0].GetReason(), `field "amount" value "12x"`)
	require.Contains(t, dls[0].GetReason(), "rule type")
	require.Equal(t, "people-events", dls[0].GetProfile())
	require.Equal(t, bus.EventSubject("acme", "people"), dls[0].GetSubject())
	require.JSONEq(t, mustJSON(t, bad), string(dls[0].GetPayload()))
	require.Equal(t, "event names tenant globex but was published for tenant acme", dls[1].GetReason())
	require.Equal(t, `required field "name" is missing from the event's fields`, dls[2].GetReason())
	require.Contains(t, dls[3].GetReason(), `op "merge"`)
	require.Contains(t, dls[4].GetReason(), "neither a version nor a timestamp")
	require.Equal(t, [3]int64{1, 5, 0}, f.counts(t))
	// The rejected id may come again, fixed.
	bad["fields"] = map[string]any{"name": "A", "amount": "12"}
	out = f.apply(t, f.msg(t, bad))
	require.EqualValues(t, 1, out.Applied)
	require.Equal(t, "12", f.row(t, "1").amount)
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestPrecisionAndLeadingZeros(t *testing.T) {
	f := newFixture(t, activeSpec())
	data := []byte(`{"op":"upsert","key":{"id":"007"},"fields":{"name":"Bond","amount":12345678901234567.89,"born":null},
		"event_id":"p1","timestamp":"2024-05-01T12:00:00.123456Z"}`)
	out := f.apply(t, f.raw(data, "application/json"))
	require.EqualValues(t, 1, out.Applied, out.Reasons)
	r := f.row(t, "007")
	require.Equal(t, "12345678901234567.89", r.amount)
	require.Equal(t, time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC).UnixMicro(), r.version)
	require.Nil(t, f.row(t, "7"))
}

func TestProtobufEvents(t *testing.T) {
	f := newFixture(t, activeSpec())
	ev := &ferryv1.ChangeEvent{Op: "upsert", Key: map[string]string{"id": "0042"}, Fields: map[string]string{"name": "Proto", "amount": "1.50"},
		EventId: "pb1", Timestamp: timestamppb.New(time.Unix(1700000000, 0)), Tenant: "acme"}
	data, err := proto.Marshal(ev)
	require.NoError(t, err)
	out := f.apply(t, f.raw(data, "application/x-protobuf"))
	require.EqualValues(t, 1, out.Applied, out.Reasons)
	// Without a content type too.
	ev.Key["id"], ev.EventId = "0043", "pb2"
	data, err = proto.Marshal(ev)
	require.NoError(t, err)
	out = f.apply(t, f.raw(data, ""))
	require.EqualValues(t, 1, out.Applied, out.Reasons)
	require.Equal(t, &row{name: "Proto", amount: "1.50", version: 1700000000 * 1_000_000}, f.row(t, "0042"))
	require.NotNil(t, f.row(t, "0043"))
}

func TestDraftProfileDeadLetters(t *testing.T) {
	spec := activeSpec()
	spec.Status = ferryv1.ProfileStatus_PROFILE_STATUS_DRAFT
	f := newFixture(t, spec)
	out := f.apply(t, f.msg(t, upsert("1", 1, "d1", "Draft")))
	require.EqualValues(t, 1, out.Rejected)
	require.Nil(t, f.row(t, "1"))
	dls := f.deadLetters(t)
	require.Len(t, dls, 1)
	require.Equal(t, "no active event import profile for dataset people", dls[0].GetReason())
}

func TestMappingsAndRulesApply(t *testing.T) {
	spec := activeSpec()
	spec.Mappings = []*ferryv1.FieldMapping{
		{Field: "id", Column: "person_id"},
		{Field: "name", Column: "full_name", Expr: "upper(value)"},
		{Field: "amount", Column: "amount", BlankKeepsExisting: true},
	}
	f := newFixture(t, spec)
	ev := map[string]any{"op": "upsert", "key": map[string]any{"person_id": "1"}, "fields": map[string]any{"full_name": "ann", "amount": "3"},
		"event_id": "m1", "version": 1}
	out := f.apply(t, f.msg(t, ev))
	require.EqualValues(t, 1, out.Applied, out.Reasons)
	ev = map[string]any{"op": "upsert", "key": map[string]any{"person_id": "1"}, "fields": map[string]any{"full_name": "ann b", "amount": nil},
		"event_id": "m2", "version": 2}
	f.apply(t, f.msg(t, ev))
	require.Equal(t, &row{name: "ANN B", amount: "3", version: 2}, f.row(t, "1"))
	out = f.apply(t, f.msg(t, map[string]any{"op": "delete", "key": map[string]any{"person_id": "1"}, "event_id": "m3", "version": 3}))
	require.EqualValues(t, 1, out.Applied, out.Reasons)
	require.True(t, f.row(t, "1").deleted)
}

// TestConsumerBatches publishes through JetStream: a batch applies when it
// holds batch_size events or its window passed, in one transaction each.
func TestConsumerBatches(t *testing.T) {
	f := newFixture(t, activeSpec()) // batch size 3, window 200ms
	ctx, cons := f.consume(t)
	publish := func(ev map[string]any) {
		_, err := f.js.Publish(ctx, bus.EventSubject("acme", "people"), []byte(mustJSON(t, ev)))
		require.NoError(t, err)
	}
	runSeqs := func() map[int64]int {
		rows, err := f.pool.Query(ctx, `SELECT _ferry_run_seq FROM tenant_acme.people`)
		require.NoError(t, err)
		defer rows.Close()
		m := map[int64]int{}
		for rows.Next() {
			var s int64
			require.NoError(t, rows.Scan(&s))
			m[s]++
		}
		return m
	}
	// By count: three events apply together at once, well before a long window.
	for i := range 3 {
		publish(upsert(fmt.Sprint("c", i), 1, fmt.Sprint("c", i), "C"))
	}
	require.Eventually(t, func() bool { return f.counts(t)[0] == 3 }, 5*time.Second, 20*time.Millisecond)
	require.Len(t, runSeqs(), 1, "one batch, one transaction")
	// By window: two events wait for the window, then apply together.
	start := time.Now()
	publish(upsert("w1", 1, "w1", "W"))
	publish(upsert("w2", 1, "w2", "W"))
	require.Eventually(t, func() bool { return f.counts(t)[0] == 5 }, 5*time.Second, 10*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "the batch waited for its window")
	require.Len(t, runSeqs(), 2)
	// Out of order and duplicate through the stream.
	publish(upsert("o", 2, "o2", "New"))
	publish(upsert("o", 1, "o1", "Old"))
	publish(upsert("o", 2, "o2", "New again"))
	require.Eventually(t, func() bool { return f.counts(t) == [3]int64{6, 0, 2} }, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, "New", f.row(t, "o").name)
	// Everything was acknowledged.
	require.Eventually(t, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, 5*time.Second, 20*time.Millisecond)
}

func TestDecodeJSONValues(t *testing.T) {
	ev, err := Decode([]byte(`{"op":"upsert","key":{"id":"0012"},"fields":{"n":1.10,"b":true,"z":null,"big":123456789012345678901234567890},"event_id":7,"version":3}`), "")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"n": "1.10", "b": "true", "z": "", "big": "123456789012345678901234567890"}, ev.Fields)
	require.Equal(t, "7", ev.ID)
	require.EqualValues(t, 3, ev.Order)
	for _, bad := range []string{
		`{"op":"upsert","key":{"id":"1"},"event_id":"e","version":1,"extra":1}`,
		`{"op":"upsert","key":{"id":{"a":1}},"event_id":"e","version":1}`,
		`{"op":"upsert","key":{"id":"1"},"event_id":"e","version":1.5}`,
		`{"op":"upsert","key":{},"event_id":"e","version":1}`,
		`{"op":"upsert","key":{"id":"1"},"version":1}`,
		`{"op":"upsert","key":{"id":"1"},"event_id":"e","timestamp":"yesterday"}`,
	} {
		_, err := Decode([]byte(bad), "")
		require.Error(t, err, bad)
	}
	_, err = Decode([]byte("not json"), "application/protobuf")
	require.Error(t, err)
	require.True(t, strings.HasPrefix(mustJSON(t, "x"), `"`))
}

func TestParseCopyLine(t *testing.T) {
	s := func(v string) *string { return &v }
	got, err := parseCopyLine([]byte(`"a",,"b""c","",7` + "\n"))
	require.NoError(t, err)
	require.Equal(t, []*string{s("a"), nil, s(`b"c`), s(""), s("7")}, got)
	got, err = parseCopyLine([]byte(`,` + "\n"))
	require.NoError(t, err)
	require.Equal(t, []*string{nil, nil}, got)
}

// TestRefusedByTheDatabase: an event PostgreSQL refuses is dead-lettered
// and the rest of its batch still applies.
func TestRefusedByTheDatabase(t *testing.T) {
	f := newFixture(t, activeSpec())
	_, err := f.pool.Exec(context.Background(), `ALTER TABLE tenant_acme.people ADD CONSTRAINT no_bad CHECK (name <> 'bad')`)
	require.NoError(t, err)
	out := f.apply(t, f.msg(t, upsert("1", 1, "r1", "good")), f.msg(t, upsert("2", 1, "r2", "bad")), f.msg(t, upsert("3", 1, "r3", "fine")))
	require.EqualValues(t, 2, out.Applied)
	require.EqualValues(t, 1, out.Rejected)
	require.Contains(t, out.Reasons[0], "the dataset refused the event")
	require.NotNil(t, f.row(t, "1"))
	require.Nil(t, f.row(t, "2"))
	require.NotNil(t, f.row(t, "3"))
	require.Equal(t, [3]int64{2, 1, 0}, f.counts(t))
}

// TestChangeFeedAndTriggers: a batch that applied something records a
// dataset change, and with publish_changes writes its changes to the
// outbox; a batch that applied nothing writes neither.
func TestChangeFeedAndTriggers(t *testing.T) {
	spec := activeSpec()
	spec.PublishChanges = true
	f := newFixture(t, spec)
	ctx := context.Background()
	count := func(sql string) int {
		var n int
		require.NoError(t, f.pool.QueryRow(ctx, sql).Scan(&n))
		return n
	}
	f.apply(t, f.msg(t, upsert("1", 2, "c1", "One")), f.msg(t, map[string]any{"op": "delete", "key": map[string]any{"id": "2"}, "event_id": "c2", "version": 1}))
	require.Equal(t, 1, count(`SELECT count(*) FROM ferry.dataset_changes WHERE dataset = 'people'`))
	require.Equal(t, 2, count(`SELECT count(*) FROM ferry.change_outbox WHERE dataset = 'people'`))
	require.Equal(t, 1, count(`SELECT count(*) FROM ferry.change_outbox WHERE op = 'insert' AND key->>'id' = '1' AND fields->>'name' = 'One'`))
	f.apply(t, f.msg(t, upsert("1", 1, "c3", "Old")))
	require.Equal(t, 1, count(`SELECT count(*) FROM ferry.dataset_changes WHERE dataset = 'people'`))
	require.Equal(t, 2, count(`SELECT count(*) FROM ferry.change_outbox WHERE dataset = 'people'`))
}

// TestTransientFailureRedelivers: a batch that fails for something other
// than its data is handed back unacknowledged and applied once it can be.
func TestTransientFailureRedelivers(t *testing.T) {
	f := newFixture(t, activeSpec())
	_, err := f.pool.Exec(context.Background(), `ALTER TABLE tenant_acme.people RENAME TO people_away`)
	require.NoError(t, err)
	ctx, cons := f.consume(t)
	_, err = f.js.Publish(ctx, bus.EventSubject("acme", "people"), []byte(mustJSON(t, upsert("1", 1, "t1", "One"))))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.Delivered.Consumer > 1
	}, 10*time.Second, 50*time.Millisecond, "the failed batch comes back")
	require.Equal(t, [3]int64{0, 0, 0}, f.counts(t))
	_, err = f.pool.Exec(ctx, `ALTER TABLE tenant_acme.people_away RENAME TO people`)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return f.counts(t)[0] == 1 }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, "One", f.row(t, "1").name)
	require.Empty(t, f.deadLetters(t))
}

// TestLargeBatch applies a full batch of distinct keys in one call.
func TestLargeBatch(t *testing.T) {
	f := newFixture(t, activeSpec())
	var msgs []Message
	for i := range DefaultBatchSize {
		msgs = append(msgs, f.msg(t, upsert(fmt.Sprintf("%05d", i), 1, fmt.Sprint("l", i), "L")))
	}
	start := time.Now()
	out := f.apply(t, msgs...)
	t.Logf("%d events in %v", len(msgs), time.Since(start))
	require.EqualValues(t, DefaultBatchSize, out.Applied)
	require.NotNil(t, f.row(t, "00499"))
}

func TestSplitSubject(t *testing.T) {
	for _, tc := range []struct {
		subject, tenant, dataset string
		ok                       bool
	}{
		{subject: "ferry.events.acme.people", tenant: "acme", dataset: "people", ok: true},
		{subject: "ferry.events.acme"},
		{subject: "ferry.events.acme.people.extra"},
		{subject: "ferry.changes.acme.people"},
	} {
		tenant, dataset, ok := SplitSubject(tc.subject)
		require.Equal(t, tc.ok, ok, tc.subject)
		require.Equal(t, tc.tenant, tenant)
		require.Equal(t, tc.dataset, dataset)
	}
}

// TestConsumerBatchSpan: a batch of change events is applied in one consumer
// span, linked to the span each event's publisher sent in its headers, with
// the batch's size and outcome.
func TestConsumerBatchSpan(t *testing.T) {
	rec, tel := telemetrytest.Install(t, nil)

	f := newFixture(t, activeSpec()) // batch size 3
	ctx, _ := f.consume(t)
	var sent []trace.SpanContext
	for i := range 3 {
		pctx, span := tel.Tracer().Start(context.Background(), "upstream publish")
		msg := nats.NewMsg(bus.EventSubject("acme", "people"))
		msg.Data = []byte(mustJSON(t, upsert(fmt.Sprint("s", i), 1, fmt.Sprint("s", i), "S")))
		if i < 2 { // the third publisher sends no trace context
			bus.InjectTrace(pctx, msg.Header)
			sent = append(sent, span.SpanContext())
		}
		_, err := f.js.PublishMsg(ctx, msg)
		require.NoError(t, err)
		span.End()
	}
	var batch sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, s := range rec.Ended() {
			if s.Name() == "delivery-events ferry.events" {
				batch = s
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, trace.SpanKindConsumer, batch.SpanKind())
	var linked []trace.SpanContext
	for _, l := range batch.Links() {
		require.True(t, l.SpanContext.IsRemote())
		linked = append(linked, l.SpanContext.WithRemote(false))
	}
	require.ElementsMatch(t, sent, linked, "linked to each publisher that sent a trace context")
	attrs := map[attribute.Key]attribute.Value{}
	for _, a := range batch.Attributes() {
		attrs[a.Key] = a.Value
	}
	require.EqualValues(t, 3, attrs["messaging.batch.message_count"].AsInt64())
	require.EqualValues(t, 3, attrs["ferry.events.applied"].AsInt64())
	require.Equal(t, "acme", attrs["ferry.tenant"].AsString())
	require.Equal(t, "people", attrs["ferry.dataset"].AsString())
}

// consume runs the change-event consumer until the test ends and returns a
// context that ends with it, and the durable consumer.
func (f *fixture) consume(t *testing.T) (context.Context, jetstream.Consumer) {
	ctx, cancel := context.WithCancel(context.Background())
	cons, err := EnsureConsumer(ctx, f.js, 30*time.Second)
	require.NoError(t, err)
	c := &Consumer{Applier: f.a, Consumer: cons, Log: testkit.Log(t), MaxWindow: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ctx, cons
}
