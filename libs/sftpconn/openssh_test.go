package sftpconn_test

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/ferrydata/ferry/libs/sftpconn"
	"github.com/ferrydata/ferry/libs/testkit"
)

func TestOpenSSH(t *testing.T) {
	srv := testkit.StartOpenSSH(t)
	base := t.TempDir() // absolute; sshd runs as the same user
	hostKeyLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey)))
	cfg := sftpconn.Config{
		Host: "127.0.0.1", Port: srv.Port, User: srv.User,
		PrivateKey: srv.ClientKey, HostKey: hostKeyLine, Timeout: 10 * time.Second,
	}
	ctx := context.Background()

	t.Run("probe", func(t *testing.T) {
		cfg := cfg
		cfg.HostKey = ""
		res, err := sftpconn.Probe(ctx, cfg, base)
		require.NoError(t, err)
		require.Equal(t, sftpconn.Fingerprint(srv.HostKey), res.Fingerprint)
		require.Equal(t, hostKeyLine, res.KeyLine)
		require.True(t, res.Writable, res.WriteError)

		res, err = sftpconn.Probe(ctx, cfg, filepath.Join(base, "missing"))
		require.NoError(t, err)
		require.False(t, res.Writable)
		require.Contains(t, res.WriteError, "does not exist")
	})

	t.Run("upload", func(t *testing.T) {
		c, err := sftpconn.Dial(ctx, cfg)
		require.NoError(t, err)
		defer c.Close()
		data := randomData(t, 1<<20+123)
		dir := path.Join(base, "sub", "dir")

		res, err := c.Upload(ctx, dir, "export.csv", bytes.NewReader(data), sftpconn.UploadOptions{MkdirAll: true})
		require.NoError(t, err)
		require.Equal(t, int64(len(data)), res.Size)
		require.Equal(t, "rename", res.Renamed, "without Overwrite the plain rename refuses to replace")
		got, err := os.ReadFile(filepath.Join(base, "sub", "dir", "export.csv"))
		require.NoError(t, err)
		require.Equal(t, data, got)

		_, err = c.Upload(ctx, dir, "export.csv", bytes.NewReader(data[:10]), sftpconn.UploadOptions{})
		requirePermanent(t, err, sftpconn.ErrExists)

		// A target that appears during the upload is not replaced either:
		// OpenSSH's plain rename refuses an existing target.
		late := filepath.Join(base, "sub", "dir", "late.csv")
		r := &hookReader{r: bytes.NewReader(data), hook: func() { _ = os.WriteFile(late, []byte("first"), 0o644) }}
		_, err = c.Upload(ctx, dir, "late.csv", r, sftpconn.UploadOptions{})
		requirePermanent(t, err, sftpconn.ErrExists)
		got, err = os.ReadFile(late)
		require.NoError(t, err)
		require.Equal(t, "first", string(got))

		data = randomData(t, 1<<20)
		res, err = c.Upload(ctx, dir, "export.csv", bytes.NewReader(data), sftpconn.UploadOptions{Overwrite: true})
		require.NoError(t, err)
		require.Equal(t, "posix-rename", res.Renamed)
		got, err = os.ReadFile(filepath.Join(base, "sub", "dir", "export.csv"))
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.Empty(t, partFiles(t, base))
	})

	t.Run("wrong pin", func(t *testing.T) {
		other, _ := newKey(t, "")
		cfg := cfg
		cfg.HostKey = sftpconn.Fingerprint(other.PublicKey())
		_, err := sftpconn.Dial(ctx, cfg)
		requirePermanent(t, err, sftpconn.ErrHostKeyMismatch)
		require.Contains(t, err.Error(), sftpconn.Fingerprint(srv.HostKey))
	})

	t.Run("unknown key", func(t *testing.T) {
		_, other := newKey(t, "")
		cfg := cfg
		cfg.PrivateKey = other
		_, err := sftpconn.Dial(ctx, cfg)
		requirePermanent(t, err, sftpconn.ErrAuth)
	})
}
