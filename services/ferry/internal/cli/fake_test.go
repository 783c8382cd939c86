package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// testKey is the API key the tests pass with --api-key.
const testKey = "test-key"

// fakeServer is a real gRPC server on loopback with small in-memory
// implementations of the API's services that record what they receive.
type fakeServer struct {
	addr string

	mu    sync.Mutex
	calls []call

	datasets *fakeDatasets
	profiles *fakeProfiles
	runs     *fakeRuns
	ingest   *fakeIngest
	tenants  *fakeTenants
	xrefs    *fakeXRefs
	exports  *fakeExports

	destinations *fakeDestinations
}

// call is one RPC as the server saw it.
type call struct {
	method string
	auth   string
}

func startServer(t testing.TB) *fakeServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeServer{
		addr:     lis.Addr().String(),
		datasets: &fakeDatasets{stored: map[string]*ferryv1.Dataset{}},
		profiles: &fakeProfiles{stored: map[string]*ferryv1.ImportProfile{}},
		runs:     &fakeRuns{runs: map[string]*ferryv1.Run{}, watch: map[string][]*ferryv1.Run{}, rejects: map[string][]*ferryv1.Reject{}, report: map[string][]string{}},
		ingest:   &fakeIngest{},
		tenants:  &fakeTenants{},
		xrefs:    &fakeXRefs{stored: map[string]*ferryv1.CrossReference{}},
		exports: &fakeExports{templates: map[string]*ferryv1.Template{}, profiles: map[string]*ferryv1.ExportProfile{},
			outputs: map[string][]fakeOutput{}, links: map[string]bool{}},
		destinations: &fakeDestinations{stored: map[string]*ferryv1.Destination{}, creds: map[string]map[string]string{},
			tests: map[string]*ferryv1.TestDestinationResponse{}},
	}
	gs := grpc.NewServer(
		// The server's default (--grpc-max-recv-msg-size).
		grpc.MaxRecvMsgSize(16<<20),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			f.record(ctx, info.FullMethod)
			return handler(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			f.record(ss.Context(), info.FullMethod)
			return handler(srv, ss)
		}),
	)
	f.profiles.datasets = f.datasets
	f.exports.datasets = f.datasets
	ferryv1.RegisterDatasetServiceServer(gs, f.datasets)
	ferryv1.RegisterImportProfileServiceServer(gs, f.profiles)
	ferryv1.RegisterRunServiceServer(gs, f.runs)
	ferryv1.RegisterIngestServiceServer(gs, f.ingest)
	ferryv1.RegisterTenantServiceServer(gs, f.tenants)
	ferryv1.RegisterCrossReferenceServiceServer(gs, f.xrefs)
	ferryv1.RegisterExportServiceServer(gs, f.exports)
	ferryv1.RegisterDestinationServiceServer(gs, f.destinations)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return f
}

func (f *fakeServer) record(ctx context.Context, method string) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{method: method[strings.LastIndex(method, "/")+1:], auth: strings.Join(md.Get("authorization"), ",")})
}

// methods lists the methods called so far, in order.
func (f *fakeServer) methods() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.method)
	}
	return out
}

// requireAuth checks that every call so far carried the bearer key.
func (f *fakeServer) requireAuth(t testing.TB, key string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.calls)
	for _, c := range f.calls {
		require.Equal(t, "Bearer "+key, c.auth, "authorization of %s", c.method)
	}
}

// result is what one CLI invocation did.
type result struct {
	code   int
	stdout string
	stderr string
}

// run runs the CLI against the server with the test key.
func (f *fakeServer) run(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	return runCLI(t, stdin, append(args, "--addr", f.addr, "--api-key", testKey)...)
}

// runCLI runs the CLI exactly as main does, with a time limit.
func runCLI(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

var fixedTime = timestamppb.New(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))

type fakeDatasets struct {
	ferryv1.UnimplementedDatasetServiceServer
	mu      sync.Mutex
	applied []*ferryv1.Dataset
	stored  map[string]*ferryv1.Dataset
}

func (f *fakeDatasets) ApplyDataset(_ context.Context, req *ferryv1.ApplyDatasetRequest) (*ferryv1.ApplyDatasetResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	want := req.GetDataset()
	f.applied = append(f.applied, proto.CloneOf(want))
	outcome, version := "created", int64(1)
	if cur, ok := f.stored[want.GetName()]; ok {
		same := proto.Equal(&ferryv1.Dataset{Fields: cur.GetFields(), Key: cur.GetKey()}, &ferryv1.Dataset{Fields: want.GetFields(), Key: want.GetKey()})
		if same {
			return &ferryv1.ApplyDatasetResponse{Dataset: cur, Outcome: "unchanged"}, nil
		}
		outcome, version = "updated", cur.GetVersion()+1
	}
	stored := proto.CloneOf(want)
	stored.Version, stored.Table = version, "tenant_acme."+want.GetName()
	stored.CreateTime, stored.UpdateTime = fixedTime, fixedTime
	f.stored[want.GetName()] = stored
	return &ferryv1.ApplyDatasetResponse{Dataset: stored, Outcome: outcome}, nil
}

func (f *fakeDatasets) GetDataset(_ context.Context, req *ferryv1.GetDatasetRequest) (*ferryv1.GetDatasetResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ds, ok := f.stored[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "dataset %s not found", req.GetName())
	}
	return &ferryv1.GetDatasetResponse{Dataset: ds}, nil
}

func (f *fakeDatasets) ListDatasets(context.Context, *ferryv1.ListDatasetsRequest) (*ferryv1.ListDatasetsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &ferryv1.ListDatasetsResponse{}
	for _, name := range sortedNames(f.stored) {
		resp.Datasets = append(resp.Datasets, f.stored[name])
	}
	return resp, nil
}

type fakeProfiles struct {
	ferryv1.UnimplementedImportProfileServiceServer
	mu       sync.Mutex
	applied  []*ferryv1.ApplyImportProfileRequest
	stored   map[string]*ferryv1.ImportProfile
	datasets *fakeDatasets
}

func (f *fakeProfiles) ApplyImportProfile(_ context.Context, req *ferryv1.ApplyImportProfileRequest) (*ferryv1.ApplyImportProfileResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, proto.CloneOf(req))
	f.datasets.mu.Lock()
	_, known := f.datasets.stored[req.GetSpec().GetDataset()]
	f.datasets.mu.Unlock()
	if !known {
		return nil, status.Errorf(codes.FailedPrecondition, "dataset %s does not exist", req.GetSpec().GetDataset())
	}
	outcome, version := "created", int64(1)
	if cur, ok := f.stored[req.GetName()]; ok {
		if proto.Equal(cur.GetSpec(), req.GetSpec()) {
			return &ferryv1.ApplyImportProfileResponse{Profile: cur, Outcome: "unchanged"}, nil
		}
		outcome, version = "updated", cur.GetVersion()+1
	}
	p := &ferryv1.ImportProfile{Name: req.GetName(), Version: version, Spec: proto.CloneOf(req.GetSpec()), CreateTime: fixedTime, UpdateTime: fixedTime}
	f.stored[req.GetName()] = p
	return &ferryv1.ApplyImportProfileResponse{Profile: p, Outcome: outcome}, nil
}

func (f *fakeProfiles) GetImportProfile(_ context.Context, req *ferryv1.GetImportProfileRequest) (*ferryv1.GetImportProfileResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.stored[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "import profile %s not found", req.GetName())
	}
	return &ferryv1.GetImportProfileResponse{Profile: p}, nil
}

func (f *fakeProfiles) ListImportProfiles(context.Context, *ferryv1.ListImportProfilesRequest) (*ferryv1.ListImportProfilesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &ferryv1.ListImportProfilesResponse{}
	for _, name := range sortedNames(f.stored) {
		resp.Profiles = append(resp.Profiles, f.stored[name])
	}
	return resp, nil
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

type fakeRuns struct {
	ferryv1.UnimplementedRunServiceServer
	mu sync.Mutex
	// runs are returned by GetRun and, newest (highest id) first, ListRuns.
	runs     map[string]*ferryv1.Run
	listReqs []*ferryv1.ListRunsRequest
	// watch holds the states WatchRun streams for a run.
	watch map[string][]*ferryv1.Run
	// breakAfter makes the first WatchRun send that many states and then
	// fail with Unavailable, as a restarting server does.
	breakAfter int
	watchCalls int
	rejects    map[string][]*ferryv1.Reject
	rejectReqs []*ferryv1.ListRunRejectsRequest
	// report holds the parts of each run's reject report.
	report   map[string][]string
	canceled []string
	// redelivered are the RedeliverRun requests received.
	redelivered []*ferryv1.RedeliverRunRequest
}

func (f *fakeRuns) GetRun(_ context.Context, req *ferryv1.GetRunRequest) (*ferryv1.GetRunResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "run %s not found", req.GetId())
	}
	return &ferryv1.GetRunResponse{Run: r}, nil
}

func (f *fakeRuns) ListRuns(_ context.Context, req *ferryv1.ListRunsRequest) (*ferryv1.ListRunsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listReqs = append(f.listReqs, proto.CloneOf(req))
	var runs []*ferryv1.Run
	names := sortedNames(f.runs)
	slices.Reverse(names)
	for _, id := range names {
		r := f.runs[id]
		if (req.GetProfile() == "" || r.GetProfile() == req.GetProfile()) && (req.GetStatus() == 0 || r.GetStatus() == req.GetStatus()) {
			runs = append(runs, r)
		}
	}
	start, _ := strconv.Atoi(req.GetPageToken())
	size := int(req.GetPageSize())
	if size == 0 {
		size = 50
	}
	end := min(start+size, len(runs))
	resp := &ferryv1.ListRunsResponse{Runs: runs[start:end]}
	if end < len(runs) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func (f *fakeRuns) WatchRun(req *ferryv1.WatchRunRequest, stream ferryv1.RunService_WatchRunServer) error {
	f.mu.Lock()
	f.watchCalls++
	first := f.watchCalls == 1
	states, ok := f.watch[req.GetId()]
	breakAfter := f.breakAfter
	f.mu.Unlock()
	if !ok {
		return status.Errorf(codes.NotFound, "run %s not found", req.GetId())
	}
	switch {
	case first && breakAfter > 0:
		states = states[:breakAfter]
	case breakAfter > 0:
		// A new stream starts with the run as it is now.
		states = states[breakAfter-1:]
	}
	for _, r := range states {
		if err := stream.Send(&ferryv1.WatchRunResponse{Run: r}); err != nil {
			return err
		}
	}
	if first && breakAfter > 0 {
		return status.Error(codes.Unavailable, "server is shutting down")
	}
	return nil
}

func (f *fakeRuns) CancelRun(_ context.Context, req *ferryv1.CancelRunRequest) (*ferryv1.CancelRunResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.canceled = append(f.canceled, req.GetId())
	r, ok := f.runs[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "run %s not found", req.GetId())
	}
	r = proto.CloneOf(r)
	r.Status = ferryv1.RunStatus_RUN_STATUS_CANCELED
	return &ferryv1.CancelRunResponse{Run: r}, nil
}

func (f *fakeRuns) DownloadRejects(req *ferryv1.DownloadRejectsRequest, stream ferryv1.RunService_DownloadRejectsServer) error {
	f.mu.Lock()
	parts, ok := f.report[req.GetId()]
	f.mu.Unlock()
	if !ok {
		return status.Errorf(codes.NotFound, "run %q not found", req.GetId())
	}
	for _, p := range parts {
		if err := stream.Send(&ferryv1.DownloadRejectsResponse{Data: []byte(p)}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeRuns) ListRunRejects(_ context.Context, req *ferryv1.ListRunRejectsRequest) (*ferryv1.ListRunRejectsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rejectReqs = append(f.rejectReqs, proto.CloneOf(req))
	all := f.rejects[req.GetId()]
	start, _ := strconv.Atoi(req.GetPageToken())
	size := int(req.GetPageSize())
	if size == 0 {
		size = 1000
	}
	end := min(start+size, len(all))
	resp := &ferryv1.ListRunRejectsResponse{Rejects: all[start:end]}
	if end < len(all) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

type fakeIngest struct {
	ferryv1.UnimplementedIngestServiceServer
	mu       sync.Mutex
	messages []*ferryv1.UploadRequest
}

func (f *fakeIngest) Upload(stream ferryv1.IngestService_UploadServer) error {
	var profile string
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.messages = append(f.messages, proto.CloneOf(req))
		f.mu.Unlock()
		if h := req.GetHeader(); h != nil {
			profile = h.GetProfile()
			if profile == "missing" {
				return status.Errorf(codes.NotFound, "import profile %s not found", profile)
			}
		}
	}
	return stream.SendAndClose(&ferryv1.UploadResponse{Run: &ferryv1.Run{Id: "run-1", Profile: profile, Status: ferryv1.RunStatus_RUN_STATUS_QUEUED}})
}

type fakeTenants struct {
	ferryv1.UnimplementedTenantServiceServer
	mu      sync.Mutex
	created []*ferryv1.CreateTenantRequest
	keys    []*ferryv1.CreateAPIKeyRequest
}

func (f *fakeTenants) WhoAmI(context.Context, *ferryv1.WhoAmIRequest) (*ferryv1.WhoAmIResponse, error) {
	return &ferryv1.WhoAmIResponse{
		Tenant: &ferryv1.Tenant{Id: "t1", Name: "acme"},
		Key:    &ferryv1.APIKey{Id: "k1", Name: "ci", Admin: true},
	}, nil
}

func (f *fakeTenants) CreateTenant(_ context.Context, req *ferryv1.CreateTenantRequest) (*ferryv1.CreateTenantResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, proto.CloneOf(req))
	return &ferryv1.CreateTenantResponse{
		Tenant: &ferryv1.Tenant{Id: "t2", Name: req.GetName()},
		Key:    &ferryv1.APIKey{Id: "k2", Name: "admin", Admin: true},
		Secret: "fk_secret_tenant",
	}, nil
}

func (f *fakeTenants) CreateAPIKey(_ context.Context, req *ferryv1.CreateAPIKeyRequest) (*ferryv1.CreateAPIKeyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, proto.CloneOf(req))
	return &ferryv1.CreateAPIKeyResponse{
		Key:    &ferryv1.APIKey{Id: "k3", Name: req.GetName(), Admin: req.GetAdmin()},
		Secret: "fk_secret_key",
	}, nil
}
