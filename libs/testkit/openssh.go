package testkit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	sshdPath       = "/usr/sbin/sshd"
	sftpServerPath = "/usr/lib/openssh/sftp-server"
)

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// skipOrFail skips the test, or fails it in CI where OpenSSH must be there.
func skipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}

// OpenSSH is a real sshd started for one test, serving SFTP with
// OpenSSH's sftp-server. Paths are the machine's: use an absolute
// directory of the test's own (tb.TempDir()), which the user can write.
type OpenSSH struct {
	Host    string
	Port    int
	User    string
	HostKey ssh.PublicKey
	// ClientKey is an OpenSSH private key (PEM) authorised for User.
	ClientKey []byte
}

// HostKeyLine is the host key in authorized-key form, for pinning.
func (s *OpenSSH) HostKeyLine() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey)))
}

// StartOpenSSH runs sshd -D with a config of its own in a temporary
// directory: key login for the current user only, SFTP by OpenSSH's
// sftp-server. It is killed when the test ends.
func StartOpenSSH(tb testing.TB) *OpenSSH {
	tb.Helper()
	for _, p := range []string{sshdPath, sftpServerPath} {
		if _, err := os.Stat(p); err != nil {
			skipOrFail(tb, "OpenSSH server is not installed: %v", err)
		}
	}
	u, err := user.Current()
	must(tb, err)
	if _, err := os.Stat("/run/sshd"); err != nil { // sshd's privilege separation directory
		if os.Geteuid() != 0 {
			skipOrFail(tb, "/run/sshd is missing and only root may create it: %v", err)
		}
		must(tb, os.MkdirAll("/run/sshd", 0o755))
	}

	dir := tb.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		must(tb, os.WriteFile(p, data, 0o600))
		return p
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	must(tb, err)
	block, err := ssh.MarshalPrivateKey(hostPriv, "ferry test host")
	must(tb, err)
	hostKeyFile := write("ssh_host_ed25519_key", pem.EncodeToMemory(block))
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	must(tb, err)

	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	must(tb, err)
	clientSigner, err := ssh.NewSignerFromKey(clientPriv)
	must(tb, err)
	clientBlock, err := ssh.MarshalPrivateKey(clientPriv, "ferry test client")
	must(tb, err)
	clientPEM := pem.EncodeToMemory(clientBlock)
	authorizedKeys := write("authorized_keys", ssh.MarshalAuthorizedKey(clientSigner.PublicKey()))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(tb, err)
	port := ln.Addr().(*net.TCPAddr).Port
	must(tb, ln.Close())

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
		skipOrFail(tb, "sshd refuses the test config: %v\n%s", err, out)
	}

	var log Buffer
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", configFile)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its per-connection children too
	must(tb, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if tb.Failed() {
			tb.Logf("sshd log:\n%s", log.String())
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
			tb.Fatalf("sshd exited:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("sshd does not accept on %s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &OpenSSH{Host: "127.0.0.1", Port: port, User: u.Username, HostKey: hostSigner.PublicKey(), ClientKey: clientPEM}
}
