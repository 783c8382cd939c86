package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/testkit"
)

const eventResources = `apiVersion: ferry.dev/v1
kind: Dataset
metadata:
  name: people
spec:
  fields:
    - {name: id, type: string, required: true}
    - {name: name, type: string, required: true}
    - {name: amount, type: decimal}
  key: [id]
`

// TestChangeEventsEndToEnd publishes change events to the server's embedded
// NATS server as an upstream system would: out of order, repeated, invalid,
// for another tenant, as protobuf, and a delete overtaken by an older
// upsert.
func TestChangeEventsEndToEnd(t *testing.T) {
	db := testkit.Database(t, true)
	natsAddr := freeAddr(t)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir(), "--nats-listen", natsAddr)
	path := filepath.Join(t.TempDir(), "events.yaml")
	require.NoError(t, os.WriteFile(path, []byte(eventResources), 0o600))
	out, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", path)
	require.Zero(t, code, errOut)
	require.Contains(t, out, "dataset/people")
	// The event import profile through the API (ferry apply does not read
	// spec.events yet).
	cl := dial(t, srv.GRPCAddr, srv.Key)
	spec := &ferryv1.ImportProfileSpec{Dataset: "people", Status: ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE,
		Events: &ferryv1.EventImport{BatchSize: 50, BatchWindowMs: 300}}
	_, err := cl.IP.ApplyImportProfile(cl.ctx(t), &ferryv1.ApplyImportProfileRequest{Name: "people-events", Spec: spec})
	require.NoError(t, err)

	ctx := context.Background()
	nc, err := nats.Connect("nats://" + natsAddr)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	subject := bus.EventSubject("default", "people")
	publish := func(data []byte, contentType string) {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Data = data
		if contentType != "" {
			m.Header.Set("Content-Type", contentType)
		}
		_, err := js.PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	publishJSON := func(ev map[string]any) {
		t.Helper()
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		publish(b, "")
	}
	up := func(id string, version int, eventID, name string) map[string]any {
		return map[string]any{"op": "upsert", "key": map[string]any{"id": id}, "fields": map[string]any{"name": name},
			"event_id": eventID, "version": version}
	}

	publishJSON(up("007", 2, "e2", "Two"))
	publishJSON(up("007", 1, "e1", "One"))       // older: ignored
	publishJSON(up("007", 3, "e2", "Duplicate")) // repeated id: ignored
	publish([]byte(`{"op":"upsert","key":{"id":"big"},"fields":{"name":"Big","amount":12345678901234567.89},"event_id":"b1","version":1}`), "application/json")
	publishJSON(map[string]any{"op": "upsert", "key": map[string]any{"id": "bad"}, "fields": map[string]any{"name": "Bad", "amount": "abc"},
		"event_id": "x1", "version": 1})
	wrong := up("other", 1, "x2", "Other")
	wrong["tenant"] = "acme"
	publishJSON(wrong)
	pb, err := proto.Marshal(&ferryv1.ChangeEvent{Op: "upsert", Key: map[string]string{"id": "0001"}, Fields: map[string]string{"name": "Proto", "amount": "0.10"},
		EventId: "p1", Version: 1, Tenant: "default"})
	require.NoError(t, err)
	publish(pb, "application/protobuf")
	publishJSON(map[string]any{"op": "delete", "key": map[string]any{"id": "gone"}, "event_id": "g5", "version": 5})
	publishJSON(up("gone", 4, "g4", "Resurrected?"))

	conn, err := pgx.Connect(ctx, db)
	require.NoError(t, err)
	defer conn.Close(ctx)
	// The profile shows its counters.
	var shown *ferryv1.ImportProfile
	require.Eventually(t, func() bool {
		resp, err := cl.IP.GetImportProfile(cl.ctx(t), &ferryv1.GetImportProfileRequest{Name: "people-events"})
		require.NoError(t, err)
		shown = resp.GetProfile()
		return shown.GetEventsApplied()+shown.GetEventsRejected()+shown.GetEventsIgnored() == 9
	}, 30*time.Second, 50*time.Millisecond, "counters %v", shown)
	require.EqualValues(t, 4, shown.GetEventsApplied()) // 007 v2, big, 0001, gone (deleted)
	require.EqualValues(t, 2, shown.GetEventsRejected())
	require.EqualValues(t, 3, shown.GetEventsIgnored())

	rows, err := conn.Query(ctx, `SELECT id, name, coalesce(amount::text, ''), _ferry_deleted_at IS NOT NULL, _ferry_version FROM tenant_default.people ORDER BY id`)
	require.NoError(t, err)
	type stored struct {
		id, name, amount string
		deleted          bool
		version          int64
	}
	var got []stored
	for rows.Next() {
		var s stored
		var name *string
		require.NoError(t, rows.Scan(&s.id, &name, &s.amount, &s.deleted, &s.version))
		if name != nil {
			s.name = *name
		}
		got = append(got, s)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []stored{
		{id: "0001", name: "Proto", amount: "0.10", version: 1},
		{id: "007", name: "Two", version: 2},
		{id: "big", name: "Big", amount: "12345678901234567.89", version: 1},
		{id: "gone", deleted: true, version: 5},
	}, got)

	// The refused events are on the dead-letter subject with reasons.
	c, err := js.OrderedConsumer(ctx, bus.StreamDeadLetter, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.DeadLetterSubject("default", "people")}})
	require.NoError(t, err)
	// A draft profile applies nothing: the event is dead-lettered.
	spec.Status = ferryv1.ProfileStatus_PROFILE_STATUS_DRAFT
	_, err = cl.IP.ApplyImportProfile(cl.ctx(t), &ferryv1.ApplyImportProfileRequest{Name: "people-events", Spec: spec})
	require.NoError(t, err)
	publishJSON(up("draft", 1, "d1", "Draft"))
	batch, err := c.Fetch(3, jetstream.FetchMaxWait(10*time.Second))
	require.NoError(t, err)
	var reasons, profiles []string
	for m := range batch.Messages() {
		var dl ferryv1.DeadLetter
		require.NoError(t, proto.Unmarshal(m.Data(), &dl))
		require.Equal(t, subject, dl.GetSubject())
		reasons, profiles = append(reasons, dl.GetReason()), append(profiles, dl.GetProfile())
	}
	require.Equal(t, []string{"people-events", "people-events", ""}, profiles)
	require.Len(t, reasons, 3)
	require.Contains(t, reasons[0], `field "amount" value "abc"`)
	require.Equal(t, "event names tenant acme but was published for tenant default", reasons[1])
	require.Equal(t, "no active event import profile for dataset people", reasons[2])
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM tenant_default.people WHERE id = 'draft'`).Scan(&n))
	require.Zero(t, n)
}
