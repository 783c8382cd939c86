package coordinator

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/testkit"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// fakeRuns records what the coordinator asks of the store.
type fakeRuns struct {
	created []*ferryv1.RunCreateRequest

	mu        sync.Mutex
	applied   *store.RunRow     // what Applied returns
	announced map[string]string // run id to the status announced
}

func (f *fakeRuns) CreateRun(_ context.Context, req *ferryv1.RunCreateRequest) (*ferryv1.Run, *ferryv1.RunSnapshot, error) {
	f.created = append(f.created, req)
	if req.GetProfile() == "missing" {
		return nil, nil, errs.NotFound("import profile %q not found", req.GetProfile())
	}
	return &ferryv1.Run{Id: req.GetRunId()}, &ferryv1.RunSnapshot{RunId: req.GetRunId()}, nil
}
func (f *fakeRuns) MarkStarted(context.Context, string, *ferryv1.RunFile) error { return nil }
func (f *fakeRuns) SetManifest(context.Context, string, int64) error            { return nil }
func (f *fakeRuns) MarkFailed(context.Context, string, string) (*store.RunRow, error) {
	return nil, nil
}
func (f *fakeRuns) Refresh(context.Context, string) (*ferryv1.RunSnapshot, error) { return nil, nil }
func (f *fakeRuns) Applied(context.Context, string) (*store.RunRow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, nil
}

func (f *fakeRuns) Announced(_ context.Context, runID, status string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.announced[runID] == status, nil
}

func (f *fakeRuns) MarkAnnounced(_ context.Context, runID, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.announced == nil {
		f.announced = map[string]string{}
	}
	f.announced[runID] = status
	return nil
}

func TestRunCreateChecksTenantOfSubject(t *testing.T) {
	ns := testkit.NATS(t)
	nc, err := bus.Connect("", ns, "test", testkit.Log(t))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	runs := &fakeRuns{}
	c := New(runs, nc, js, testkit.Log(t), time.Second)
	require.NoError(t, c.Starting(context.Background()))
	defer c.Stopping(context.Background())

	ask := func(subject string, req *ferryv1.RunCreateRequest) *ferryv1.RunCreateReply {
		data, err := proto.Marshal(req)
		require.NoError(t, err)
		m, err := nc.Request(subject, data, 5*time.Second)
		require.NoError(t, err)
		var reply ferryv1.RunCreateReply
		require.NoError(t, proto.Unmarshal(m.Data, &reply))
		return &reply
	}
	ok := ask(bus.RunCreateSubject("tenant-a"), &ferryv1.RunCreateRequest{TenantId: "tenant-a", RunId: "r1", Profile: "p"})
	require.Zero(t, ok.GetCode())
	require.Equal(t, "r1", ok.GetRun().GetId())

	missing := ask(bus.RunCreateSubject("tenant-a"), &ferryv1.RunCreateRequest{TenantId: "tenant-a", RunId: "r2", Profile: "missing"})
	require.EqualValues(t, codes.NotFound, missing.GetCode())
	require.Contains(t, missing.GetMessage(), `"missing" not found`)

	spoofed := ask(bus.RunCreateSubject("tenant-a"), &ferryv1.RunCreateRequest{TenantId: "tenant-b", RunId: "r3", Profile: "p"})
	require.EqualValues(t, codes.PermissionDenied, spoofed.GetCode())
	require.Len(t, runs.created, 2, "the spoofed request never reached the store")
}

// TestLifecycleEventOncePerStatus: a run's end reported again under another
// message id (as a progress event redelivered after JetStream's duplicate
// window is) publishes no second lifecycle event; a new status does.
func TestLifecycleEventOncePerStatus(t *testing.T) {
	ctx := context.Background()
	nc, js := testkit.JetStream(t)
	run := &ferryv1.Run{Id: uuid.NewString(), Profile: "p", Status: ferryv1.RunStatus_RUN_STATUS_AWAITING_APPROVAL}
	runs := &fakeRuns{applied: &store.RunRow{Run: run}}
	c := New(runs, nc, js, testkit.Log(t), time.Second)
	require.NoError(t, c.Starting(ctx))
	defer c.Stopping(ctx)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = c.Running(runCtx) }()

	// A core subscription sees every publication, also those JetStream
	// drops as duplicates within its window: what a consumer would see once
	// the window has passed.
	var mu sync.Mutex
	seen := map[string]int{}
	sub, err := nc.Subscribe(bus.RunEventSubject("tenant-a", "p", "*"), func(m *nats.Msg) {
		mu.Lock()
		seen[m.Subject]++
		mu.Unlock()
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	events := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}
	// settled waits until the coordinator has handled every report.
	settled := func() {
		cons, err := js.Consumer(ctx, bus.StreamProgress, bus.ConsumerProfile)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			info, err := cons.Info(ctx)
			return err == nil && info.NumPending == 0 && info.NumAckPending == 0
		}, 10*time.Second, 10*time.Millisecond)
	}
	// report reports the run's end and waits until it is handled: reports
	// handled at once are duplicates JetStream drops anyway.
	report := func(id string) {
		require.NoError(t, bus.PublishProgress(ctx, js, "tenant-a", run.GetId(), id,
			&ferryv1.Progress{Event: &ferryv1.Progress_RunApplied{RunApplied: &ferryv1.RunApplied{}}}))
		settled()
	}
	waiting := bus.RunEventSubject("tenant-a", "p", "awaiting_approval")
	report("held")
	report("held-again")
	report("held-once-more")
	require.NoError(t, nc.Flush())
	require.Equal(t, map[string]int{waiting: 1}, events())

	runs.mu.Lock()
	runs.applied = &store.RunRow{Run: &ferryv1.Run{Id: run.GetId(), Profile: "p", Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED}}
	runs.mu.Unlock()
	report("approved")
	report("approved-again")
	require.NoError(t, nc.Flush())
	require.Equal(t, map[string]int{waiting: 1, bus.RunEventSubject("tenant-a", "p", "succeeded"): 1}, events())
}
