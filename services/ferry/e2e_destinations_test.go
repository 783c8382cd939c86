package main

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/testkit"
	"github.com/ferrydata/ferry/libs/webhook"
)

// startDeliveryServer starts a server with a secret key, a fast delivery
// poll and the students dataset holding a few rows.
func startDeliveryServer(t *testing.T) (*proc, *client, ferryv1.DestinationServiceClient) {
	key, err := secrets.GenerateSpec("k1")
	require.NoError(t, err)
	db := testkit.Database(t, true)
	srv := startServer(t, []string{"FERRY_SECRET_KEY=" + key}, "--database-url", db, "--data-dir", t.TempDir(), "--delivery-poll", "200ms")
	c := dial(t, srv.GRPCAddr, srv.Key)
	applyResources(t, srv.GRPCAddr, srv.Key)
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, genStudents(25, 21)))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	return srv, c, ferryv1.NewDestinationServiceClient(c.conn)
}

func fastRetry() *ferryv1.RetryPolicy {
	return &ferryv1.RetryPolicy{MaxAttempts: 20, InitialBackoffSeconds: 1, MaxBackoffSeconds: 1}
}

func (c *client) applyDestination(t *testing.T, d ferryv1.DestinationServiceClient, name string, spec *ferryv1.DestinationSpec) *ferryv1.Destination {
	t.Helper()
	resp, err := d.ApplyDestination(c.ctx(t), &ferryv1.ApplyDestinationRequest{Name: name, Spec: spec})
	require.NoError(t, err)
	return resp.GetDestination()
}

// startExport starts a run without waiting.
func (c *client) startExport(t *testing.T, name string) string {
	t.Helper()
	resp, err := c.Exp.StartExport(c.ctx(t), &ferryv1.StartExportRequest{Name: name})
	require.NoError(t, err)
	return resp.GetRun().GetId()
}

func delivery(t *testing.T, run *ferryv1.Run, dest string) *ferryv1.Delivery {
	t.Helper()
	for _, d := range run.GetDeliveries() {
		if d.GetDestination() == dest {
			return d
		}
	}
	t.Fatalf("run %s has no delivery to %s: %v", run.GetId(), dest, run.GetDeliveries())
	return nil
}

// TestSFTPDeliveryOpenSSH delivers an export to OpenSSH's sftp-server with
// key login and a pinned host key: the file lands under the base directory
// in the templated path, complete, and the run shows the delivery. A
// redelivery writes the same name again, never a second copy. Credentials
// appear neither in API responses nor in the server's log.
func TestSFTPDeliveryOpenSSH(t *testing.T) {
	sshd := testkit.StartOpenSSH(t)
	srv, c, dests := startDeliveryServer(t)
	base := t.TempDir()

	// The person pins the key that `destinations test` shows.
	d := c.applyDestination(t, dests, "district", &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Sftp{Sftp: &ferryv1.SFTPDestination{
		Host: sshd.Host, Port: int32(sshd.Port), Username: sshd.User, PrivateKey: string(sshd.ClientKey),
		HostKey: sshd.HostKeyLine(), Directory: base, Path: "{profile}/{date:2006}", CreateDirs: true}}, Retry: fastRetry()})
	require.Equal(t, []string{"private_key"}, d.GetSecretsSet())
	require.Empty(t, d.GetSpec().GetSftp().GetPrivateKey())
	test, err := dests.TestDestination(c.ctx(t), &ferryv1.TestDestinationRequest{Name: "district"})
	require.NoError(t, err)
	require.True(t, test.GetOk(), test.GetMessage())
	require.True(t, test.GetHostKeyMatches())
	require.True(t, test.GetWritable())

	c.applyExport(t, "to-district", &ferryv1.ExportProfileSpec{Dataset: "students", FileName: "students_{run}.csv",
		Destinations: []string{"district"}})
	id := c.startExport(t, "to-district")
	run := c.waitRun(t, id, 2*time.Minute)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	dl := delivery(t, run, "district")
	require.Equal(t, ferryv1.DeliveryStatus_DELIVERY_STATUS_SUCCEEDED, dl.GetStatus())
	require.Len(t, dl.GetAttempts(), 1)
	require.Equal(t, "succeeded", dl.GetAttempts()[0].GetOutcome())

	dir := filepath.Join(base, "to-district", run.GetCreateTime().AsTime().UTC().Format("2006"))
	name := "students_" + id + ".csv"
	got, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	require.Equal(t, c.download(t, id, name), got)
	require.Equal(t, []string{filepath.Join(dir, name)}, dl.GetLocations())

	// Delivered again: the same name, replaced; nothing else in the directory.
	_, err = c.Runs.RedeliverRun(c.ctx(t), &ferryv1.RedeliverRunRequest{Id: id})
	require.NoError(t, err)
	run = c.waitRun(t, id, 2*time.Minute)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Len(t, delivery(t, run, "district").GetAttempts(), 2)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "one file, no second copy and no temporary file left")

	// The private key is nowhere to be seen.
	get, err := dests.GetDestination(c.ctx(t), &ferryv1.GetDestinationRequest{Name: "district"})
	require.NoError(t, err)
	js, _ := protojson.Marshal(get)
	keyBody := strings.Split(strings.TrimSpace(string(sshd.ClientKey)), "\n")[2]
	require.NotContains(t, string(js), keyBody)
	require.NotContains(t, srv.log.String(), keyBody)
}

// TestSFTPDeliveryFaults runs deliveries against the in-process SFTP
// server: a server that is down is tried again until it is back; a wrong
// password and a changed host key fail at once with a clear reason; one
// failing destination does not keep the other from its file.
func TestSFTPDeliveryFaults(t *testing.T) {
	const password = "correct horse battery staple"
	sftpd := testkit.StartSFTP(t, testkit.SFTPServerOptions{User: "ferry", Password: password})
	srv, c, dests := startDeliveryServer(t)
	sftp := func(pw, hostKey, path string) *ferryv1.DestinationSpec {
		return &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Sftp{Sftp: &ferryv1.SFTPDestination{
			Host: sftpd.Host, Port: int32(sftpd.Port), Username: "ferry", Password: pw, HostKey: hostKey,
			Directory: "/", Path: path, CreateDirs: true}}, Retry: fastRetry()}
	}
	c.applyDestination(t, dests, "good", sftp(password, sftpd.HostKeyLine(), "good"))
	c.applyDestination(t, dests, "wrong-password", sftp("not it", sftpd.HostKeyLine(), "wrong"))
	other := testkit.StartSFTP(t, testkit.SFTPServerOptions{User: "ferry", Password: password})
	c.applyDestination(t, dests, "changed-key", sftp(password, other.HostKeyLine(), "changed"))

	t.Run("down then up", func(t *testing.T) {
		c.applyExport(t, "to-good", &ferryv1.ExportProfileSpec{Dataset: "students", FileName: "students.csv", Destinations: []string{"good"}})
		sftpd.Stop()
		id := c.startExport(t, "to-good")
		// Attempts fail while the server is down, each with a next attempt.
		require.Eventually(t, func() bool {
			r, err := c.Runs.GetRun(c.ctx(t), &ferryv1.GetRunRequest{Id: id})
			require.NoError(t, err)
			if len(r.GetRun().GetDeliveries()) == 0 {
				return false
			}
			atts := r.GetRun().GetDeliveries()[0].GetAttempts()
			return len(atts) >= 2 && atts[0].GetOutcome() == "retry" && atts[0].GetErrorClass() == "transient" &&
				atts[0].GetNextAttemptTime() != nil
		}, time.Minute, 100*time.Millisecond)
		r, err := c.Runs.GetRun(c.ctx(t), &ferryv1.GetRunRequest{Id: id})
		require.NoError(t, err)
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_RUNNING, r.GetRun().GetStatus(), "the run waits for its delivery")
		sftpd.Restart()
		run := c.waitRun(t, id, 2*time.Minute)
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
		got, err := os.ReadFile(filepath.Join(sftpd.Root, "good", "students.csv"))
		require.NoError(t, err)
		require.Equal(t, c.download(t, id, "students.csv"), got)
	})

	t.Run("wrong password and changed host key fail at once", func(t *testing.T) {
		c.applyExport(t, "to-all", &ferryv1.ExportProfileSpec{Dataset: "students", FileName: "all.csv",
			Destinations: []string{"good", "wrong-password", "changed-key"}})
		run := c.waitRun(t, c.startExport(t, "to-all"), 2*time.Minute)
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_FAILED, run.GetStatus())
		require.Contains(t, run.GetError(), "wrong-password")
		require.Contains(t, run.GetError(), "changed-key")

		good := delivery(t, run, "good")
		require.Equal(t, ferryv1.DeliveryStatus_DELIVERY_STATUS_SUCCEEDED, good.GetStatus())
		_, err := os.Stat(filepath.Join(sftpd.Root, "good", "all.csv"))
		require.NoError(t, err)

		for _, name := range []string{"wrong-password", "changed-key"} {
			d := delivery(t, run, name)
			require.Equal(t, ferryv1.DeliveryStatus_DELIVERY_STATUS_FAILED, d.GetStatus())
			require.Len(t, d.GetAttempts(), 1, "no retry of a permanent error")
			require.Equal(t, "permanent", d.GetAttempts()[0].GetErrorClass())
		}
		require.Contains(t, delivery(t, run, "changed-key").GetError(), "host key")
		require.NotContains(t, run.GetError(), password)
		require.NotContains(t, srv.log.String(), password)
		require.NotContains(t, srv.log.String(), "not it")
	})

	t.Run("paths leave no base", func(t *testing.T) {
		_, err := dests.ApplyDestination(c.ctx(t), &ferryv1.ApplyDestinationRequest{Name: "escape", Spec: sftp(password, sftpd.HostKeyLine(), "../outside")})
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
		_, err = dests.ApplyDestination(c.ctx(t), &ferryv1.ApplyDestinationRequest{Name: "abs", Spec: sftp(password, sftpd.HostKeyLine(), "/etc")})
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	})
}

// TestWebhookDelivery posts a file to a receiver that checks the
// signature, and refuses a loopback target that is not marked internal.
func TestWebhookDelivery(t *testing.T) {
	const secret = "whsec-test-0123456789"
	var mu sync.Mutex
	var bodies [][]byte
	var sigErr error
	recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), b, time.Now(), 5*time.Minute); err != nil {
			sigErr = err
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		bodies = append(bodies, b)
	}))
	t.Cleanup(recv.Close)
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: recv.Certificate().Raw}))

	srv, c, dests := startDeliveryServer(t)
	hook := func(internal bool) *ferryv1.DestinationSpec {
		return &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Webhook{Webhook: &ferryv1.WebhookDestination{
			Url: recv.URL + "/ferry", Secret: secret, CaCert: ca}}, Internal: internal, Retry: fastRetry()}
	}
	c.applyDestination(t, dests, "receiver", hook(true))
	c.applyDestination(t, dests, "ssrf", hook(false))

	c.applyExport(t, "to-hook", &ferryv1.ExportProfileSpec{Dataset: "students", FileName: "hook.csv", Destinations: []string{"receiver"}})
	id := c.startExport(t, "to-hook")
	run := c.waitRun(t, id, 2*time.Minute)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	mu.Lock()
	require.NoError(t, sigErr)
	require.Len(t, bodies, 1)
	require.Equal(t, c.download(t, id, "hook.csv"), bodies[0])
	mu.Unlock()

	c.applyExport(t, "to-ssrf", &ferryv1.ExportProfileSpec{Dataset: "students", FileName: "ssrf.csv", Destinations: []string{"ssrf"}})
	run = c.waitRun(t, c.startExport(t, "to-ssrf"), 2*time.Minute)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_FAILED, run.GetStatus())
	d := delivery(t, run, "ssrf")
	require.Len(t, d.GetAttempts(), 1)
	require.Equal(t, "permanent", d.GetAttempts()[0].GetErrorClass())
	require.Contains(t, d.GetError(), "internal")
	mu.Lock()
	require.Len(t, bodies, 1, "the refused target got no request")
	mu.Unlock()
	require.NotContains(t, srv.log.String(), secret)
}
