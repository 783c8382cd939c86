package sftpconn_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ferrydata/ferry/libs/sftpconn"
	"github.com/ferrydata/ferry/libs/testkit"
)

const password = "s3cret"

// newKey returns a fresh ed25519 key as a signer and as an OpenSSH PEM,
// encrypted when passphrase is set.
func newKey(t *testing.T, passphrase string) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "ferry test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "ferry test", []byte(passphrase))
	}
	require.NoError(t, err)
	return signer, pem.EncodeToMemory(block)
}

// passwordServer starts a test server with password login and returns it
// with a pinned config for it.
func passwordServer(t *testing.T, o testkit.SFTPServerOptions) (*testkit.SFTPServer, sftpconn.Config) {
	t.Helper()
	o.Password = password
	srv := testkit.StartSFTP(t, o)
	return srv, sftpconn.Config{
		Host:     srv.Host,
		Port:     srv.Port,
		User:     "ferry",
		Password: password,
		HostKey:  srv.HostKeyLine(),
		Timeout:  5 * time.Second,
	}
}

func dial(t *testing.T, cfg sftpconn.Config) *sftpconn.Client {
	t.Helper()
	c, err := sftpconn.Dial(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func requirePermanent(t *testing.T, err error, target error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, sftpconn.Permanent, sftpconn.ClassOf(err), "%v", err)
	if target != nil {
		require.ErrorIs(t, err, target)
	}
}

func requireTransient(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, sftpconn.Transient, sftpconn.ClassOf(err), "%v", err)
	var e *sftpconn.Error
	require.ErrorAs(t, err, &e, "classified, not a bare error")
}

// partFiles lists the temporary upload files left under root.
func partFiles(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(d.Name(), ".part") || strings.HasPrefix(d.Name(), ".ferry-probe") {
			found = append(found, p)
		}
		return nil
	}))
	return found
}

func upload(t *testing.T, c *sftpconn.Client, dir, name string, data []byte, o sftpconn.UploadOptions) (sftpconn.UploadResult, error) {
	t.Helper()
	return c.Upload(context.Background(), dir, name, bytes.NewReader(data), o)
}

func randomData(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func TestPasswordAuth(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	c := dial(t, cfg)
	res, err := upload(t, c, "/", "hello.txt", []byte("hello\n"), sftpconn.UploadOptions{})
	require.NoError(t, err)
	require.Equal(t, sftpconn.UploadResult{Path: "/hello.txt", Size: 6, Renamed: "rename"}, res)
	got, err := os.ReadFile(filepath.Join(srv.Root, "hello.txt"))
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(got))
}

func TestWrongPassword(t *testing.T) {
	_, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	cfg.Password = "wrong"
	_, err := sftpconn.Dial(context.Background(), cfg)
	requirePermanent(t, err, sftpconn.ErrAuth)
}

func TestKeyAuth(t *testing.T) {
	signer, encrypted := newKey(t, "correct horse")
	srv := testkit.StartSFTP(t, testkit.SFTPServerOptions{AuthorizedKey: signer.PublicKey()})
	cfg := sftpconn.Config{Host: srv.Host, Port: srv.Port, User: "ferry", PrivateKey: encrypted, Passphrase: []byte("correct horse"), HostKey: srv.HostKeyLine()}

	t.Run("encrypted key with passphrase", func(t *testing.T) {
		c := dial(t, cfg)
		_, err := upload(t, c, ".", "k.txt", []byte("k"), sftpconn.UploadOptions{})
		require.NoError(t, err)
	})
	t.Run("passphrase missing", func(t *testing.T) {
		cfg := cfg
		cfg.Passphrase = nil
		_, err := sftpconn.Dial(context.Background(), cfg)
		requirePermanent(t, err, nil)
		require.Contains(t, err.Error(), "passphrase")
	})
	t.Run("wrong passphrase", func(t *testing.T) {
		cfg := cfg
		cfg.Passphrase = []byte("wrong")
		_, err := sftpconn.Dial(context.Background(), cfg)
		requirePermanent(t, err, nil)
	})
	t.Run("unencrypted key", func(t *testing.T) {
		_, plain := newKey(t, "")
		cfg := cfg
		cfg.PrivateKey, cfg.Passphrase = plain, nil
		_, err := sftpconn.Dial(context.Background(), cfg)
		requirePermanent(t, err, sftpconn.ErrAuth) // a key the server does not know
	})
	t.Run("garbage key", func(t *testing.T) {
		cfg := cfg
		cfg.PrivateKey = []byte("not a key")
		_, err := sftpconn.Dial(context.Background(), cfg)
		requirePermanent(t, err, nil)
	})
}

func TestPinFormats(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	other, _ := newKey(t, "")
	hostPort := knownhosts.Normalize(srv.Addr)
	pins := map[string]string{
		"authorized form":         srv.HostKeyLine(),
		"authorized with comment": srv.HostKeyLine() + " root@sftp.example",
		"known_hosts line":        knownhosts.Line([]string{srv.Addr}, srv.HostKey),
		"known_hosts plain host":  "sftp.example.com,10.0.0.1 " + srv.HostKeyLine(),
		"known_hosts hashed":      knownhosts.HashHostname(hostPort) + " " + srv.HostKeyLine(),
		"fingerprint":             sftpconn.Fingerprint(srv.HostKey),
		"fingerprint padded":      sftpconn.Fingerprint(srv.HostKey) + "=",
		"several lines":           "# rotated keys\n" + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other.PublicKey()))) + "\n\n" + srv.HostKeyLine() + "\n",
	}
	for name, pin := range pins {
		t.Run(name, func(t *testing.T) {
			_, err := sftpconn.ParseHostKey(pin)
			require.NoError(t, err)
			cfg := cfg
			cfg.HostKey = pin
			c := dial(t, cfg)
			require.NoError(t, c.Close())
		})
	}
}

func TestWrongPin(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	other, _ := newKey(t, "")
	for name, pin := range map[string]string{
		"key":         strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other.PublicKey()))),
		"fingerprint": sftpconn.Fingerprint(other.PublicKey()),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := cfg
			cfg.HostKey = pin
			_, err := sftpconn.Dial(context.Background(), cfg)
			requirePermanent(t, err, sftpconn.ErrHostKeyMismatch)
			require.Contains(t, err.Error(), sftpconn.Fingerprint(srv.HostKey))
			require.Contains(t, err.Error(), sftpconn.Fingerprint(other.PublicKey()))
			require.NotErrorIs(t, err, sftpconn.ErrAuth)
		})
	}
	t.Run("pinned key type not offered", func(t *testing.T) {
		// A server with only an ed25519 key, pinned to an RSA key.
		cfg := cfg
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		pub, err := ssh.NewPublicKey(&rk.PublicKey)
		require.NoError(t, err)
		cfg.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
		_, err = sftpconn.Dial(context.Background(), cfg)
		requirePermanent(t, err, sftpconn.ErrHostKeyMismatch)
	})
}

func TestMissingOrBadPin(t *testing.T) {
	_, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	for name, pin := range map[string]string{
		"empty":              "",
		"blank":              " \n\t\n",
		"garbage":            "not a key at all",
		"short fingerprint":  "SHA256:abcd",
		"md5":                "MD5:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
		"revoked":            "@revoked * " + cfg.HostKey,
		"cert-authority":     "@cert-authority * " + cfg.HostKey,
		"truncated key data": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := cfg
			cfg.HostKey = pin
			_, err := sftpconn.Dial(context.Background(), cfg)
			requirePermanent(t, err, nil)
			if strings.TrimSpace(pin) != "" {
				_, perr := sftpconn.ParseHostKey(pin)
				requirePermanent(t, perr, nil)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	for name, cfg := range map[string]sftpconn.Config{
		"no host":    {User: "u", Password: "p", HostKey: "SHA256:x"},
		"no user":    {Host: "h", Password: "p", HostKey: "SHA256:x"},
		"no auth":    {Host: "h", User: "u", HostKey: "SHA256:x"},
		"bad port":   {Host: "h", Port: 70000, User: "u", Password: "p", HostKey: "SHA256:x"},
		"no pin set": {Host: "h", User: "u", Password: "p"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sftpconn.Dial(context.Background(), cfg)
			requirePermanent(t, err, nil)
		})
	}
}

func TestServerDownAndUp(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	c := dial(t, cfg)
	srv.Stop()

	_, err := upload(t, c, "/", "x.txt", []byte("x"), sftpconn.UploadOptions{})
	requireTransient(t, err)
	_, err = sftpconn.Dial(context.Background(), cfg)
	requireTransient(t, err)
	require.NotErrorIs(t, err, sftpconn.ErrAuth)

	srv.Restart()
	c = dial(t, cfg)
	res, err := upload(t, c, "/", "x.txt", []byte("x"), sftpconn.UploadOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Size)
	require.FileExists(t, filepath.Join(srv.Root, "x.txt"))
}

func TestDialTimeoutAndCancel(t *testing.T) {
	// A server that accepts and never says a word.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	cfg := sftpconn.Config{
		Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: "ferry", Password: "x",
		HostKey: "SHA256:" + strings.Repeat("A", 43), Timeout: 200 * time.Millisecond,
	}

	start := time.Now()
	_, err = sftpconn.Dial(context.Background(), cfg)
	requireTransient(t, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "no answer within 200ms")
	require.Less(t, time.Since(start), 5*time.Second)

	cfg.Timeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	_, err = sftpconn.Dial(ctx, cfg)
	requireTransient(t, err)
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 5*time.Second)

	_, err = sftpconn.Dial(ctx, cfg) // already canceled
	require.ErrorIs(t, err, context.Canceled)
}

func TestUpload(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	c := dial(t, cfg)
	data := randomData(t, 300_000)

	t.Run("missing directory", func(t *testing.T) {
		_, err := upload(t, c, "/out/2024", "a.csv", data, sftpconn.UploadOptions{})
		requirePermanent(t, err, os.ErrNotExist)
	})

	t.Run("creates directories", func(t *testing.T) {
		res, err := upload(t, c, "/out/2024", "a.csv", data, sftpconn.UploadOptions{MkdirAll: true})
		require.NoError(t, err)
		require.Equal(t, "/out/2024/a.csv", res.Path)
		require.Equal(t, int64(len(data)), res.Size)
		got, err := os.ReadFile(filepath.Join(srv.Root, "out", "2024", "a.csv"))
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.Empty(t, partFiles(t, srv.Root))
	})

	t.Run("refuses an existing target", func(t *testing.T) {
		_, err := upload(t, c, "/out/2024", "a.csv", []byte("other"), sftpconn.UploadOptions{})
		requirePermanent(t, err, sftpconn.ErrExists)
		got, err := os.ReadFile(filepath.Join(srv.Root, "out", "2024", "a.csv"))
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.Empty(t, partFiles(t, srv.Root))
	})

	t.Run("replaces with overwrite", func(t *testing.T) {
		res, err := upload(t, c, "/out/2024", "a.csv", []byte("replaced"), sftpconn.UploadOptions{Overwrite: true})
		require.NoError(t, err)
		require.Equal(t, "posix-rename", res.Renamed)
		require.Equal(t, int64(8), res.Size)
		got, err := os.ReadFile(filepath.Join(srv.Root, "out", "2024", "a.csv"))
		require.NoError(t, err)
		require.Equal(t, "replaced", string(got))
		require.Empty(t, partFiles(t, srv.Root))
	})

	t.Run("target appearing during the upload is not replaced", func(t *testing.T) {
		late := filepath.Join(srv.Root, "out", "late.csv")
		r := &hookReader{r: bytes.NewReader(data), hook: func() { _ = os.WriteFile(late, []byte("first"), 0o644) }}
		_, err := c.Upload(context.Background(), "/out", "late.csv", r, sftpconn.UploadOptions{})
		requirePermanent(t, err, sftpconn.ErrExists)
		got, err := os.ReadFile(late)
		require.NoError(t, err)
		require.Equal(t, "first", string(got))
		require.Empty(t, partFiles(t, srv.Root))
	})

	t.Run("empty file", func(t *testing.T) {
		res, err := upload(t, c, "/out", "empty", nil, sftpconn.UploadOptions{})
		require.NoError(t, err)
		require.Equal(t, int64(0), res.Size)
		require.FileExists(t, filepath.Join(srv.Root, "out", "empty"))
	})

	t.Run("relative directory", func(t *testing.T) {
		res, err := upload(t, c, "rel/dir", "r.txt", []byte("r"), sftpconn.UploadOptions{MkdirAll: true})
		require.NoError(t, err)
		require.Equal(t, "rel/dir/r.txt", res.Path)
		require.FileExists(t, filepath.Join(srv.Root, "rel", "dir", "r.txt"))
	})

	t.Run("bad names", func(t *testing.T) {
		for _, name := range []string{"", ".", "..", "a/b", "a\x00b", "a\nb"} {
			_, err := upload(t, c, "/out", name, data, sftpconn.UploadOptions{})
			requirePermanent(t, err, nil)
		}
	})

	t.Run("read-only directory", func(t *testing.T) {
		ro := filepath.Join(srv.Root, "ro")
		require.NoError(t, os.Mkdir(ro, 0o555))
		_, err := upload(t, c, "/ro", "a.csv", data, sftpconn.UploadOptions{})
		requirePermanent(t, err, os.ErrPermission)
	})

	t.Run("source error", func(t *testing.T) {
		boom := errors.New("export broke")
		r := io.MultiReader(bytes.NewReader(data), iotestErrReader{boom})
		_, err := c.Upload(context.Background(), "/out", "broken.csv", r, sftpconn.UploadOptions{})
		require.ErrorIs(t, err, boom)
		require.NoFileExists(t, filepath.Join(srv.Root, "out", "broken.csv"))
		require.Empty(t, partFiles(t, srv.Root))
	})

	t.Run("source error keeps its class", func(t *testing.T) {
		bad := &sftpconn.Error{Class: sftpconn.Permanent, Op: "export", Msg: "bad row"}
		r := io.MultiReader(bytes.NewReader(data), iotestErrReader{bad})
		_, err := c.Upload(context.Background(), "/out", "broken.csv", r, sftpconn.UploadOptions{})
		requirePermanent(t, err, bad)
	})
}

// hookReader calls hook once, before the first read.
type hookReader struct {
	r    io.Reader
	hook func()
}

func (h *hookReader) Read(p []byte) (int, error) {
	if h.hook != nil {
		h.hook()
		h.hook = nil
	}
	return h.r.Read(p)
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestUploadPlainRename(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{NoPosixRename: true})
	c := dial(t, cfg)
	res, err := upload(t, c, "/", "f.txt", []byte("one"), sftpconn.UploadOptions{})
	require.NoError(t, err)
	require.Equal(t, "rename", res.Renamed)

	_, err = upload(t, c, "/", "f.txt", []byte("two"), sftpconn.UploadOptions{})
	requirePermanent(t, err, sftpconn.ErrExists)

	res, err = upload(t, c, "/", "f.txt", []byte("three"), sftpconn.UploadOptions{Overwrite: true})
	require.NoError(t, err)
	require.Equal(t, "rename", res.Renamed)
	got, err := os.ReadFile(filepath.Join(srv.Root, "f.txt"))
	require.NoError(t, err)
	require.Equal(t, "three", string(got))
	require.Empty(t, partFiles(t, srv.Root))
}

// TestUploadCut cuts the connection mid-upload. The client cannot remove
// its temporary file over a dead connection, so it may stay behind (hidden
// by its leading dot); the final name must never appear.
func TestUploadCut(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{CutAfter: 200_000})
	c := dial(t, cfg)
	data := randomData(t, 1<<20)
	_, err := upload(t, c, "/", "big.bin", data, sftpconn.UploadOptions{})
	requireTransient(t, err)
	require.NoFileExists(t, filepath.Join(srv.Root, "big.bin"))
	left := partFiles(t, srv.Root)
	require.LessOrEqual(t, len(left), 1)
	for _, p := range left {
		require.True(t, strings.HasPrefix(filepath.Base(p), ".big.bin."), p)
		t.Logf("temporary file left by the cut: %s", filepath.Base(p))
	}

	// Reconnect: the final name is not visible to a client either, and the
	// retry (the cut happens once) puts the whole file in place.
	c = dial(t, cfg)
	res, err := upload(t, c, "/", "big.bin", data, sftpconn.UploadOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(len(data)), res.Size)
	got, err := os.ReadFile(filepath.Join(srv.Root, "big.bin"))
	require.NoError(t, err)
	require.Equal(t, data, got)
}

// slowReader hands out data in small pieces and cancels ctx half way.
type slowReader struct {
	data   []byte
	cancel func()
	at     int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	if r.at == 0 {
		r.cancel()
		time.Sleep(50 * time.Millisecond)
	}
	r.at--
	n := copy(p[:min(len(p), 4096)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestUploadCanceled(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	c := dial(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &slowReader{data: randomData(t, 1<<20), cancel: cancel, at: 20}
	_, err := c.Upload(ctx, "/", "c.bin", r, sftpconn.UploadOptions{})
	requireTransient(t, err)
	require.ErrorIs(t, err, context.Canceled)
	require.NoFileExists(t, filepath.Join(srv.Root, "c.bin"))

	// The client was closed to stop the transfer.
	_, err = upload(t, c, "/", "d.bin", []byte("d"), sftpconn.UploadOptions{})
	requireTransient(t, err)
	require.NoError(t, c.Close())
}

func TestProbe(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	require.NoError(t, os.Mkdir(filepath.Join(srv.Root, "out"), 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(srv.Root, "ro"), 0o555))
	require.NoError(t, os.WriteFile(filepath.Join(srv.Root, "file"), []byte("x"), 0o644))
	ctx := context.Background()

	t.Run("without pin", func(t *testing.T) {
		cfg := cfg
		cfg.HostKey = ""
		res, err := sftpconn.Probe(ctx, cfg, "/out")
		require.NoError(t, err)
		require.Equal(t, sftpconn.ProbeResult{
			Fingerprint: sftpconn.Fingerprint(srv.HostKey),
			KeyLine:     srv.HostKeyLine(),
			Writable:    true,
		}, res)
		require.Empty(t, partFiles(t, srv.Root))

		// What Probe reports pins the server for Dial.
		cfg.HostKey = res.KeyLine
		require.NoError(t, dial(t, cfg).Close())
	})

	t.Run("matching pin", func(t *testing.T) {
		res, err := sftpconn.Probe(ctx, cfg, "")
		require.NoError(t, err)
		require.True(t, res.Pinned)
		require.True(t, res.PinMatches)
		require.True(t, res.Writable)
	})

	t.Run("wrong pin stops before logging in", func(t *testing.T) {
		other, _ := newKey(t, "")
		cfg := cfg
		cfg.HostKey = sftpconn.Fingerprint(other.PublicKey())
		cfg.Password = "wrong" // never sent, so no auth error
		res, err := sftpconn.Probe(ctx, cfg, "/out")
		require.NoError(t, err)
		require.True(t, res.Pinned)
		require.False(t, res.PinMatches)
		require.Equal(t, sftpconn.Fingerprint(srv.HostKey), res.Fingerprint)
		require.False(t, res.Writable)
		require.Contains(t, res.WriteError, "does not match")
	})

	t.Run("pinned key type not offered", func(t *testing.T) {
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		pub, err := ssh.NewPublicKey(&rk.PublicKey)
		require.NoError(t, err)
		cfg := cfg
		cfg.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
		res, err := sftpconn.Probe(ctx, cfg, "/out")
		require.NoError(t, err)
		require.False(t, res.PinMatches)
		require.Equal(t, srv.HostKeyLine(), res.KeyLine, "the key the server has is reported")
		require.False(t, res.Writable)
	})

	t.Run("missing directory", func(t *testing.T) {
		res, err := sftpconn.Probe(ctx, cfg, "/nope")
		require.NoError(t, err)
		require.False(t, res.Writable)
		require.Contains(t, res.WriteError, "does not exist")
		require.NoDirExists(t, filepath.Join(srv.Root, "nope"))
	})

	t.Run("read-only directory", func(t *testing.T) {
		res, err := sftpconn.Probe(ctx, cfg, "/ro")
		require.NoError(t, err)
		require.False(t, res.Writable)
		require.Contains(t, res.WriteError, "permission denied")
	})

	t.Run("not a directory", func(t *testing.T) {
		res, err := sftpconn.Probe(ctx, cfg, "/file")
		require.NoError(t, err)
		require.False(t, res.Writable)
		require.Contains(t, res.WriteError, "not a directory")
	})

	t.Run("wrong password", func(t *testing.T) {
		cfg := cfg
		cfg.HostKey = ""
		cfg.Password = "wrong"
		res, err := sftpconn.Probe(ctx, cfg, "/out")
		requirePermanent(t, err, sftpconn.ErrAuth)
		require.Equal(t, sftpconn.Fingerprint(srv.HostKey), res.Fingerprint, "the key is still reported")
	})

	t.Run("server down", func(t *testing.T) {
		srv.Stop()
		defer srv.Restart()
		_, err := sftpconn.Probe(ctx, cfg, "/out")
		requireTransient(t, err)
	})
}

func TestErrorFormat(t *testing.T) {
	err := &sftpconn.Error{Class: sftpconn.Permanent, Op: "upload", Msg: "/a exists", Err: sftpconn.ErrExists}
	require.Equal(t, "sftp upload: /a exists: target exists", err.Error())
	require.Equal(t, "sftp upload: /a exists", (&sftpconn.Error{Op: "upload", Msg: "/a exists"}).Error())
	require.ErrorIs(t, err, sftpconn.ErrExists)
	require.Equal(t, sftpconn.Permanent, sftpconn.ClassOf(errors.Join(errors.New("x"), err)))
	require.Equal(t, sftpconn.Transient, sftpconn.ClassOf(errors.New("unknown")))
	require.Equal(t, "permanent", sftpconn.Permanent.String())
	require.Equal(t, "transient", sftpconn.Transient.String())
}
