package api

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/sftpconn"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/libs/testkit"
	"github.com/ferrydata/ferry/libs/webhook"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// destEnv is the DestinationService and the RunService on the real store
// over loopback gRPC, as an admin key of the tenant "acme".
type destEnv struct {
	pool  *pgxpool.Pool
	st    *store.Store
	p     auth.Principal
	dests ferryv1.DestinationServiceClient
	runs  ferryv1.RunServiceClient
}

func newDestEnv(t *testing.T, k *secrets.Keyring) *destEnv {
	pool := storetest.Open(t)
	p := storetest.Tenant(t, pool, "acme")
	p.Admin = true

	st := store.New(pool)
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(auth.WithPrincipal(ctx, p), req)
		return resp, errs.ToStatus(err)
	}))
	ferryv1.RegisterDestinationServiceServer(gs, NewDestinations(st, k, testkit.Log(t)))
	ferryv1.RegisterRunServiceServer(gs, New(st, nil, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &destEnv{pool: pool, st: st, p: p, dests: ferryv1.NewDestinationServiceClient(conn), runs: ferryv1.NewRunServiceClient(conn)}
}

func newKeyring(t *testing.T) *secrets.Keyring {
	spec, err := secrets.GenerateSpec("k1")
	require.NoError(t, err)
	k, err := secrets.Parse(spec)
	require.NoError(t, err)
	return k
}

func (e *destEnv) apply(t *testing.T, name string, spec *ferryv1.DestinationSpec) {
	t.Helper()
	_, err := e.dests.ApplyDestination(context.Background(), &ferryv1.ApplyDestinationRequest{Name: name, Spec: spec})
	require.NoError(t, err)
}

func (e *destEnv) test(t *testing.T, name string) *ferryv1.TestDestinationResponse {
	t.Helper()
	resp, err := e.dests.TestDestination(context.Background(), &ferryv1.TestDestinationRequest{Name: name})
	require.NoError(t, err)
	return resp
}

func sftpTo(srv *testkit.SFTPServer, password, pin, dir string) *ferryv1.DestinationSpec {
	return &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Sftp{Sftp: &ferryv1.SFTPDestination{
		Host: srv.Host, Port: int32(srv.Port), Username: "ferry", Password: password, HostKey: pin, Directory: dir, TimeoutSeconds: 10,
	}}}
}

func TestTestDestinationSFTP(t *testing.T) {
	e := newDestEnv(t, newKeyring(t))
	srv := testkit.StartSFTP(t, testkit.SFTPServerOptions{Password: "pw"})
	require.NoError(t, os.Mkdir(filepath.Join(srv.Root, "upload"), 0o755))
	fp := sftpconn.Fingerprint(srv.HostKey)

	// The pin matches and the directory is writable.
	e.apply(t, "partner", sftpTo(srv, "pw", srv.HostKeyLine(), "/upload"))
	resp := e.test(t, "partner")
	require.True(t, resp.GetOk(), resp.GetMessage())
	require.Equal(t, "host key "+fp+" matches the pin; /upload is writable", resp.GetMessage())
	require.Equal(t, fp, resp.GetHostKeyFingerprint())
	require.True(t, resp.GetHostKeyMatches())
	require.True(t, resp.GetWritable())
	// The line to pin is a known_hosts line that pins this key.
	require.Regexp(t, `^\[127\.0\.0\.1\]:\d+ ssh-ed25519 AAAA`, resp.GetHostKeyLine())
	pin, err := sftpconn.ParseHostKey(resp.GetHostKeyLine())
	require.NoError(t, err)
	require.True(t, pin.Matches(srv.HostKey))
	entries, err := os.ReadDir(filepath.Join(srv.Root, "upload"))
	require.NoError(t, err)
	require.Empty(t, entries, "the probe file is removed")

	// The directory is read-only.
	require.NoError(t, os.Chmod(filepath.Join(srv.Root, "upload"), 0o555))
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(srv.Root, "upload"), 0o755) })
	resp = e.test(t, "partner")
	require.False(t, resp.GetOk())
	require.True(t, resp.GetHostKeyMatches())
	require.False(t, resp.GetWritable())
	require.Contains(t, resp.GetMessage(), "host key "+fp+" matches the pin, but /upload is not writable: cannot create a file in /upload")
	require.NoError(t, os.Chmod(filepath.Join(srv.Root, "upload"), 0o755))

	// The password is refused.
	e.apply(t, "partner", sftpTo(srv, "wrong", srv.HostKeyLine(), "/upload"))
	resp = e.test(t, "partner")
	require.False(t, resp.GetOk())
	require.True(t, resp.GetHostKeyMatches())
	require.Contains(t, resp.GetMessage(), `refused the credentials of user "ferry"`)

	// Another server's key is pinned: both fingerprints are named, and the
	// response carries the presented key to pin if it is the right one.
	other := testkit.StartSFTP(t, testkit.SFTPServerOptions{Password: "pw"})
	otherFP := sftpconn.Fingerprint(other.HostKey)
	e.apply(t, "partner", sftpTo(srv, "pw", other.HostKeyLine(), "/upload"))
	resp = e.test(t, "partner")
	require.False(t, resp.GetOk())
	require.False(t, resp.GetHostKeyMatches())
	require.False(t, resp.GetWritable())
	require.Equal(t, fp, resp.GetHostKeyFingerprint())
	require.Contains(t, resp.GetMessage(), "host key mismatch")
	require.Contains(t, resp.GetMessage(), "presented "+fp)
	require.Contains(t, resp.GetMessage(), "the pin is "+otherFP)
	require.Contains(t, resp.GetMessage(), "stopped before logging in")

	// The documented first step: without a pin, the test shows the key
	// without logging in; the line it shows then pins it.
	e.apply(t, "partner", sftpTo(srv, "pw", "", "/upload"))
	resp = e.test(t, "partner")
	require.False(t, resp.GetOk())
	require.False(t, resp.GetHostKeyMatches())
	require.Equal(t, fp, resp.GetHostKeyFingerprint())
	require.Contains(t, resp.GetMessage(), "no host key is pinned")
	require.Contains(t, resp.GetMessage(), "stopped before logging in")
	e.apply(t, "partner", sftpTo(srv, "pw", resp.GetHostKeyLine(), "/upload"))
	resp = e.test(t, "partner")
	require.True(t, resp.GetOk(), resp.GetMessage())

	// A server that is down.
	srv.Stop()
	e.apply(t, "partner", sftpTo(srv, "pw", srv.HostKeyLine(), "/upload"))
	resp = e.test(t, "partner")
	require.False(t, resp.GetOk())
	require.Contains(t, resp.GetMessage(), "cannot reach 127.0.0.1:")

	_, err = e.dests.TestDestination(context.Background(), &ferryv1.TestDestinationRequest{Name: "nope"})
	requireCode(t, codes.NotFound, `destination "nope" not found`, err)
}

// TestTestDestinationNoKey checks that a server without the key says so
// instead of testing with no credentials.
func TestTestDestinationNoKey(t *testing.T) {
	k := newKeyring(t)
	e := newDestEnv(t, k)
	srv := testkit.StartSFTP(t, testkit.SFTPServerOptions{Password: "pw"})
	e.apply(t, "partner", sftpTo(srv, "pw", srv.HostKeyLine(), ""))
	ctx := auth.WithPrincipal(context.Background(), e.p)

	_, err := NewDestinations(e.st, nil, testkit.Log(t)).TestDestination(ctx, &ferryv1.TestDestinationRequest{Name: "partner"})
	require.True(t, errs.Is(err, errs.KindFailedPrecondition), "%v", err)
	require.ErrorContains(t, err, "FERRY_SECRET_KEY")

	_, err = NewDestinations(e.st, newKeyring(t), testkit.Log(t)).TestDestination(ctx, &ferryv1.TestDestinationRequest{Name: "partner"})
	require.True(t, errs.Is(err, errs.KindFailedPrecondition), "%v", err)
	require.ErrorContains(t, err, "do not open with the server's keys")

	resp, err := NewDestinations(e.st, k, testkit.Log(t)).TestDestination(ctx, &ferryv1.TestDestinationRequest{Name: "partner"})
	require.NoError(t, err)
	require.True(t, resp.GetOk(), resp.GetMessage())
	require.Contains(t, resp.GetMessage(), "; . is writable")
}

func TestTestDestinationWebhook(t *testing.T) {
	e := newDestEnv(t, newKeyring(t))
	var (
		mu     sync.Mutex
		status = http.StatusNoContent
		got    []error
		bodies []map[string]string
	)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]string
		_ = json.Unmarshal(body, &m)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, webhook.Verify([]byte("hmac-key"), r.Header.Get(webhook.SignatureHeader), body, time.Now(), 0))
		bodies = append(bodies, m)
		w.WriteHeader(status)
	}))
	t.Cleanup(ts.Close)
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}))
	// The test server listens on loopback: only an internal destination reaches it.
	e.apply(t, "hook", &ferryv1.DestinationSpec{Internal: true, Kind: &ferryv1.DestinationSpec_Webhook{Webhook: &ferryv1.WebhookDestination{
		Url: ts.URL + "/ferry?token=abc", Secret: "hmac-key", CaCert: ca, TimeoutSeconds: 10}}})

	resp := e.test(t, "hook")
	require.True(t, resp.GetOk(), resp.GetMessage())
	require.Equal(t, "POST "+ts.URL+"/ferry?… answered 204 No Content to a signed test notice", resp.GetMessage())
	mu.Lock()
	require.Equal(t, []error{nil}, got, "the signature verifies")
	require.Equal(t, []map[string]string{{"type": "ferry.test", "destination": "hook"}}, bodies)
	status = http.StatusUnauthorized
	mu.Unlock()

	resp = e.test(t, "hook")
	require.False(t, resp.GetOk())
	require.Equal(t, "POST "+ts.URL+"/ferry?… answered 401 Unauthorized; a delivery needs a 2xx answer", resp.GetMessage())

	// Not internal: the loopback address is refused before connecting.
	e.apply(t, "public", &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Webhook{Webhook: &ferryv1.WebhookDestination{
		Url: ts.URL, Secret: "hmac-key", CaCert: ca}}})
	resp = e.test(t, "public")
	require.False(t, resp.GetOk())
	require.Contains(t, resp.GetMessage(), "loopback")
}

func TestTestDestinationNATS(t *testing.T) {
	e := newDestEnv(t, nil)
	e.apply(t, "bus", &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Nats{Nats: &ferryv1.NATSDestination{Subject: "orders.daily"}}})
	resp := e.test(t, "bus")
	require.True(t, resp.GetOk())
	require.Equal(t, "publishes each run's rows as JSON lines, 1000 rows per message on ferry.out.acme.orders.daily of Ferry's NATS", resp.GetMessage())

	// Credentials without a key on the server.
	_, err := e.dests.ApplyDestination(context.Background(), &ferryv1.ApplyDestinationRequest{Name: "hook", Spec: &ferryv1.DestinationSpec{
		Kind: &ferryv1.DestinationSpec_Webhook{Webhook: &ferryv1.WebhookDestination{Url: "https://hooks.example.com", Secret: "x"}}}})
	requireCode(t, codes.FailedPrecondition, "FERRY_SECRET_KEY or FERRY_SECRET_KEY_FILE", err)
	list, err := e.dests.ListDestinations(context.Background(), &ferryv1.ListDestinationsRequest{})
	require.NoError(t, err)
	require.Len(t, list.GetDestinations(), 1)
}

// TestRunDeliveriesAPI checks that GetRun shows an export run's deliveries
// with their attempts and that RedeliverRun starts a new round.
func TestRunDeliveriesAPI(t *testing.T) {
	e := newDestEnv(t, nil)
	ctx := context.Background()
	e.apply(t, "bus", &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Nats{Nats: &ferryv1.NATSDestination{Subject: "users"}}})
	e.apply(t, "other-bus", &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Nats{Nats: &ferryv1.NATSDestination{Subject: "users2"}}})
	_, err := e.pool.Exec(ctx, `CREATE SCHEMA `+e.p.Schema)
	require.NoError(t, err)
	_, err = e.st.CreateDataset(ctx, e.p, &ferryv1.Dataset{Name: "users", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true}}})
	require.NoError(t, err)
	_, _, err = e.st.ApplyExportProfile(ctx, e.p, "nightly", &ferryv1.ExportProfileSpec{Dataset: "users", Format: ferryv1.ExportFormat_EXPORT_FORMAT_JSONL,
		Destinations: []string{"other-bus", "bus"}})
	require.NoError(t, err)
	run, _, err := e.st.CreateExportRun(ctx, e.p, "nightly", ferryv1.RunTrigger_RUN_TRIGGER_MANUAL)
	require.NoError(t, err)
	runID := run.GetId()

	// Redelivering a run that has not ended is refused.
	_, err = e.runs.RedeliverRun(ctx, &ferryv1.RedeliverRunRequest{Id: runID})
	requireCode(t, codes.FailedPrecondition, "is queued; only a succeeded or failed export run can be delivered again", err)

	_, err = e.pool.Exec(ctx, `UPDATE ferry.runs SET status = 'succeeded', finished_at = now() WHERE id = $1`, runID)
	require.NoError(t, err)
	ok, retry := uuid.New(), uuid.New()
	_, err = e.pool.Exec(ctx, `INSERT INTO ferry.deliveries (id, tenant_id, run_id, destination, kind, status, attempts, locations, next_attempt_at, error) VALUES
		($1, $3, $4, 'bus', 'nats', 'succeeded', 1, '{ferry.out.acme.users}', '2026-01-01T00:00:00Z', ''),
		($2, $3, $4, 'other-bus', 'nats', 'pending', 1, '{}', '2026-01-01T00:05:00Z', 'nats: timeout')`, ok, retry, e.p.TenantID, runID)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `INSERT INTO ferry.delivery_attempts (delivery_id, number, started_at, finished_at, outcome, error_class, message, next_attempt_at) VALUES
		($1, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 'succeeded', '', 'published 1 message', NULL),
		($2, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:30Z', 'retry', 'transient', 'nats: timeout', '2026-01-01T00:05:00Z')`, ok, retry)
	require.NoError(t, err)

	got, err := e.runs.GetRun(ctx, &ferryv1.GetRunRequest{Id: runID})
	require.NoError(t, err)
	ds := got.GetRun().GetDeliveries()
	require.Len(t, ds, 2)
	require.Equal(t, "bus", ds[0].GetDestination(), "by destination")
	require.Equal(t, ferryv1.DeliveryStatus_DELIVERY_STATUS_SUCCEEDED, ds[0].GetStatus())
	require.Equal(t, []string{"ferry.out.acme.users"}, ds[0].GetLocations())
	require.Nil(t, ds[0].GetNextAttemptTime())
	require.Len(t, ds[0].GetAttempts(), 1)
	require.Equal(t, "published 1 message", ds[0].GetAttempts()[0].GetMessage())
	require.Equal(t, "other-bus", ds[1].GetDestination())
	require.Equal(t, ferryv1.DeliveryStatus_DELIVERY_STATUS_PENDING, ds[1].GetStatus())
	require.Equal(t, "nats: timeout", ds[1].GetError())
	require.Equal(t, time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC), ds[1].GetNextAttemptTime().AsTime())
	a := ds[1].GetAttempts()[0]
	require.Equal(t, "retry", a.GetOutcome())
	require.Equal(t, "transient", a.GetErrorClass())
	require.Equal(t, time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC), a.GetEndTime().AsTime())
	require.Equal(t, time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC), a.GetNextAttemptTime().AsTime())

	// Listing runs leaves deliveries out.
	list, err := e.runs.ListRuns(ctx, &ferryv1.ListRunsRequest{})
	require.NoError(t, err)
	require.Len(t, list.GetRuns(), 1)
	require.Empty(t, list.GetRuns()[0].GetDeliveries())

	// A redelivery round, woken by a notification.
	conn, err := e.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `LISTEN ferry_deliveries`)
	require.NoError(t, err)
	resp, err := e.runs.RedeliverRun(ctx, &ferryv1.RedeliverRunRequest{Id: runID})
	require.NoError(t, err)
	r := resp.GetRun()
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_RUNNING, r.GetStatus())
	require.Equal(t, "redelivering", r.GetNote())
	require.Nil(t, r.GetEndTime())
	for _, d := range r.GetDeliveries() {
		require.Equal(t, ferryv1.DeliveryStatus_DELIVERY_STATUS_PENDING, d.GetStatus(), d.GetDestination())
		require.Empty(t, d.GetError())
		require.WithinDuration(t, time.Now(), d.GetNextAttemptTime().AsTime(), time.Minute)
		require.Len(t, d.GetAttempts(), 1, "earlier attempts stay")
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := conn.Conn().WaitForNotification(wctx)
	require.NoError(t, err)
	require.Equal(t, runID, n.Payload)
	var attempts []int
	rows, err := e.pool.Query(ctx, `SELECT attempts FROM ferry.deliveries WHERE run_id = $1`, runID)
	require.NoError(t, err)
	for rows.Next() {
		var a int
		require.NoError(t, rows.Scan(&a))
		attempts = append(attempts, a)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []int{0, 0}, attempts)

	// One destination only, once the round ended.
	_, err = e.pool.Exec(ctx, `UPDATE ferry.runs SET status = 'failed', finished_at = now() WHERE id = $1;`, runID)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `UPDATE ferry.deliveries SET status = 'succeeded' WHERE destination = 'bus'`)
	require.NoError(t, err)
	resp, err = e.runs.RedeliverRun(ctx, &ferryv1.RedeliverRunRequest{Id: runID, Destination: "other-bus"})
	require.NoError(t, err)
	require.Equal(t, ferryv1.DeliveryStatus_DELIVERY_STATUS_SUCCEEDED, resp.GetRun().GetDeliveries()[0].GetStatus())
	require.Equal(t, ferryv1.DeliveryStatus_DELIVERY_STATUS_PENDING, resp.GetRun().GetDeliveries()[1].GetStatus())

	// Files deleted after their retention period: nothing to deliver.
	_, err = e.pool.Exec(ctx, `UPDATE ferry.runs SET status = 'succeeded', finished_at = now(), outputs_deleted_at = now() WHERE id = $1`, runID)
	require.NoError(t, err)
	_, err = e.runs.RedeliverRun(ctx, &ferryv1.RedeliverRunRequest{Id: runID})
	requireCode(t, codes.FailedPrecondition, "files were deleted after their retention period", err)
}
