package triggers

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/libs/testkit"
	"github.com/ferrydata/ferry/services/profile/internal/coordinator"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

type fixture struct {
	st  *store.Store
	p   auth.Principal
	js  jetstream.JetStream
	eng *Engine
}

// newFixture returns an engine on a store with dataset users, import
// profile users-csv and the active export profile extract that runs after
// it.
func newFixture(t *testing.T) *fixture {
	ctx := context.Background()
	pool := storetest.Open(t)
	p := storetest.Tenant(t, pool, "acme")
	_, err := pool.Exec(ctx, `CREATE SCHEMA `+p.Schema)
	require.NoError(t, err)
	st := store.New(pool)
	_, err = st.CreateDataset(ctx, p, &ferryv1.Dataset{Name: "users", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true}}})
	require.NoError(t, err)
	_, _, err = st.ApplyProfile(ctx, p, "users-csv", &ferryv1.ImportProfileSpec{Dataset: "users"})
	require.NoError(t, err)
	_, _, err = st.ApplyExportProfile(ctx, p, "extract", &ferryv1.ExportProfileSpec{Dataset: "users", FileName: "users.csv",
		Status: ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, Triggers: &ferryv1.Triggers{After: []*ferryv1.RunEndedTrigger{{Profile: "users-csv"}}}})
	require.NoError(t, err)

	nc, js := testkit.JetStream(t)
	coord := coordinator.New(st, nc, js, testkit.Log(t), 5*time.Second)
	eng := New(st, coord, js, testkit.Log(t), Config{Tick: 100 * time.Millisecond, AckWait: 5 * time.Second, RepublishAfter: time.Millisecond})
	require.NoError(t, eng.Starting(ctx))
	return &fixture{st: st, p: p, js: js, eng: eng}
}

// commands returns the run ids of the export commands the stream holds
// (read by sequence: the commands stream is a work queue).
func (f *fixture) commands(t *testing.T) []string {
	ctx := context.Background()
	st, err := f.js.Stream(ctx, bus.StreamCommands)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var cmd ferryv1.ExportCommand
		require.NoError(t, proto.Unmarshal(m.Data, &cmd))
		out = append(out, cmd.GetRun().GetRunId())
	}
	return out
}

// TestRunEventStartsExportOnce: a lifecycle event, delivered twice, starts
// one export run and publishes its command once.
func TestRunEventStartsExportOnce(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.eng.Running(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	run := &ferryv1.Run{Id: uuid.NewString(), Profile: "users-csv", Kind: ferryv1.RunKind_RUN_KIND_IMPORT, Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED}
	subject := bus.RunEventSubject(f.p.TenantID.String(), "users-csv", "succeeded")
	// Two message ids: the stream keeps both, as after a republish past the
	// duplicate window.
	require.NoError(t, bus.Publish(ctx, f.js, subject, "a", &ferryv1.RunEvent{TenantId: f.p.TenantID.String(), Run: run}))
	require.NoError(t, bus.Publish(ctx, f.js, subject, "b", &ferryv1.RunEvent{TenantId: f.p.TenantID.String(), Run: run}))
	var cmds []string
	require.Eventually(t, func() bool {
		cmds = f.commands(t)
		return len(cmds) > 0
	}, 10*time.Second, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	cmds = f.commands(t)
	require.Len(t, cmds, 1)
	r, err := f.st.GetRun(ctx, f.p, cmds[0])
	require.NoError(t, err)
	require.Equal(t, "extract", r.GetProfile())
	require.Equal(t, ferryv1.RunTrigger_RUN_TRIGGER_EVENT, r.GetTrigger())
}

// TestCrashBeforePublishRepublishes: a run a trigger created whose command
// was never published (the process stopped after the commit) is published
// by a later tick.
func TestCrashBeforePublishRepublishes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	run := &ferryv1.Run{Id: uuid.NewString(), Profile: "users-csv", Kind: ferryv1.RunKind_RUN_KIND_IMPORT, Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED}
	fired, err := f.st.RunEnded(ctx, f.p.TenantID.String(), run)
	require.NoError(t, err)
	require.Len(t, fired, 1)
	require.Empty(t, f.commands(t))

	time.Sleep(10 * time.Millisecond)
	f.eng.Tick(ctx)
	require.Equal(t, []string{fired[0].Snap.GetRunId()}, f.commands(t))
	f.eng.Tick(ctx)
	require.Len(t, f.commands(t), 1, "published again within the duplicate window, stored once")
}
