package api

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/libs/testkit"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// recordingBus records the export commands published.
type recordingBus struct {
	mu   sync.Mutex
	runs []string
}

func (b *recordingBus) StartExport(_ context.Context, snap *ferryv1.ExportSnapshot) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.runs = append(b.runs, snap.GetRunId())
	return nil
}

func (b *recordingBus) OpenFile(context.Context, string) (io.ReadCloser, error) {
	return nil, errs.NotFound("no files here")
}

func (b *recordingBus) published() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.runs...)
}

type runEnv struct {
	st      *store.Store
	p       auth.Principal
	bus     *recordingBus
	runs    ferryv1.RunServiceClient
	exports ferryv1.ExportServiceClient
}

func newRunEnv(t *testing.T) *runEnv {
	ctx := context.Background()
	pool := storetest.Open(t)
	p := storetest.Tenant(t, pool, "acme")
	p.Admin = true
	_, err := pool.Exec(ctx, `CREATE SCHEMA `+p.Schema)
	require.NoError(t, err)
	st := store.New(pool)
	_, err = st.CreateDataset(ctx, p, &ferryv1.Dataset{Name: "users", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true}}})
	require.NoError(t, err)

	b := &recordingBus{}
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(auth.WithPrincipal(ctx, p), req)
		return resp, errs.ToStatus(err)
	}))
	ex := NewExports(st, b, testkit.Log(t))
	ferryv1.RegisterRunServiceServer(gs, New(st, nil, nil).WithExports(ex))
	ferryv1.RegisterExportServiceServer(gs, ex)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &runEnv{st: st, p: p, bus: b, runs: ferryv1.NewRunServiceClient(conn), exports: ferryv1.NewExportServiceClient(conn)}
}

func (e *runEnv) applyExport(t *testing.T, name string, status ferryv1.ProfileStatus, tr *ferryv1.Triggers) {
	t.Helper()
	_, _, err := e.st.ApplyExportProfile(context.Background(), e.p, name, &ferryv1.ExportProfileSpec{Dataset: "users", Status: status, Triggers: tr})
	require.NoError(t, err)
}

func TestStartRunIdempotencyKey(t *testing.T) {
	e := newRunEnv(t)
	ctx := context.Background()
	e.applyExport(t, "nightly", ferryv1.ProfileStatus_PROFILE_STATUS_DRAFT, nil)
	e.applyExport(t, "weekly", ferryv1.ProfileStatus_PROFILE_STATUS_DRAFT, nil)

	first, err := e.runs.StartRun(ctx, &ferryv1.StartRunRequest{Profile: "nightly", IdempotencyKey: "k1"})
	require.NoError(t, err)
	require.Equal(t, ferryv1.RunTrigger_RUN_TRIGGER_MANUAL, first.GetRun().GetTrigger())
	again, err := e.runs.StartRun(ctx, &ferryv1.StartRunRequest{Profile: "nightly", IdempotencyKey: "k1"})
	require.NoError(t, err)
	require.Equal(t, first.GetRun().GetId(), again.GetRun().GetId(), "the same key returns the same run")
	viaExport, err := e.exports.StartExport(ctx, &ferryv1.StartExportRequest{Name: "nightly", IdempotencyKey: "k1"})
	require.NoError(t, err)
	require.Equal(t, first.GetRun().GetId(), viaExport.GetRun().GetId(), "StartExport shares the keys")
	require.Equal(t, []string{first.GetRun().GetId()}, e.bus.published(), "queued once")

	other, err := e.runs.StartRun(ctx, &ferryv1.StartRunRequest{Profile: "nightly", IdempotencyKey: "k2"})
	require.NoError(t, err)
	require.NotEqual(t, first.GetRun().GetId(), other.GetRun().GetId())
	noKey1, err := e.runs.StartRun(ctx, &ferryv1.StartRunRequest{Profile: "nightly"})
	require.NoError(t, err)
	noKey2, err := e.runs.StartRun(ctx, &ferryv1.StartRunRequest{Profile: "nightly"})
	require.NoError(t, err)
	require.NotEqual(t, noKey1.GetRun().GetId(), noKey2.GetRun().GetId(), "without a key every call runs")

	_, err = e.runs.StartRun(ctx, &ferryv1.StartRunRequest{Profile: "weekly", IdempotencyKey: "k1"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)
	require.ErrorContains(t, err, `started a run of profile "nightly"`)
}

func TestStartRunConcurrentKeyOneRun(t *testing.T) {
	e := newRunEnv(t)
	e.applyExport(t, "nightly", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, nil)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[string]bool{}
	)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.runs.StartRun(context.Background(), &ferryv1.StartRunRequest{Profile: "nightly", IdempotencyKey: "same"})
			require.NoError(t, err)
			mu.Lock()
			ids[r.GetRun().GetId()] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Len(t, ids, 1)
	require.Len(t, e.bus.published(), 1)
	runs, err := e.runs.ListRuns(context.Background(), &ferryv1.ListRunsRequest{Profile: "nightly"})
	require.NoError(t, err)
	require.Len(t, runs.GetRuns(), 1)
}

func TestStartRunRefusals(t *testing.T) {
	e := newRunEnv(t)
	ctx := context.Background()
	_, _, err := e.st.ApplyProfile(ctx, e.p, "load", &ferryv1.ImportProfileSpec{Dataset: "users"})
	require.NoError(t, err)
	_, err = e.runs.StartRun(ctx, &ferryv1.StartRunRequest{Profile: "load"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)
	require.ErrorContains(t, err, "an import run needs a file: upload it (ferry import PROFILE FILE)")
	_, err = e.runs.StartRun(ctx, &ferryv1.StartRunRequest{Profile: "nope"})
	require.Equal(t, codes.NotFound, status.Code(err), "%v", err)
	require.ErrorContains(t, err, `profile "nope" not found`)
}

func TestNextFireTimesShown(t *testing.T) {
	e := newRunEnv(t)
	ctx := context.Background()
	tr := &ferryv1.Triggers{Schedule: &ferryv1.Schedule{Cron: "30 2 * * *", TimeZone: "America/New_York"}}
	e.applyExport(t, "active", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, tr)
	e.applyExport(t, "draft", ferryv1.ProfileStatus_PROFILE_STATUS_DRAFT, tr)
	got, err := e.exports.GetExportProfile(ctx, &ferryv1.GetExportProfileRequest{Name: "active"})
	require.NoError(t, err)
	times := got.GetProfile().GetNextFireTimes()
	require.Len(t, times, 5)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	for i, ts := range times {
		require.True(t, ts.AsTime().After(time.Now()))
		local := ts.AsTime().In(ny)
		// 02:30, or 03:00 on the day the clocks skip it.
		require.Contains(t, []string{"02:30", "03:00"}, local.Format("15:04"), "time %d", i)
	}
	list, err := e.exports.ListExportProfiles(ctx, &ferryv1.ListExportProfilesRequest{})
	require.NoError(t, err)
	for _, p := range list.GetProfiles() {
		if p.GetName() == "draft" {
			require.Empty(t, p.GetNextFireTimes(), "a draft never fires")
		} else {
			require.Len(t, p.GetNextFireTimes(), 5)
		}
	}
}
