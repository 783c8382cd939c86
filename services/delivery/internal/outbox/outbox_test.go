package outbox

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/orchestration"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/libs/testkit"
)

type fixture struct {
	pool   *pgxpool.Pool
	js     jetstream.JetStream
	tenant uuid.UUID
}

func newFixture(t *testing.T) *fixture {
	ctx := context.Background()
	pool := storetest.Open(t)
	f := &fixture{pool: pool, tenant: uuid.New()}
	_, err := pool.Exec(ctx, `INSERT INTO ferry.tenants (id, name, schema_name) VALUES ($1, 'acme', 'tenant_acme')`, f.tenant)
	require.NoError(t, err)
	_, f.js = testkit.JetStream(t)
	return f
}

// write commits changes of dataset people in one transaction, or rolls
// them back.
func (f *fixture) write(t *testing.T, commit bool, changes ...orchestration.Change) {
	ctx := context.Background()
	tx, err := f.pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, orchestration.WriteChanges(ctx, tx, orchestration.Feed{TenantID: f.tenant, Dataset: "people", RunID: uuid.New(), Profile: "people-csv"}, changes))
	if commit {
		require.NoError(t, tx.Commit(ctx))
	} else {
		require.NoError(t, tx.Rollback(ctx))
	}
}

// relay runs a relay until the returned stop is called.
func (f *fixture) relay(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := &Relay{Pool: f.pool, JS: f.js, Log: testkit.Log(t), Poll: 200 * time.Millisecond}
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// feed reads every change the stream holds, in order.
func (f *fixture) feed(t *testing.T) []*ferryv1.ChangeFeedEvent {
	ctx := context.Background()
	cons, err := f.js.OrderedConsumer(ctx, bus.StreamChanges, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"ferry.changes.>"}})
	require.NoError(t, err)
	var out []*ferryv1.ChangeFeedEvent
	for {
		batch, err := cons.FetchNoWait(100)
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			n++
			var ev ferryv1.ChangeFeedEvent
			require.NoError(t, proto.Unmarshal(m.Data(), &ev))
			require.Equal(t, bus.ChangeSubject("acme", "people"), m.Subject())
			require.Equal(t, MsgID(ev.GetSeq()), m.Headers().Get(jetstream.MsgIDHeader))
			out = append(out, &ev)
		}
		if n == 0 {
			return out
		}
	}
}

func (f *fixture) pending(t *testing.T) int {
	var n int
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM ferry.change_outbox`).Scan(&n))
	return n
}

// waitFeed waits until the stream holds n changes and the outbox is empty.
func (f *fixture) waitFeed(t *testing.T, n int) []*ferryv1.ChangeFeedEvent {
	var evs []*ferryv1.ChangeFeedEvent
	require.Eventually(t, func() bool {
		evs = f.feed(t)
		return len(evs) >= n && f.pending(t) == 0
	}, 10*time.Second, 50*time.Millisecond)
	return evs
}

func change(op, id, name string) orchestration.Change {
	c := orchestration.Change{Op: op, Key: map[string]string{"id": id}}
	if op != orchestration.OpDelete {
		c.Fields = map[string]string{"id": id, "name": name}
	}
	return c
}

func describe(evs []*ferryv1.ChangeFeedEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s %s %s", ev.GetOp(), ev.GetKey()["id"], ev.GetFields()["name"]))
	}
	return out
}

// TestChangesPublishedInOrder: committed changes reach the stream in seq
// order, with their ops, keys and fields, and leave the outbox; a
// rolled-back transaction publishes nothing.
func TestChangesPublishedInOrder(t *testing.T) {
	f := newFixture(t)
	f.relay(t)
	f.write(t, true, change("insert", "1", "Ada"), change("insert", "2", "Bob"))
	f.write(t, false, change("insert", "3", "Rolled back"))
	f.write(t, true, change("update", "1", "Ada L."), change("delete", "2", ""))
	evs := f.waitFeed(t, 4)
	require.Equal(t, []string{"insert 1 Ada", "insert 2 Bob", "update 1 Ada L.", "delete 2 "}, describe(evs))
	for i, ev := range evs {
		require.Equal(t, "acme", ev.GetTenant())
		require.Equal(t, "people", ev.GetDataset())
		require.Equal(t, "people-csv", ev.GetProfile())
		require.NotEmpty(t, ev.GetRun())
		require.NotNil(t, ev.GetCommitTime())
		if i > 0 {
			require.Greater(t, ev.GetSeq(), evs[i-1].GetSeq())
		}
	}
	require.Empty(t, evs[3].GetFields(), "a delete carries no fields")
	// Nothing more arrives: the rolled-back change is not in the outbox.
	time.Sleep(500 * time.Millisecond)
	require.Len(t, f.feed(t), 4)
}

// TestCrashBetweenCommitAndPublish: changes committed while no relay runs
// stay in the outbox and are published when a relay starts again; a
// relay that published and crashed before deleting publishes again, and
// the stream keeps each change once.
func TestCrashBetweenCommitAndPublish(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// The process stopped after the apply committed: nothing relayed yet.
	f.write(t, true, change("insert", "1", "Ada"), change("insert", "2", "Bob"))
	require.Equal(t, 2, f.pending(t))
	require.Empty(t, f.feed(t))

	// A relay published the first rows and crashed before deleting them:
	// they are still in the outbox.
	conn, err := f.pool.Acquire(ctx)
	require.NoError(t, err)
	rows, err := conn.Query(ctx, `SELECT seq FROM ferry.change_outbox ORDER BY seq`)
	require.NoError(t, err)
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	conn.Release()
	require.NoError(t, bus.Publish(ctx, f.js, bus.ChangeSubject("acme", "people"), MsgID(seqs[0]),
		&ferryv1.ChangeFeedEvent{Tenant: "acme", Dataset: "people", Op: "insert", Key: map[string]string{"id": "1"}, Seq: seqs[0]}))

	// Restarted, the relay publishes everything once.
	stop := f.relay(t)
	evs := f.waitFeed(t, 2)
	require.Equal(t, []int64{seqs[0], seqs[1]}, []int64{evs[0].GetSeq(), evs[1].GetSeq()})
	require.Len(t, evs, 2, "the change published before the crash is stored once")
	stop()

	// Stopped again between commit and publish: the next relay sends it.
	f.write(t, true, change("update", "2", "Bob B."))
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, 1, f.pending(t))
	f.relay(t)
	evs = f.waitFeed(t, 3)
	require.Len(t, evs, 3)
	require.Equal(t, "update 2 Bob B.", describe(evs)[2])
}

// TestOneRelayAtATime: two relays share the outbox without publishing a
// change twice or out of order.
func TestOneRelayAtATime(t *testing.T) {
	f := newFixture(t)
	f.relay(t)
	f.relay(t)
	for i := range 20 {
		f.write(t, true, change("insert", fmt.Sprint(i), "n"))
	}
	evs := f.waitFeed(t, 20)
	require.Len(t, evs, 20)
	for i, ev := range evs {
		require.Equal(t, fmt.Sprint(i), ev.GetKey()["id"])
	}
}
