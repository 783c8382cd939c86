package store

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/destinations"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/secrets"
)

// A pin in the form ssh-keyscan prints; the key only has to parse.
const testPin = "sftp.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

func testKeyring(t testing.TB, ids ...string) (*secrets.Keyring, []string) {
	t.Helper()
	var specs []string
	for _, id := range ids {
		spec, err := secrets.GenerateSpec(id)
		require.NoError(t, err)
		specs = append(specs, spec)
	}
	k, err := secrets.Parse(strings.Join(specs, ","))
	require.NoError(t, err)
	return k, specs
}

func newDestStore(t *testing.T) (*Store, auth.Principal, auth.Principal) {
	x, p, other := newXRefs(t)
	return New(x.pool), p, other
}

func sftpSpec(password string) *ferryv1.DestinationSpec {
	return &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Sftp{Sftp: &ferryv1.SFTPDestination{
		Host: "sftp.example.com", Username: "acme", Password: password, HostKey: testPin, Directory: "/upload",
	}}}
}

func requireKind(t *testing.T, k errs.Kind, msg string, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, k, errs.KindOf(err), "%v", err)
	require.ErrorContains(t, err, msg)
}

// openStored returns the credentials of a stored destination, opened.
func openStored(t *testing.T, s *Store, k *secrets.Keyring, p auth.Principal, name string) map[string]string {
	t.Helper()
	l, err := destinations.Get(context.Background(), s.pool, p.TenantID, name)
	require.NoError(t, err)
	creds, err := destinations.Open(k, p.TenantID, l.ID, l.Sealed)
	require.NoError(t, err)
	return creds
}

func TestApplyDestination(t *testing.T) {
	s, p, _ := newDestStore(t)
	ctx := context.Background()
	k, _ := testKeyring(t, "k1")
	const password = "s3cret-Pa55word"

	d, outcome, err := s.ApplyDestination(ctx, p, "partner", sftpSpec(password), k)
	require.NoError(t, err)
	require.Equal(t, "created", outcome)
	require.Equal(t, []string{"password"}, d.GetSecretsSet())
	require.Empty(t, d.GetSpec().GetSftp().GetPassword())
	require.Equal(t, "/upload", d.GetSpec().GetSftp().GetDirectory())

	// Neither the API form, nor the spec column, nor the sealed column
	// holds the password.
	got, err := s.GetDestination(ctx, p, "partner")
	require.NoError(t, err)
	require.NotContains(t, got.String(), password)
	require.Equal(t, []string{"password"}, got.GetSecretsSet())
	list, err := s.ListDestinations(ctx, p)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NotContains(t, list[0].String(), password)
	var (
		specText string
		sealed   []byte
		set      []string
	)
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT spec::text, secrets, secrets_set FROM ferry.destinations WHERE name = 'partner'`).Scan(&specText, &sealed, &set))
	require.NotContains(t, specText, password)
	require.Contains(t, specText, "sftp.example.com")
	require.NotEmpty(t, sealed)
	require.NotContains(t, string(sealed), password)
	require.Equal(t, []string{"password"}, set)
	require.Equal(t, map[string]string{"password": password}, openStored(t, s, k, p, "partner"))

	// The same again, with or without the password: unchanged, not resealed.
	for _, pw := range []string{password, ""} {
		_, outcome, err = s.ApplyDestination(ctx, p, "partner", sftpSpec(pw), k)
		require.NoError(t, err)
		require.Equal(t, "unchanged", outcome, "password %q", pw)
	}
	var again []byte
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT secrets FROM ferry.destinations WHERE name = 'partner'`).Scan(&again))
	require.Equal(t, sealed, again)

	// Another directory, no password: updated, the password kept.
	spec := sftpSpec("")
	spec.GetSftp().Directory = "/in"
	d, outcome, err = s.ApplyDestination(ctx, p, "partner", spec, k)
	require.NoError(t, err)
	require.Equal(t, "updated", outcome)
	require.Equal(t, "/in", d.GetSpec().GetSftp().GetDirectory())
	require.Equal(t, []string{"password"}, d.GetSecretsSet())
	require.Equal(t, map[string]string{"password": password}, openStored(t, s, k, p, "partner"))

	// A key added: both kept.
	spec.GetSftp().PrivateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot really\n-----END OPENSSH PRIVATE KEY-----\n"
	d, outcome, err = s.ApplyDestination(ctx, p, "partner", spec, k)
	require.NoError(t, err)
	require.Equal(t, "updated", outcome)
	require.Equal(t, []string{"password", "private_key"}, d.GetSecretsSet())
	require.Equal(t, password, openStored(t, s, k, p, "partner")["password"])

	// A new password replaces the old one.
	spec = sftpSpec("new-password")
	spec.GetSftp().Directory = "/in"
	_, outcome, err = s.ApplyDestination(ctx, p, "partner", spec, k)
	require.NoError(t, err)
	require.Equal(t, "updated", outcome)
	require.Equal(t, "new-password", openStored(t, s, k, p, "partner")["password"])

	// Another kind: the SFTP credentials go.
	hook := &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Webhook{Webhook: &ferryv1.WebhookDestination{Url: "https://hooks.example.com/ferry", Secret: "hmac-key"}}}
	d, outcome, err = s.ApplyDestination(ctx, p, "partner", hook, k)
	require.NoError(t, err)
	require.Equal(t, "updated", outcome)
	require.Equal(t, []string{"secret"}, d.GetSecretsSet())
	require.Equal(t, map[string]string{"secret": "hmac-key"}, openStored(t, s, k, p, "partner"))
	var kind string
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT kind FROM ferry.destinations WHERE name = 'partner'`).Scan(&kind))
	require.Equal(t, "webhook", kind)

	// Back to SFTP without a password: nothing of the old one is left.
	_, _, err = s.ApplyDestination(ctx, p, "partner", sftpSpec(""), k)
	requireKind(t, errs.KindInvalid, "sftp needs a password or a private_key", err)

	// Without credentials at all, no key is needed.
	nats := &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Nats{Nats: &ferryv1.NATSDestination{Subject: "orders.daily"}}}
	d, outcome, err = s.ApplyDestination(ctx, p, "bus", nats, nil)
	require.NoError(t, err)
	require.Equal(t, "created", outcome)
	require.Empty(t, d.GetSecretsSet())
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT secrets FROM ferry.destinations WHERE name = 'bus'`).Scan(&again))
	require.Nil(t, again)
	_, outcome, err = s.ApplyDestination(ctx, p, "bus", nats, nil)
	require.NoError(t, err)
	require.Equal(t, "unchanged", outcome)

	_, err = s.GetDestination(ctx, p, "nope")
	requireKind(t, errs.KindNotFound, `destination "nope" not found`, err)
}

func TestApplyDestinationRefusals(t *testing.T) {
	s, p, _ := newDestStore(t)
	ctx := context.Background()
	k, _ := testKeyring(t, "k1")

	// Every problem is listed.
	_, _, err := s.ApplyDestination(ctx, p, "partner", &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Sftp{Sftp: &ferryv1.SFTPDestination{Port: 70000}}}, k)
	requireKind(t, errs.KindInvalid, `destination "partner": sftp.host is required; sftp.port 70000 is not a port; sftp.username is required; sftp needs a password or a private_key`, err)
	_, _, err = s.ApplyDestination(ctx, p, "partner", &ferryv1.DestinationSpec{}, k)
	requireKind(t, errs.KindInvalid, "a destination needs one of sftp, webhook or nats", err)
	_, _, err = s.ApplyDestination(ctx, p, "Partner!", sftpSpec("pw"), k)
	requireKind(t, errs.KindInvalid, `destination name "Partner!"`, err)

	// Credentials without a key to seal them.
	_, _, err = s.ApplyDestination(ctx, p, "partner", sftpSpec("pw"), nil)
	requireKind(t, errs.KindFailedPrecondition, "FERRY_SECRET_KEY or FERRY_SECRET_KEY_FILE", err)

	// internal needs an admin key.
	internal := &ferryv1.DestinationSpec{Internal: true, Kind: &ferryv1.DestinationSpec_Webhook{Webhook: &ferryv1.WebhookDestination{Url: "http://10.0.0.5/hook", Secret: "x"}}}
	_, _, err = s.ApplyDestination(ctx, p, "local", internal, k)
	requireKind(t, errs.KindPermission, "needs an admin key", err)
	admin := p
	admin.Admin = true
	d, outcome, err := s.ApplyDestination(ctx, admin, "local", internal, k)
	require.NoError(t, err)
	require.Equal(t, "created", outcome)
	require.True(t, d.GetSpec().GetInternal())
	// An http URL needs internal.
	internal.Internal = false
	_, _, err = s.ApplyDestination(ctx, p, "local", internal, k)
	requireKind(t, errs.KindInvalid, "must be https", err)

	// Nothing of the refused applies was stored.
	list, err := s.ListDestinations(ctx, p)
	require.NoError(t, err)
	require.Len(t, list, 1)
}

func TestDestinationTenantIsolation(t *testing.T) {
	s, p, other := newDestStore(t)
	ctx := context.Background()
	k, _ := testKeyring(t, "k1")
	_, _, err := s.ApplyDestination(ctx, p, "partner", sftpSpec("pw-acme"), k)
	require.NoError(t, err)

	_, err = s.GetDestination(ctx, other, "partner")
	requireKind(t, errs.KindNotFound, "not found", err)
	list, err := s.ListDestinations(ctx, other)
	require.NoError(t, err)
	require.Empty(t, list)

	// The same name in another tenant is another destination, and its
	// credentials are sealed for that tenant.
	_, outcome, err := s.ApplyDestination(ctx, other, "partner", sftpSpec("pw-other"), k)
	require.NoError(t, err)
	require.Equal(t, "created", outcome)
	require.Equal(t, "pw-acme", openStored(t, s, k, p, "partner")["password"])
	require.Equal(t, "pw-other", openStored(t, s, k, other, "partner")["password"])

	// A sealed value copied to the other tenant's row does not open there.
	_, err = s.pool.Exec(ctx, `UPDATE ferry.destinations SET secrets = (SELECT secrets FROM ferry.destinations WHERE tenant_id = $1) WHERE tenant_id = $2`, p.TenantID, other.TenantID)
	require.NoError(t, err)
	l, err := destinations.Get(ctx, s.pool, other.TenantID, "partner")
	require.NoError(t, err)
	_, err = l.Spec(k)
	require.Error(t, err)
	// Applying without the password then says the stored one is lost.
	_, _, err = s.ApplyDestination(ctx, other, "partner", sftpSpec(""), k)
	requireKind(t, errs.KindFailedPrecondition, "give every credential again (missing: password)", err)
	_, outcome, err = s.ApplyDestination(ctx, other, "partner", sftpSpec("pw-other"), k)
	require.NoError(t, err)
	require.Equal(t, "updated", outcome)
	require.Equal(t, "pw-other", openStored(t, s, k, other, "partner")["password"])
}

func TestRewrapDestinations(t *testing.T) {
	s, p, _ := newDestStore(t)
	ctx := context.Background()
	old, specs := testKeyring(t, "old")
	_, _, err := s.ApplyDestination(ctx, p, "partner", sftpSpec("pw"), old)
	require.NoError(t, err)

	n, err := s.RewrapDestinations(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, n)

	newer, newSpecs := testKeyring(t, "new")
	both, err := secrets.Parse(newSpecs[0] + "," + specs[0])
	require.NoError(t, err)
	n, err = s.RewrapDestinations(ctx, both)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, "pw", openStored(t, s, newer, p, "partner")["password"], "opens with the new key alone")
	n, err = s.RewrapDestinations(ctx, both)
	require.NoError(t, err)
	require.Zero(t, n)
}

// newExportRun stores a dataset, an export profile delivering to dests and
// one run of it, and returns the run's id.
func newExportRun(t *testing.T, s *Store, p auth.Principal, dests ...string) string {
	t.Helper()
	ctx := context.Background()
	_, err := s.pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+p.Schema)
	require.NoError(t, err)
	_, err = s.CreateDataset(ctx, p, &ferryv1.Dataset{Name: "users", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true}}})
	if !errs.Is(err, errs.KindConflict) {
		require.NoError(t, err)
	}
	_, _, err = s.ApplyExportProfile(ctx, p, "nightly", &ferryv1.ExportProfileSpec{Dataset: "users", Format: ferryv1.ExportFormat_EXPORT_FORMAT_JSONL,
		FileName: "users.jsonl", Destinations: dests})
	require.NoError(t, err)
	run, _, err := s.CreateExportRun(ctx, p, "nightly", ferryv1.RunTrigger_RUN_TRIGGER_MANUAL)
	require.NoError(t, err)
	return run.GetId()
}

func TestExportProfileDestinations(t *testing.T) {
	s, p, other := newDestStore(t)
	ctx := context.Background()
	_, err := s.pool.Exec(ctx, `CREATE SCHEMA `+p.Schema)
	require.NoError(t, err)
	_, err = s.CreateDataset(ctx, p, &ferryv1.Dataset{Name: "users", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true}}})
	require.NoError(t, err)
	spec := &ferryv1.ExportProfileSpec{Dataset: "users", FileName: "users.csv", Destinations: []string{"bus", "partner"}}

	ep, _, err := s.ApplyExportProfile(ctx, p, "nightly", spec)
	require.NoError(t, err)
	require.False(t, ep.GetValid())
	require.Equal(t, []string{`destination "bus" does not exist`, `destination "partner" does not exist`}, ep.GetProblems())

	// Another tenant's destination of the name does not count.
	k, _ := testKeyring(t, "k1")
	_, _, err = s.ApplyDestination(ctx, other, "partner", sftpSpec("pw"), k)
	require.NoError(t, err)
	_, _, err = s.ApplyDestination(ctx, p, "bus", &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Nats{Nats: &ferryv1.NATSDestination{Subject: "users"}}}, k)
	require.NoError(t, err)
	ep, err = s.GetExportProfile(ctx, p, "nightly", 0)
	require.NoError(t, err)
	require.Equal(t, []string{`destination "bus" publishes rows on NATS, which needs format jsonl (or the destination's mode notice)`,
		`destination "partner" does not exist`}, ep.GetProblems())
	_, _, err = s.CreateExportRun(ctx, p, "nightly", ferryv1.RunTrigger_RUN_TRIGGER_MANUAL)
	requireKind(t, errs.KindFailedPrecondition, `destination "partner" does not exist`, err)

	// Stored without a pin: testable, but nothing is delivered to it.
	unpinned := sftpSpec("pw")
	unpinned.GetSftp().HostKey = ""
	_, _, err = s.ApplyDestination(ctx, p, "partner", unpinned, k)
	require.NoError(t, err)
	ep, err = s.GetExportProfile(ctx, p, "nightly", 0)
	require.NoError(t, err)
	require.Contains(t, ep.GetProblems(), "destination \"partner\" has no pinned host key: run `ferry destinations test partner` and pin the key it shows")

	_, _, err = s.ApplyDestination(ctx, p, "partner", sftpSpec(""), k)
	require.NoError(t, err)
	_, _, err = s.ApplyDestination(ctx, p, "bus", &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Nats{Nats: &ferryv1.NATSDestination{Subject: "users",
		Mode: ferryv1.NATSMode_NATS_MODE_NOTICE}}}, k)
	require.NoError(t, err)
	ep, err = s.GetExportProfile(ctx, p, "nightly", 0)
	require.NoError(t, err)
	require.True(t, ep.GetValid(), "%v", ep.GetProblems())

	spec.Destinations = []string{"partner", "partner"}
	_, _, err = s.ApplyExportProfile(ctx, p, "nightly", spec)
	requireKind(t, errs.KindInvalid, `destination "partner" is listed twice`, err)
}

func TestImportProfileSFTPSource(t *testing.T) {
	s, p, _ := newDestStore(t)
	ctx := context.Background()
	_, err := s.pool.Exec(ctx, `CREATE SCHEMA `+p.Schema)
	require.NoError(t, err)
	_, err = s.CreateDataset(ctx, p, &ferryv1.Dataset{Name: "users", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true}}})
	require.NoError(t, err)
	k, _ := testKeyring(t, "k1")
	_, _, err = s.ApplyDestination(ctx, p, "hook", &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Webhook{Webhook: &ferryv1.WebhookDestination{
		Url: "https://hooks.example.com", Secret: "x"}}}, k)
	require.NoError(t, err)
	profile := func(src *ferryv1.SFTPSource) *ferryv1.ImportProfileSpec {
		return &ferryv1.ImportProfileSpec{Dataset: "users", SftpSource: src}
	}

	for _, c := range []struct {
		src  *ferryv1.SFTPSource
		want string
	}{
		{&ferryv1.SFTPSource{Connection: "partner"}, `sftpSource.connection "partner" is not a destination`},
		{&ferryv1.SFTPSource{Connection: "hook"}, `sftpSource.connection "hook" is a webhook destination; it must be an sftp one`},
		{&ferryv1.SFTPSource{}, "sftpSource.connection is required"},
		{&ferryv1.SFTPSource{Connection: "partner", Glob: "[a-"}, `sftpSource.glob "[a-" is not a valid pattern`},
		{&ferryv1.SFTPSource{Connection: "partner", PollIntervalSeconds: -1}, "pollIntervalSeconds -1 must not be negative"},
		{&ferryv1.SFTPSource{Connection: "partner", ArchiveDirectory: "../out"}, `archiveDirectory "../out" has a ".." segment`},
	} {
		_, _, err := s.ApplyProfile(ctx, p, "users-sftp", profile(c.src))
		requireKind(t, errs.KindInvalid, c.want, err)
	}

	_, _, err = s.ApplyDestination(ctx, p, "partner", sftpSpec("pw"), k)
	require.NoError(t, err)
	src := &ferryv1.SFTPSource{Connection: "partner", Directory: "outgoing", Glob: "*.csv", PollIntervalSeconds: 30,
		AfterSuccess: ferryv1.AfterImport_AFTER_IMPORT_DELETE}
	prof, outcome, err := s.ApplyProfile(ctx, p, "users-sftp", profile(src))
	require.NoError(t, err)
	require.Equal(t, "created", outcome)
	require.True(t, proto.Equal(src, prof.GetSpec().GetSftpSource()))
}

func TestRunDeliveries(t *testing.T) {
	s, p, other := newDestStore(t)
	ctx := context.Background()
	k, _ := testKeyring(t, "k1")
	_, _, err := s.ApplyDestination(ctx, p, "partner", sftpSpec("pw"), k)
	require.NoError(t, err)
	runID := newExportRun(t, s, p, "partner")

	// No deliveries yet: no round to start again.
	_, err = s.pool.Exec(ctx, `UPDATE ferry.runs SET status = 'failed', finished_at = now(), error = 'delivery failed' WHERE id = $1`, runID)
	require.NoError(t, err)
	_, err = s.RedeliverRun(ctx, p, runID, "")
	requireKind(t, errs.KindFailedPrecondition, "has no deliveries", err)

	l, err := destinations.Get(ctx, s.pool, p.TenantID, "partner")
	require.NoError(t, err)
	dID := uuid.New()
	_, err = s.pool.Exec(ctx, `INSERT INTO ferry.deliveries (id, tenant_id, run_id, destination_id, destination, kind, status, attempts, error)
		VALUES ($1, $2, $3, $4, 'partner', 'sftp', 'failed', 2, 'permission denied')`, dID, p.TenantID, runID, l.ID)
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, `INSERT INTO ferry.delivery_attempts (delivery_id, number, started_at, finished_at, outcome, error_class, message, next_attempt_at) VALUES
		($1, 2, now(), now(), 'failed', 'permanent', 'permission denied', NULL),
		($1, 1, now() - interval '1 minute', now() - interval '1 minute', 'retry', 'transient', 'connection reset', now())`, dID)
	require.NoError(t, err)

	run, err := s.GetRun(ctx, p, runID)
	require.NoError(t, err)
	require.Len(t, run.GetDeliveries(), 1)
	d := run.GetDeliveries()[0]
	require.Equal(t, "partner", d.GetDestination())
	require.Equal(t, ferryv1.DeliveryStatus_DELIVERY_STATUS_FAILED, d.GetStatus())
	require.Nil(t, d.GetNextAttemptTime(), "only a pending delivery has a next attempt")
	require.Len(t, d.GetAttempts(), 2)
	require.EqualValues(t, 1, d.GetAttempts()[0].GetNumber())
	require.Equal(t, "retry", d.GetAttempts()[0].GetOutcome())
	require.NotNil(t, d.GetAttempts()[0].GetNextAttemptTime())
	require.Equal(t, "permanent", d.GetAttempts()[1].GetErrorClass())

	_, err = s.RedeliverRun(ctx, other, runID, "")
	requireKind(t, errs.KindNotFound, "not found", err)
	_, err = s.RedeliverRun(ctx, p, runID, "elsewhere")
	requireKind(t, errs.KindNotFound, `has no delivery to destination "elsewhere"`, err)

	run, err = s.RedeliverRun(ctx, p, runID, "partner")
	require.NoError(t, err)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_RUNNING, run.GetStatus())
	require.Equal(t, "redelivering", run.GetNote())
	require.Empty(t, run.GetError())
	require.Nil(t, run.GetEndTime())
	d = run.GetDeliveries()[0]
	require.Equal(t, ferryv1.DeliveryStatus_DELIVERY_STATUS_PENDING, d.GetStatus())
	require.NotNil(t, d.GetNextAttemptTime())
	require.Empty(t, d.GetError())
	require.Len(t, d.GetAttempts(), 2, "the history stays")
	var attempts, round int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT attempts, round FROM ferry.deliveries WHERE id = $1`, dID).Scan(&attempts, &round))
	require.Zero(t, attempts)
	require.Equal(t, 2, round, "a redelivery is the delivery's second round")

	// Running again: not now.
	_, err = s.RedeliverRun(ctx, p, runID, "")
	requireKind(t, errs.KindFailedPrecondition, "is running", err)

	// Canceling the run cancels its pending deliveries.
	run, err = s.CancelRun(ctx, p, runID)
	require.NoError(t, err)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_CANCELED, run.GetStatus())
	require.Equal(t, ferryv1.DeliveryStatus_DELIVERY_STATUS_CANCELED, run.GetDeliveries()[0].GetStatus())
}
