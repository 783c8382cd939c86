package destinations_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/destinations"
	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/store/storetest"
)

func sftpSpec() *ferryv1.DestinationSpec {
	return &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Sftp{Sftp: &ferryv1.SFTPDestination{
		Host: "sftp.example", Username: "u", Password: "pw-123", PrivateKey: "-----BEGIN KEY-----", Passphrase: "pp",
		HostKey: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", Directory: "/upload", Path: "{profile}/{date:2006}"}}}
}

func keyring(t *testing.T, id string) *secrets.Keyring {
	spec, err := secrets.GenerateSpec(id)
	require.NoError(t, err)
	k, err := secrets.Parse(spec)
	require.NoError(t, err)
	return k
}

func TestSplitMergeSeal(t *testing.T) {
	full := sftpSpec()
	pub, creds := destinations.Split(full)
	require.Equal(t, map[string]string{"password": "pw-123", "private_key": "-----BEGIN KEY-----", "passphrase": "pp"}, creds)
	require.Equal(t, []string{"password", "private_key", "passphrase"}, destinations.Names(creds))
	js, err := protojson.Marshal(pub)
	require.NoError(t, err)
	for _, v := range creds {
		require.NotContains(t, string(js), v)
	}
	require.Equal(t, "pw-123", full.GetSftp().GetPassword(), "Split leaves its argument alone")

	k := keyring(t, "k1")
	tenant, id := uuid.New(), uuid.New()
	sealed, err := destinations.Seal(k, tenant, id, creds)
	require.NoError(t, err)
	require.False(t, bytes.Contains(sealed, []byte("pw-123")))
	opened, err := destinations.Open(k, tenant, id, sealed)
	require.NoError(t, err)
	require.True(t, proto.Equal(full, destinations.Merge(pub, opened)))

	// Bound to the tenant and the destination.
	_, err = destinations.Open(k, uuid.New(), id, sealed)
	require.Error(t, err)
	_, err = destinations.Open(k, tenant, uuid.New(), sealed)
	require.Error(t, err)
	// No key: refused, never stored in the clear.
	_, err = destinations.Seal(nil, tenant, id, creds)
	require.ErrorIs(t, err, secrets.ErrNoKey)
	none, err := destinations.Seal(nil, tenant, id, nil)
	require.NoError(t, err)
	require.Nil(t, none)
}

func TestValidate(t *testing.T) {
	require.Empty(t, destinations.Validate(sftpSpec()))
	bad := func(mut func(s *ferryv1.DestinationSpec), want string) {
		t.Helper()
		s := sftpSpec()
		mut(s)
		require.Contains(t, strings.Join(destinations.Validate(s), "\n"), want)
	}
	bad(func(s *ferryv1.DestinationSpec) { s.GetSftp().HostKey = "ssh-ed25519 not-base64" }, "host_key")
	unpinned := sftpSpec()
	unpinned.GetSftp().HostKey = ""
	require.Empty(t, destinations.Validate(unpinned), "stored unpinned, to be tested")
	require.True(t, destinations.Unpinned(unpinned))
	require.False(t, destinations.Unpinned(sftpSpec()))
	bad(func(s *ferryv1.DestinationSpec) { s.GetSftp().Password, s.GetSftp().PrivateKey = "", "" }, "password or a private_key")
	bad(func(s *ferryv1.DestinationSpec) { s.GetSftp().Path = "../up" }, `".."`)
	bad(func(s *ferryv1.DestinationSpec) { s.GetSftp().Path = "/etc" }, "absolute")
	bad(func(s *ferryv1.DestinationSpec) { s.GetSftp().Path = "a\x00b" }, "control character")
	bad(func(s *ferryv1.DestinationSpec) { s.GetSftp().Path = "{secret}" }, "unknown placeholder")
	hook := &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Webhook{Webhook: &ferryv1.WebhookDestination{Url: "http://x.example/h", Secret: "s"}}}
	require.Contains(t, strings.Join(destinations.Validate(hook), "\n"), "must be https")
	hook.Internal = true
	require.Empty(t, destinations.Validate(hook))
	nats := &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Nats{Nats: &ferryv1.NATSDestination{Subject: "a.>"}}}
	require.NotEmpty(t, destinations.Validate(nats))
	require.NotEmpty(t, destinations.Validate(&ferryv1.DestinationSpec{}))
}

// Substituted values stay inside one path segment under the base.
func TestDirConfined(t *testing.T) {
	s := sftpSpec().GetSftp()
	dir, err := destinations.Dir(s, destinations.PathValues{Profile: "../../etc", Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Equal(t, "/upload/_.._.._etc/2026", dir)
	s.Path = "{date:2006/01}"
	dir, err = destinations.Dir(s, destinations.PathValues{Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Equal(t, "/upload/2026_03", dir, "a layout cannot add a directory level")
}

// Rewrap seals every stored credential with the primary key, so that the
// old key can be removed.
func TestRewrap(t *testing.T) {
	ctx := context.Background()
	pool := storetest.Open(t)
	tenant, id := uuid.New(), uuid.New()
	_, err := pool.Exec(ctx, `INSERT INTO ferry.tenants (id, name, schema_name) VALUES ($1, 't', 'tenant_t')`, tenant)
	require.NoError(t, err)

	oldSpec, _ := secrets.GenerateSpec("old")
	newSpec, _ := secrets.GenerateSpec("new")
	oldKeys, err := secrets.Parse(oldSpec)
	require.NoError(t, err)
	pub, creds := destinations.Split(sftpSpec())
	sealed, err := destinations.Seal(oldKeys, tenant, id, creds)
	require.NoError(t, err)
	js, _ := protojson.Marshal(pub)
	_, err = pool.Exec(ctx, `INSERT INTO ferry.destinations (id, tenant_id, name, kind, spec, secrets, secrets_set) VALUES ($1, $2, 'd', 'sftp', $3, $4, $5)`,
		id, tenant, js, sealed, destinations.Names(creds))
	require.NoError(t, err)

	both, err := secrets.Parse(newSpec + "," + oldSpec)
	require.NoError(t, err)
	n, err := destinations.Rewrap(ctx, pool, both)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = destinations.Rewrap(ctx, pool, both)
	require.NoError(t, err)
	require.Zero(t, n, "already under the primary key")

	onlyNew, err := secrets.Parse(newSpec)
	require.NoError(t, err)
	l, err := destinations.Get(ctx, pool, tenant, "d")
	require.NoError(t, err)
	full, err := l.Spec(onlyNew)
	require.NoError(t, err)
	require.Equal(t, "pw-123", full.GetSftp().GetPassword())
	_, err = l.Spec(oldKeys)
	require.Error(t, err, "the old key no longer opens it")
}

func TestRetryDefaults(t *testing.T) {
	r := destinations.RetryOf(&ferryv1.DestinationSpec{})
	require.Equal(t, destinations.Retry{MaxAttempts: 10, Initial: 30 * time.Second, Max: 30 * time.Minute}, r)
	r = destinations.RetryOf(&ferryv1.DestinationSpec{Retry: &ferryv1.RetryPolicy{MaxAttempts: 3, InitialBackoffSeconds: 5, MaxBackoffSeconds: 1}})
	require.Equal(t, destinations.Retry{MaxAttempts: 3, Initial: 5 * time.Second, Max: 5 * time.Second}, r)
}
