package sftpconn_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/ferrydata/ferry/libs/sftpconn"
)

const (
	sshdPath       = "/usr/sbin/sshd"
	sftpServerPath = "/usr/lib/openssh/sftp-server"
)

// skipOrFail skips the test, or fails it in CI where OpenSSH must be there.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// lockedBuffer collects sshd's log from its own goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// openSSH is a real sshd started for one test.
type openSSH struct {
	port    int
	user    string
	hostKey ssh.PublicKey
	client  []byte // the client's private key, authorised for user
}

// startOpenSSH runs sshd -D with a config of its own in a temporary
// directory: key login for the current user only, SFTP by OpenSSH's
// sftp-server. It is killed when the test ends.
func startOpenSSH(t *testing.T) *openSSH {
	t.Helper()
	for _, p := range []string{sshdPath, sftpServerPath} {
		if _, err := os.Stat(p); err != nil {
			skipOrFail(t, "OpenSSH server is not installed: %v", err)
		}
	}
	u, err := user.Current()
	require.NoError(t, err)
	if _, err := os.Stat("/run/sshd"); err != nil { // sshd's privilege separation directory
		if os.Geteuid() != 0 {
			skipOrFail(t, "/run/sshd is missing and only root may create it: %v", err)
		}
		require.NoError(t, os.MkdirAll("/run/sshd", 0o755))
	}

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(hostPriv, "ferry test host")
	require.NoError(t, err)
	hostKeyFile := write("ssh_host_ed25519_key", pem.EncodeToMemory(block))
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	require.NoError(t, err)

	clientSigner, clientPEM := newKey(t, "")
	authorizedKeys := write("authorized_keys", ssh.MarshalAuthorizedKey(clientSigner.PublicKey()))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	config := fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
Subsystem sftp %s
AllowUsers %s
`, port, hostKeyFile, filepath.Join(dir, "sshd.pid"), authorizedKeys, sftpServerPath, u.Username)
	if os.Geteuid() == 0 {
		config += "PermitRootLogin prohibit-password\n"
	}
	configFile := write("sshd_config", []byte(config))

	if out, err := exec.Command(sshdPath, "-t", "-f", configFile).CombinedOutput(); err != nil {
		skipOrFail(t, "sshd refuses the test config: %v\n%s", err, out)
	}

	var log lockedBuffer
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", configFile)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its per-connection children too
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})

	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("sshd exited:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd does not accept on %s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &openSSH{port: port, user: u.Username, hostKey: hostSigner.PublicKey(), client: clientPEM}
}

func TestOpenSSH(t *testing.T) {
	srv := startOpenSSH(t)
	base := t.TempDir() // absolute; sshd runs as the same user
	hostKeyLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.hostKey)))
	cfg := sftpconn.Config{
		Host: "127.0.0.1", Port: srv.port, User: srv.user,
		PrivateKey: srv.client, HostKey: hostKeyLine, Timeout: 10 * time.Second,
	}
	ctx := context.Background()

	t.Run("probe", func(t *testing.T) {
		cfg := cfg
		cfg.HostKey = ""
		res, err := sftpconn.Probe(ctx, cfg, base)
		require.NoError(t, err)
		require.Equal(t, sftpconn.Fingerprint(srv.hostKey), res.Fingerprint)
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
		require.Contains(t, err.Error(), sftpconn.Fingerprint(srv.hostKey))
	})

	t.Run("unknown key", func(t *testing.T) {
		_, other := newKey(t, "")
		cfg := cfg
		cfg.PrivateKey = other
		_, err := sftpconn.Dial(ctx, cfg)
		requirePermanent(t, err, sftpconn.ErrAuth)
	})
}
