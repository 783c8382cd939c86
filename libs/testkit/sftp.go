package testkit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// SFTPServerOptions configures StartSFTP.
type SFTPServerOptions struct {
	// User is the only accepted login name; "ferry" when empty.
	User string
	// Password is the accepted password; password authentication is off when empty.
	Password string
	// AuthorizedKey is the accepted client key; key authentication is off when nil.
	AuthorizedKey ssh.PublicKey
	// HostKey is the server's key; a fresh ed25519 key when nil.
	HostKey ssh.Signer
	// NoPosixRename hides the posix-rename@openssh.com extension from clients
	// and refuses it, so that the plain rename path can be tested.
	NoPosixRename bool
	// CutAfter, when > 0, closes the connection once, as soon as that many
	// bytes of file data have been written through this server: a connection
	// cut mid-upload. Later connections are not cut, so a retry can succeed.
	CutAfter int64
}

// SFTPServer is an SSH server on 127.0.0.1 with the SFTP subsystem serving
// Root. Client paths are confined to Root: "/" is Root, absolute paths are
// taken relative to it and ".." cannot leave it; the login directory is "/".
//
// The server behaves like a plain SFTP v3 server where pkg/sftp leaves room:
// a plain rename refuses to replace an existing file, and a directory or
// file without its owner's write bit refuses writes even when the tests run
// as root, so read-only directories can be tested in CI.
type SFTPServer struct {
	Addr    string        // "127.0.0.1:port"
	Host    string        // "127.0.0.1"
	Port    int           // the port, kept across Stop and Restart
	Root    string        // the directory served as "/"
	HostKey ssh.PublicKey // the server's public host key

	tb     testing.TB
	opts   SFTPServerOptions
	config *ssh.ServerConfig
	root   *os.Root

	opMu  sync.Mutex // serialises Stop and Restart
	mu    sync.Mutex // guards ln and conns
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // the accept loop and everything it started

	cutMu   sync.Mutex // guards written and cutDone
	written int64
	cutDone bool
}

// StartSFTP starts an SFTP server for the test on a random port with
// Root = tb.TempDir(). It is stopped when the test ends.
func StartSFTP(tb testing.TB, o SFTPServerOptions) *SFTPServer {
	tb.Helper()
	if o.User == "" {
		o.User = "ferry"
	}
	signer := o.HostKey
	if signer == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		if signer, err = ssh.NewSignerFromKey(priv); err != nil {
			tb.Fatal(err)
		}
	}
	s := &SFTPServer{
		Root:    tb.TempDir(),
		HostKey: signer.PublicKey(),
		tb:      tb,
		opts:    o,
		conns:   map[net.Conn]struct{}{},
	}
	root, err := os.OpenRoot(s.Root)
	if err != nil {
		tb.Fatal(err)
	}
	s.root = root
	cfg := &ssh.ServerConfig{}
	if o.Password != "" {
		cfg.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == o.User && string(pw) == o.Password {
				return nil, nil
			}
			return nil, errors.New("password rejected")
		}
	}
	if o.AuthorizedKey != nil {
		want := o.AuthorizedKey.Marshal()
		cfg.PublicKeyCallback = func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == o.User && string(k.Marshal()) == string(want) {
				return nil, nil
			}
			return nil, errors.New("key rejected")
		}
	}
	cfg.AddHostKey(signer)
	s.config = cfg

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.Host = "127.0.0.1"
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.serve(ln)
	tb.Cleanup(func() {
		s.Stop()
		_ = s.root.Close()
	})
	return s
}

// HostKeyLine returns the host key in authorized-key form, "ssh-ed25519 AAAA...".
func (s *SFTPServer) HostKeyLine() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey)))
}

// Stop stops listening and drops every connection: the server is down. It
// returns when all of the server's goroutines have ended. Stopping a stopped
// server does nothing.
func (s *SFTPServer) Stop() {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	ln, conns := s.ln, s.conns
	s.ln, s.conns = nil, map[net.Conn]struct{}{}
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	for c := range conns {
		_ = c.Close()
	}
	s.wg.Wait()
}

// Restart listens again on the same port with the same options: the server
// is up again. Restarting a running server does nothing. It fails the test
// when the port cannot be had back within a few seconds.
func (s *SFTPServer) Restart() {
	s.tb.Helper()
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	running := s.ln != nil
	s.mu.Unlock()
	if running {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", s.Addr)
		if err == nil {
			s.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("restart SFTP server on %s: %v", s.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *SFTPServer) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go s.acceptLoop(ln)
}

func (s *SFTPServer) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.ln != ln { // stopped between Accept and here
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *SFTPServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		Log(s.tb).Debug("sftp test server: handshake", "err", err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		s.wg.Add(1)
		go s.serveSession(sc, nc)
	}
	_ = sc.Close()
}

func (s *SFTPServer) serveSession(sc *ssh.ServerConn, nc ssh.NewChannel) {
	defer s.wg.Done()
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	started := false
	for req := range reqs {
		ok := false
		if req.Type == "subsystem" && !started {
			var p struct{ Name string }
			ok = ssh.Unmarshal(req.Payload, &p) == nil && p.Name == "sftp"
		}
		if req.WantReply {
			_ = req.Reply(ok, nil)
		}
		if ok {
			started = true
			s.wg.Add(1)
			go s.serveSFTP(sc, ch)
		}
	}
	if !started {
		_ = ch.Close()
	}
}

func (s *SFTPServer) serveSFTP(sc *ssh.ServerConn, ch ssh.Channel) {
	defer s.wg.Done()
	var rwc io.ReadWriteCloser = ch
	if s.opts.NoPosixRename {
		rwc = &versionFilter{ReadWriteCloser: ch}
	}
	h := &fsHandler{s: s, conn: sc}
	rs := sftp.NewRequestServer(rwc, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
	if err := rs.Serve(); err != nil && !errors.Is(err, io.EOF) {
		Log(s.tb).Debug("sftp test server: serve", "err", err)
	}
	_ = rs.Close()
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
	_ = ch.Close()
}

// count records n bytes of file data and says how many of them may still be
// written before the connection is to be cut, and whether to cut it.
func (s *SFTPServer) count(n int) (allowed int, cut bool) {
	if s.opts.CutAfter <= 0 {
		return n, false
	}
	s.cutMu.Lock()
	defer s.cutMu.Unlock()
	if s.cutDone {
		return n, false
	}
	if s.written+int64(n) < s.opts.CutAfter {
		s.written += int64(n)
		return n, false
	}
	allowed = int(s.opts.CutAfter - s.written)
	s.written = s.opts.CutAfter
	s.cutDone = true
	return allowed, true
}

// versionFilter removes posix-rename@openssh.com from the server's
// SSH_FXP_VERSION packet, the first packet the server writes. pkg/sftp only
// has a process-wide switch for its extensions.
type versionFilter struct {
	io.ReadWriteCloser
	buf  []byte
	done bool
}

func (f *versionFilter) Write(p []byte) (int, error) {
	if f.done {
		return f.ReadWriteCloser.Write(p)
	}
	f.buf = append(f.buf, p...)
	if len(f.buf) < 4 {
		return len(p), nil
	}
	n := int(binary.BigEndian.Uint32(f.buf))
	if len(f.buf) < 4+n {
		return len(p), nil
	}
	f.done = true
	out := append(stripExtension(f.buf[4:4+n], "posix-rename@openssh.com"), f.buf[4+n:]...)
	f.buf = nil
	if _, err := f.ReadWriteCloser.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// stripExtension returns a length-prefixed copy of an SSH_FXP_VERSION packet
// body without the named extension. Other packets are returned unchanged.
func stripExtension(pkt []byte, name string) []byte {
	out := binary.BigEndian.AppendUint32(nil, 0)
	const sshFxpVersion = 2
	if len(pkt) < 5 || pkt[0] != sshFxpVersion {
		out = append(out, pkt...)
	} else {
		out = append(out, pkt[:5]...)
		rest := pkt[5:]
		for len(rest) > 0 {
			k, r1, ok1 := sshString(rest)
			v, r2, ok2 := sshString(r1)
			if !ok1 || !ok2 {
				out = append(out, rest...)
				break
			}
			if string(k) != name {
				out = binary.BigEndian.AppendUint32(out, uint32(len(k)))
				out = append(out, k...)
				out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
				out = append(out, v...)
			}
			rest = r2
		}
	}
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

func sshString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, b, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)-4) < uint64(n) {
		return nil, b, false
	}
	return b[4 : 4+n], b[4+n:], true
}

// fsHandler serves the request server from an os.Root, so no path leaves it.
type fsHandler struct {
	s    *SFTPServer
	conn *ssh.ServerConn
}

// rel turns a client path (cleaned and absolute) into a name inside Root.
func rel(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// writable refuses a change inside dir when its owner may not write to it,
// as the kernel would for an ordinary user.
func (h *fsHandler) writable(op, name string) error {
	fi, err := h.s.root.Stat(name)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o200 == 0 {
		return &os.PathError{Op: op, Path: "/" + name, Err: syscall.EACCES}
	}
	return nil
}

func (h *fsHandler) writableParent(op, name string) error {
	return h.writable(op, path.Dir(name))
}

func (h *fsHandler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	return h.s.root.Open(rel(r.Filepath))
}

func (h *fsHandler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return h.open(r, os.O_WRONLY)
}

func (h *fsHandler) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	return h.open(r, os.O_RDWR)
}

func (h *fsHandler) open(r *sftp.Request, flag int) (*writerAt, error) {
	name := rel(r.Filepath)
	pf := r.Pflags()
	if pf.Creat {
		flag |= os.O_CREATE
	}
	if pf.Trunc {
		flag |= os.O_TRUNC
	}
	if pf.Excl {
		flag |= os.O_EXCL
	}
	// O_APPEND is left out on purpose: WriteAt refuses it, and clients send offsets.
	if _, err := h.s.root.Lstat(name); err == nil {
		if err := h.writable("open", name); err != nil {
			return nil, err
		}
	} else if pf.Creat {
		if err := h.writableParent("open", name); err != nil {
			return nil, err
		}
	}
	f, err := h.s.root.OpenFile(name, flag, 0o644)
	if err != nil {
		return nil, err
	}
	return &writerAt{File: f, h: h}, nil
}

// writerAt counts the file data written through the server for CutAfter.
type writerAt struct {
	*os.File
	h *fsHandler
}

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) {
	allowed, cut := w.h.s.count(len(p))
	if !cut {
		return w.File.WriteAt(p, off)
	}
	n, _ := w.File.WriteAt(p[:allowed], off)
	_ = w.h.conn.Close()
	return n, errors.New("connection cut by the test server")
}

func (h *fsHandler) Filecmd(r *sftp.Request) error {
	name := rel(r.Filepath)
	root := h.s.root
	switch r.Method {
	case "Setstat":
		return h.setstat(r, name)
	case "Rename":
		// SFTP v3 rename does not replace an existing target (OpenSSH does the same).
		target := rel(r.Target)
		if err := h.renamable(name, target); err != nil {
			return err
		}
		if _, err := root.Lstat(target); err == nil {
			return &os.PathError{Op: "rename", Path: r.Target, Err: syscall.EEXIST}
		}
		return root.Rename(name, target)
	case "Rmdir":
		fi, err := root.Lstat(name)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return &os.PathError{Op: "rmdir", Path: r.Filepath, Err: syscall.ENOTDIR}
		}
		if err := h.writableParent("rmdir", name); err != nil {
			return err
		}
		return root.Remove(name)
	case "Remove":
		fi, err := root.Lstat(name)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return &os.PathError{Op: "remove", Path: r.Filepath, Err: syscall.EISDIR}
		}
		if err := h.writableParent("remove", name); err != nil {
			return err
		}
		return root.Remove(name)
	case "Mkdir":
		if err := h.writableParent("mkdir", name); err != nil {
			return err
		}
		return root.Mkdir(name, 0o755)
	case "Link":
		if err := h.writableParent("link", rel(r.Target)); err != nil {
			return err
		}
		return root.Link(name, rel(r.Target))
	case "Symlink":
		// Filepath is the link target and Target the new link, as pkg/sftp passes them.
		if err := h.writableParent("symlink", rel(r.Target)); err != nil {
			return err
		}
		return root.Symlink(r.Filepath, rel(r.Target))
	}
	return sftp.ErrSSHFxOpUnsupported
}

// PosixRename replaces the target atomically, unless the option turned it off.
func (h *fsHandler) PosixRename(r *sftp.Request) error {
	if h.s.opts.NoPosixRename {
		return sftp.ErrSSHFxOpUnsupported
	}
	name, target := rel(r.Filepath), rel(r.Target)
	if err := h.renamable(name, target); err != nil {
		return err
	}
	return h.s.root.Rename(name, target)
}

func (h *fsHandler) renamable(name, target string) error {
	if err := h.writableParent("rename", name); err != nil {
		return err
	}
	return h.writableParent("rename", target)
}

func (h *fsHandler) setstat(r *sftp.Request, name string) error {
	root := h.s.root
	flags, attrs := r.AttrFlags(), r.Attributes()
	if flags.Size {
		f, err := root.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(int64(attrs.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if flags.Permissions {
		if err := root.Chmod(name, attrs.FileMode().Perm()); err != nil {
			return err
		}
	}
	if flags.Acmodtime {
		if err := root.Chtimes(name, time.Unix(int64(attrs.Atime), 0), time.Unix(int64(attrs.Mtime), 0)); err != nil {
			return err
		}
	}
	return nil
}

func (h *fsHandler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	name := rel(r.Filepath)
	switch r.Method {
	case "List":
		d, err := h.s.root.Open(name)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		fis, err := d.Readdir(-1)
		if err != nil {
			return nil, err
		}
		sort.Slice(fis, func(i, j int) bool { return fis[i].Name() < fis[j].Name() })
		return listerAt(fis), nil
	case "Stat":
		fi, err := h.s.root.Stat(name)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

func (h *fsHandler) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	fi, err := h.s.root.Lstat(rel(r.Filepath))
	if err != nil {
		return nil, err
	}
	return listerAt{fi}, nil
}

func (h *fsHandler) Readlink(p string) (string, error) {
	return h.s.root.Readlink(rel(p))
}

type listerAt []os.FileInfo

func (l listerAt) ListAt(out []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(out, l[off:])
	if n < len(out) {
		return n, io.EOF
	}
	return n, nil
}
