package coordinator

import (
	"context"
	"testing"
	"time"

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
func (f *fakeRuns) Applied(context.Context, string) (*store.RunRow, error)        { return nil, nil }

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
