// Package sftpconn is Ferry's SFTP client. It pushes export files to a
// server (and will pull import files): it logs in with a key or a password,
// talks only to the server whose host key is pinned, never shows a
// half-written file under its final name, and sorts errors into Transient
// ones, worth a retry, and Permanent ones, which need a person.
package sftpconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Config is how to reach a server.
type Config struct {
	Host       string
	Port       int // 22 when 0
	User       string
	Password   string
	PrivateKey []byte // PEM or OpenSSH private key
	Passphrase []byte // for an encrypted PrivateKey
	// HostKey pins the server's key; Dial requires it. See ParseHostKey for
	// the accepted forms.
	HostKey string
	Timeout time.Duration // for dial, handshake and starting SFTP; 30s when 0
}

// ErrExists says the upload target exists and overwriting is off. It is
// wrapped inside a Permanent *Error.
var ErrExists = errors.New("target exists")

// errPinRejected is what the host key callback returns to stop a handshake.
var errPinRejected = errors.New("host key does not match the pin")

func (cfg Config) addr() string {
	port := cfg.Port
	if port == 0 {
		port = 22
	}
	host := strings.TrimSuffix(strings.TrimPrefix(cfg.Host, "["), "]")
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func (cfg Config) timeout() time.Duration {
	if cfg.Timeout <= 0 {
		return 30 * time.Second
	}
	return cfg.Timeout
}

func (cfg Config) check() error {
	const op = "config"
	switch {
	case cfg.Host == "":
		return permanent(op, "host is empty", nil)
	case cfg.Port < 0 || cfg.Port > 65535:
		return permanent(op, fmt.Sprintf("port %d is out of range", cfg.Port), nil)
	case cfg.User == "":
		return permanent(op, "user is empty", nil)
	case cfg.Password == "" && len(cfg.PrivateKey) == 0:
		return permanent(op, "neither a password nor a private key is set", nil)
	}
	return nil
}

// authMethods offers the key first, then the password, also as
// keyboard-interactive, which is how PAM-backed servers ask for it.
func (cfg Config) authMethods() ([]ssh.AuthMethod, error) {
	var methods []ssh.AuthMethod
	if len(cfg.PrivateKey) > 0 {
		signer, err := parsePrivateKey(cfg.PrivateKey, cfg.Passphrase)
		if err != nil {
			return nil, err
		}
		methods = append(methods, ssh.PublicKeys(signer))
	}
	if cfg.Password != "" {
		pw := cfg.Password
		methods = append(methods, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range questions {
					if !echos[i] {
						answers[i] = pw
					}
				}
				return answers, nil
			}))
	}
	return methods, nil
}

func parsePrivateKey(pem, passphrase []byte) (ssh.Signer, error) {
	const op = "config"
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return signer, nil
	case !errors.As(err, &missing):
		return nil, permanent(op, "parse private key", err)
	case len(passphrase) == 0:
		return nil, permanent(op, "private key is encrypted and no passphrase is set", nil)
	}
	signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, passphrase)
	if err != nil {
		return nil, permanent(op, "decrypt private key (wrong passphrase?)", err)
	}
	return signer, nil
}

// hostKeys checks presented host keys against an optional pin and keeps
// the last one, so that it can be reported.
type hostKeys struct {
	pin      *Pin
	mu       sync.Mutex
	key      ssh.PublicKey
	rejected bool
}

func (h *hostKeys) callback(_ string, _ net.Addr, key ssh.PublicKey) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.key = key
	if h.pin != nil && !h.pin.Matches(key) {
		h.rejected = true
		return errPinRejected
	}
	return nil
}

func (h *hostKeys) presented() (ssh.PublicKey, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.key, h.rejected
}

// connect dials, does the SSH handshake and starts the SFTP subsystem, all
// within the timeout and ctx: when either ends the connection is closed.
// Errors are returned as they came; the callers classify them.
func connect(ctx context.Context, cfg Config, hk *hostKeys, algos []string) (*ssh.Client, *sftp.Client, error) {
	auth, err := cfg.authMethods()
	if err != nil {
		return nil, nil, err
	}
	addr := cfg.addr()
	timeout := cfg.timeout()
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("no answer within %s: %w", timeout, context.DeadlineExceeded))
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, ended(ctx, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	conn, chans, reqs, err := ssh.NewClientConn(nc, addr, &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              auth,
		HostKeyCallback:   hk.callback,
		HostKeyAlgorithms: algos,
		Timeout:           timeout,
	})
	if err != nil {
		stop()
		_ = nc.Close()
		return nil, nil, ended(ctx, err)
	}
	sshc := ssh.NewClient(conn, chans, reqs)
	sc, err := sftp.NewClient(sshc)
	if err != nil {
		stop()
		_ = sshc.Close()
		return nil, nil, ended(ctx, err)
	}
	if !stop() { // ctx ended and closed the connection under us
		_ = sc.Close()
		_ = sshc.Close()
		return nil, nil, context.Cause(ctx)
	}
	return sshc, sc, nil
}

// ended explains err by ctx when ctx ended: the timeout or the caller's
// cancellation closed the connection, and err is only the symptom.
func ended(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	return context.Cause(ctx)
}

// Client is a connection to one SFTP server. Its methods may be called from
// several goroutines; an upload whose ctx ends closes it for all of them.
type Client struct {
	ssh         *ssh.Client
	sftp        *sftp.Client
	posixRename bool

	closeOnce sync.Once
	closeErr  error
}

// Dial connects and logs in. The host key must match cfg.HostKey: a
// mismatch is a Permanent ErrHostKeyMismatch naming both fingerprints, and
// a missing pin is Permanent too; refused credentials are a Permanent
// ErrAuth; network trouble is Transient. When ctx ends during dial or
// handshake the connection is closed and ctx's error returned.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	addr := cfg.addr()
	if strings.TrimSpace(cfg.HostKey) == "" {
		return nil, permanent("dial", fmt.Sprintf("no host key pinned for %s; probe the server and pin the key it presents", addr), nil)
	}
	pin, err := ParseHostKey(cfg.HostKey)
	if err != nil {
		return nil, err
	}
	hk := &hostKeys{pin: pin}
	sshc, sc, err := connect(ctx, cfg, hk, pin.algorithms())
	if err != nil {
		if key, rejected := hk.presented(); rejected {
			return nil, permanent("dial", fmt.Sprintf("host key of %s is %s, expected %s", addr, Fingerprint(key), pin), ErrHostKeyMismatch)
		}
		return nil, classifyDial(ctx, addr, err)
	}
	_, posix := sc.HasExtension("posix-rename@openssh.com")
	return &Client{ssh: sshc, sftp: sc, posixRename: posix}, nil
}

// Close ends the session. It may be called more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		_ = c.sftp.Close()
		if err := c.ssh.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			c.closeErr = err
		}
	})
	return c.closeErr
}

// UploadOptions says what Upload may do besides writing the file.
type UploadOptions struct {
	MkdirAll  bool // create missing directories
	Overwrite bool // replace an existing file; when false an existing target is a Permanent error
}

// UploadResult describes a finished upload.
type UploadResult struct {
	Path    string // dir/name
	Size    int64  // bytes written, equal to the size the server reports
	Renamed string // how the file was put in place: "posix-rename" or "rename"
}

// Upload writes r to dir/name so that no one ever sees a partial file
// there. It writes a temporary file ".<name>.<random>.part" in the same
// directory, renames it into place and checks that the server reports the
// size written (a mismatch is Transient, and the file is removed so a retry
// starts clean).
//
// With Overwrite the rename is posix-rename@openssh.com when the server
// offers it, an atomic replace; otherwise a plain rename, removing the
// existing target first if the server refuses to replace it. Without
// Overwrite an existing target is a Permanent ErrExists, checked before the
// upload and again by a plain rename (Renamed is "rename"), which OpenSSH
// and other servers following SFTP v3 refuse when the target exists, so
// there even a file created during the upload is never replaced.
//
// On failure the temporary file is removed, best effort: after a cut
// connection it stays behind, hidden by its leading dot, never under the
// final name. When ctx ends mid-upload the client is closed to stop the
// transfer; Dial again. name must be a plain file name (see Confine).
func (c *Client) Upload(ctx context.Context, dir, name string, r io.Reader, o UploadOptions) (UploadResult, error) {
	const op = "upload"
	if err := checkName(op, name); err != nil {
		return UploadResult{}, err
	}
	if dir == "" {
		dir = "."
	}
	final := path.Join(dir, name)
	if err := ctx.Err(); err != nil {
		return UploadResult{}, transient(op, final, context.Cause(ctx))
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()

	if o.MkdirAll {
		if err := c.sftp.MkdirAll(dir); err != nil {
			return UploadResult{}, classify(ctx, op, "create directory "+dir, err)
		}
	}
	if !o.Overwrite {
		if err := c.absent(ctx, final); err != nil {
			return UploadResult{}, err
		}
	}
	tmp := path.Join(dir, tempName(name))
	f, err := c.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && ctx.Err() == nil {
			return UploadResult{}, permanent(op, "directory "+dir+" does not exist", err)
		}
		return UploadResult{}, classify(ctx, op, "create "+tmp, err)
	}
	done := false
	defer func() {
		if !done {
			_ = c.sftp.Remove(tmp)
		}
	}()

	src := &source{r: r}
	n, werr := f.ReadFromWithConcurrency(src, 0)
	cerr := f.Close()
	switch {
	case src.err != nil:
		return UploadResult{}, &Error{Class: ClassOf(src.err), Op: op, Msg: "read source for " + final, Err: src.err}
	case ctx.Err() != nil:
		return UploadResult{}, transient(op, "write "+tmp, context.Cause(ctx))
	case werr != nil: // SSH_FX_FAILURE here may be a full disk: retry
		return UploadResult{}, transient(op, "write "+tmp, werr)
	case cerr != nil:
		return UploadResult{}, transient(op, "close "+tmp, cerr)
	}

	renamed, err := c.rename(ctx, tmp, final, o.Overwrite)
	if err != nil {
		return UploadResult{}, err
	}
	done = true
	fi, err := c.sftp.Stat(final)
	if err != nil {
		return UploadResult{}, transient(op, "stat "+final, err)
	}
	if fi.Size() != n {
		_ = c.sftp.Remove(final)
		return UploadResult{}, transient(op, fmt.Sprintf("size of %s is %d after writing %d bytes; removed it", final, fi.Size(), n), nil)
	}
	return UploadResult{Path: final, Size: n, Renamed: renamed}, nil
}

// absent returns a Permanent ErrExists when p exists.
func (c *Client) absent(ctx context.Context, p string) error {
	_, err := c.sftp.Lstat(p)
	switch {
	case err == nil:
		return permanent("upload", p+" exists and overwriting is off", ErrExists)
	case errors.Is(err, os.ErrNotExist) && ctx.Err() == nil:
		return nil
	}
	return classify(ctx, "upload", "stat "+p, err)
}

func (c *Client) rename(ctx context.Context, tmp, final string, overwrite bool) (string, error) {
	const op = "upload"
	msg := "rename " + tmp + " to " + final
	if overwrite && c.posixRename {
		if err := c.sftp.PosixRename(tmp, final); err != nil {
			return "", classify(ctx, op, msg, err)
		}
		return "posix-rename", nil
	}
	err := c.sftp.Rename(tmp, final)
	if err == nil {
		return "rename", nil
	}
	if ctx.Err() != nil {
		return "", classify(ctx, op, msg, err)
	}
	if _, serr := c.sftp.Lstat(final); serr != nil {
		return "", classify(ctx, op, msg, err)
	}
	if !overwrite {
		return "", permanent(op, final+" exists and overwriting is off", ErrExists)
	}
	if err := c.sftp.Remove(final); err != nil {
		return "", classify(ctx, op, "remove "+final+" to replace it", err)
	}
	if err := c.sftp.Rename(tmp, final); err != nil {
		return "", classify(ctx, op, msg, err)
	}
	return "rename", nil
}

// tempName returns ".<name>.<random>.part", shortening name so that the
// result stays within the usual 255-byte limit.
func tempName(name string) string {
	const max = 200
	if len(name) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	return "." + name + "." + randomHex(6) + ".part"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// source remembers the reader's own error, to tell it from a write error.
type source struct {
	r   io.Reader
	err error
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// ProbeResult is what Probe found.
type ProbeResult struct {
	Fingerprint string // SHA256 fingerprint of the presented host key
	KeyLine     string // the presented key in authorized-key form, "ssh-ed25519 AAAA..."
	Pinned      bool   // a pin was given
	PinMatches  bool   // the presented key matches the pin
	Writable    bool   // a file could be created and removed in dir
	WriteError  string // why not, or what went wrong while cleaning up
}

// Probe connects without requiring a pin, so that a person can see and pin
// the key the server presents, and checks that dir is writable by creating
// and removing a small uniquely named file there. A missing dir is
// reported, not created; "" is the login directory.
//
// When a pin is given and does not match, Probe stops before logging in,
// so no credentials go to the wrong server, and reports it in the result.
// Without a pin the credentials are sent to whatever server answers. The
// error is only for a bad config or pin and for failing to connect or log
// in, classified as for Dial; the result then still carries the presented
// key when it was seen.
func Probe(ctx context.Context, cfg Config, dir string) (ProbeResult, error) {
	if err := cfg.check(); err != nil {
		return ProbeResult{}, err
	}
	addr := cfg.addr()
	hk := &hostKeys{}
	var algos []string
	if strings.TrimSpace(cfg.HostKey) != "" {
		pin, err := ParseHostKey(cfg.HostKey)
		if err != nil {
			return ProbeResult{}, err
		}
		hk.pin, algos = pin, pin.algorithms()
	}
	res := ProbeResult{Pinned: hk.pin != nil}
	sshc, sc, err := connect(ctx, cfg, hk, algos)
	var neg *ssh.AlgorithmNegotiationError
	if err != nil && algos != nil && errors.As(err, &neg) && neg.What == "host key" {
		// No key of the pinned type: look again to report the key there is.
		sshc, sc, err = connect(ctx, cfg, hk, nil)
	}
	key, rejected := hk.presented()
	if key != nil {
		res.Fingerprint, res.KeyLine = Fingerprint(key), keyLine(key)
		res.PinMatches = hk.pin.Matches(key)
	}
	if err != nil {
		if rejected {
			res.WriteError = "not checked: the host key does not match the pin"
			return res, nil
		}
		return res, classifyDial(ctx, addr, err)
	}
	c := &Client{ssh: sshc, sftp: sc}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	res.Writable, res.WriteError = c.writable(dir)
	if ctx.Err() != nil {
		return res, transient("probe", addr, context.Cause(ctx))
	}
	return res, nil
}

// writable creates, writes and removes a small file in dir.
func (c *Client) writable(dir string) (bool, string) {
	if dir == "" {
		dir = "."
	}
	fi, err := c.sftp.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, fmt.Sprintf("directory %s does not exist", dir)
	case err != nil:
		return false, fmt.Sprintf("stat %s: %v", dir, err)
	case !fi.IsDir():
		return false, fmt.Sprintf("%s is not a directory", dir)
	}
	name := path.Join(dir, ".ferry-probe-"+randomHex(6))
	f, err := c.sftp.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return false, fmt.Sprintf("cannot create a file in %s: %v", dir, err)
	}
	_, werr := f.Write([]byte("ferry probe\n"))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	rerr := c.sftp.Remove(name)
	switch {
	case werr != nil:
		return false, fmt.Sprintf("cannot write %s: %v", name, werr)
	case rerr != nil:
		return true, fmt.Sprintf("wrote %s but cannot remove it: %v", name, rerr)
	}
	return true, ""
}
