package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
)

// Entry is a directory entry as the server reports it. Symbolic links are
// reported as links, not followed.
type Entry struct {
	Name    string
	Size    int64
	ModTime time.Time
	Mode    fs.FileMode
}

// Regular reports whether the entry is a plain file: not a directory, a
// link, a device or a pipe.
func (e Entry) Regular() bool { return e.Mode.IsRegular() }

// IsDir reports whether the entry is a directory.
func (e Entry) IsDir() bool { return e.Mode.IsDir() }

func entryOf(fi os.FileInfo) Entry {
	return Entry{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime(), Mode: fi.Mode()}
}

// guard closes the client when ctx ends, so that an operation stuck on a
// silent server returns; the returned function stops watching.
func (c *Client) guard(ctx context.Context) func() bool {
	return context.AfterFunc(ctx, func() { _ = c.Close() })
}

// List returns the entries of dir ("" is the login directory) sorted by
// name. A missing directory is a Permanent error.
func (c *Client) List(ctx context.Context, dir string) ([]Entry, error) {
	const op = "list"
	if dir == "" {
		dir = "."
	}
	if err := ctx.Err(); err != nil {
		return nil, transient(op, dir, context.Cause(ctx))
	}
	defer c.guard(ctx)()
	fis, err := c.sftp.ReadDir(dir)
	if err != nil {
		return nil, classify(ctx, op, "read directory "+dir, err)
	}
	out := make([]Entry, 0, len(fis))
	for _, fi := range fis {
		if fi.Name() == "." || fi.Name() == ".." {
			continue
		}
		out = append(out, entryOf(fi))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Lstat describes p without following a final symbolic link (Stat follows
// it). A missing p is a Permanent error wrapping os.ErrNotExist.
func (c *Client) Lstat(ctx context.Context, p string) (Entry, error) {
	const op = "lstat"
	if err := ctx.Err(); err != nil {
		return Entry{}, transient(op, p, context.Cause(ctx))
	}
	defer c.guard(ctx)()
	fi, err := c.sftp.Lstat(p)
	if err != nil {
		return Entry{}, classify(ctx, op, "stat "+p, err)
	}
	e := entryOf(fi)
	e.Name = path.Base(p)
	return e, nil
}

// Reader reads a remote file. Close it when done.
type Reader struct {
	c    *Client
	f    *sftp.File
	ctx  context.Context
	stop func() bool
	path string
	idle time.Duration
	// Entry is what the server said of the open file.
	Entry Entry
}

// Open opens p for reading. idle, when positive, bounds each Read: a read
// the server does not answer within it closes the client (Dial again) and
// is a Transient error. When ctx ends the client is closed too. Read errors
// are classified like the others; a missing p is Permanent.
func (c *Client) Open(ctx context.Context, p string, idle time.Duration) (*Reader, error) {
	const op = "open"
	if err := ctx.Err(); err != nil {
		return nil, transient(op, p, context.Cause(ctx))
	}
	stop := c.guard(ctx)
	f, err := c.sftp.Open(p)
	if err != nil {
		stop()
		return nil, classify(ctx, op, "open "+p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		stop()
		_ = f.Close()
		return nil, classify(ctx, op, "stat "+p, err)
	}
	e := entryOf(fi)
	e.Name = path.Base(p)
	return &Reader{c: c, f: f, ctx: ctx, stop: stop, path: p, idle: idle, Entry: e}, nil
}

// Read reads the next bytes of the file.
func (r *Reader) Read(b []byte) (int, error) {
	var (
		timer    *time.Timer
		timedOut atomic.Bool
	)
	if r.idle > 0 {
		timer = time.AfterFunc(r.idle, func() {
			timedOut.Store(true)
			_ = r.c.Close()
		})
	}
	n, err := r.f.Read(b)
	if timer != nil {
		timer.Stop()
	}
	switch {
	// Only the bare io.EOF is the end of the file: a wrapped one ("failed
	// to send packet: EOF") is a connection that closed mid-read, and must
	// never pass for a complete file.
	case err == nil || err == io.EOF: //nolint:errorlint // the sentinel itself, on purpose
		return n, err
	case timedOut.Load():
		return n, transient("read", fmt.Sprintf("read %s: no answer within %s", r.path, r.idle), err)
	}
	return n, classify(r.ctx, "read", "read "+r.path, err)
}

// Close closes the file; the client stays open.
func (r *Reader) Close() error {
	r.stop()
	return r.f.Close()
}

// MkdirAll creates dir and its missing parents. An existing non-directory
// in the way is a Permanent error.
func (c *Client) MkdirAll(ctx context.Context, dir string) error {
	const op = "mkdir"
	if err := ctx.Err(); err != nil {
		return transient(op, dir, context.Cause(ctx))
	}
	defer c.guard(ctx)()
	if err := c.sftp.MkdirAll(dir); err != nil {
		return classify(ctx, op, "create directory "+dir, err)
	}
	return nil
}

// Remove removes the file p. A missing p is a Permanent error wrapping
// os.ErrNotExist.
func (c *Client) Remove(ctx context.Context, p string) error {
	const op = "remove"
	if err := ctx.Err(); err != nil {
		return transient(op, p, context.Cause(ctx))
	}
	defer c.guard(ctx)()
	if err := c.sftp.Remove(p); err != nil {
		return classify(ctx, op, "remove "+p, err)
	}
	return nil
}

// Rename moves from to to and never replaces a file: an existing to is a
// Permanent ErrExists. It checks first, then uses the plain SFTP v3 rename,
// which OpenSSH and servers following the draft refuse when the target
// exists, so that even a file created meanwhile is kept there.
// posix-rename@openssh.com is not used: it replaces the target.
func (c *Client) Rename(ctx context.Context, from, to string) error {
	const op = "rename"
	msg := "rename " + from + " to " + to
	if err := ctx.Err(); err != nil {
		return transient(op, msg, context.Cause(ctx))
	}
	defer c.guard(ctx)()
	_, err := c.sftp.Lstat(to)
	switch {
	case err == nil:
		return permanent(op, to+" exists", ErrExists)
	case !errors.Is(err, os.ErrNotExist) || ctx.Err() != nil:
		return classify(ctx, op, "stat "+to, err)
	}
	err = c.sftp.Rename(from, to)
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		if _, serr := c.sftp.Lstat(from); serr == nil {
			if _, terr := c.sftp.Lstat(to); terr == nil {
				return permanent(op, to+" exists", ErrExists)
			}
		}
	}
	return classify(ctx, op, msg, err)
}

// maxSuffix bounds how many other names MoveInto tries.
const maxSuffix = 1000

// MoveInto moves the file from into dir under its own name or, when that
// name is taken, under the first free name with a number before the
// extension ("a.csv", "a.1.csv", "a.2.csv"...). It never replaces a file.
// dir is not created (see MkdirAll). It returns the new path.
func (c *Client) MoveInto(ctx context.Context, from, dir string) (string, error) {
	name := path.Base(from)
	if err := checkName("move", name); err != nil {
		return "", err
	}
	if dir == "" {
		dir = "."
	}
	for i := 0; i <= maxSuffix; i++ {
		to := path.Join(dir, Numbered(name, i))
		err := c.Rename(ctx, from, to)
		if err == nil {
			return to, nil
		}
		if !errors.Is(err, ErrExists) {
			return "", err
		}
	}
	return "", permanent("move", fmt.Sprintf("%s and %d numbered names are taken in %s", name, maxSuffix, dir), ErrExists)
}

// Numbered returns name for 0, and name with ".n" before its extension
// otherwise: "a.csv" becomes "a.1.csv", "a" "a.1", ".a" ".a.1".
func Numbered(name string, n int) string {
	if n == 0 {
		return name
	}
	ext := path.Ext(name)
	base := strings.TrimSuffix(name, ext)
	if base == "" { // ".a": the dot starts the name, not an extension
		base, ext = name, ""
	}
	return fmt.Sprintf("%s.%d%s", base, n, ext)
}
