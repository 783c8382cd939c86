package sftpconn_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/sftpconn"
	"github.com/ferrydata/ferry/libs/testkit"
)

// put writes a file under the server's root with a modification time.
func put(t *testing.T, srv *testkit.SFTPServer, name string, data []byte, mtime time.Time) {
	t.Helper()
	p := filepath.Join(srv.Root, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, data, 0o644))
	require.NoError(t, os.Chtimes(p, mtime, mtime))
}

func TestList(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	put(t, srv, "in/b.csv", []byte("id\n1\n"), mtime)
	put(t, srv, "in/a.csv", []byte("id\n"), mtime.Add(time.Hour))
	put(t, srv, "in/.a.csv.123.part", []byte("x"), mtime)
	require.NoError(t, os.Mkdir(filepath.Join(srv.Root, "in", "archive"), 0o755))
	require.NoError(t, os.Symlink("a.csv", filepath.Join(srv.Root, "in", "link.csv")))
	c := dial(t, cfg)
	ctx := context.Background()

	got, err := c.List(ctx, "/in")
	require.NoError(t, err)
	names := make([]string, len(got))
	for i, e := range got {
		names[i] = e.Name
	}
	require.Equal(t, []string{".a.csv.123.part", "a.csv", "archive", "b.csv", "link.csv"}, names, "sorted, dotfiles included")
	byName := map[string]sftpconn.Entry{}
	for _, e := range got {
		byName[e.Name] = e
	}
	require.True(t, byName["b.csv"].Regular())
	require.EqualValues(t, 5, byName["b.csv"].Size)
	require.True(t, byName["b.csv"].ModTime.Equal(mtime), "mtime %s", byName["b.csv"].ModTime)
	require.True(t, byName["a.csv"].ModTime.Equal(mtime.Add(time.Hour)))
	require.True(t, byName["archive"].IsDir())
	require.False(t, byName["archive"].Regular())
	require.False(t, byName["link.csv"].Regular(), "a link is not followed")

	_, err = c.List(ctx, "/missing")
	requirePermanent(t, err, os.ErrNotExist)

	e, err := c.Lstat(ctx, "/in/b.csv")
	require.NoError(t, err)
	require.Equal(t, "b.csv", e.Name)
	require.EqualValues(t, 5, e.Size)
	require.True(t, e.ModTime.Equal(mtime))
	_, err = c.Lstat(ctx, "/in/missing.csv")
	requirePermanent(t, err, os.ErrNotExist)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.List(canceled, "/in")
	requireTransient(t, err)
}

func TestOpen(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	data := randomData(t, 3<<20+17)
	mtime := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
	put(t, srv, "big.bin", data, mtime)
	c := dial(t, cfg)
	ctx := context.Background()

	r, err := c.Open(ctx, "/big.bin", 5*time.Second)
	require.NoError(t, err)
	require.EqualValues(t, len(data), r.Entry.Size)
	require.True(t, r.Entry.ModTime.Equal(mtime))
	var got bytes.Buffer
	buf := make([]byte, 100<<10) // reads through Read, as a consumer with a buffer does
	_, err = io.CopyBuffer(&got, struct{ io.Reader }{r}, buf)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, data, got.Bytes())

	_, err = c.Open(ctx, "/missing.bin", 0)
	requirePermanent(t, err, os.ErrNotExist)

	// The client is still usable after a file is closed.
	_, err = c.Lstat(ctx, "/big.bin")
	require.NoError(t, err)
}

func TestOpenServerGone(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	put(t, srv, "f.bin", randomData(t, 1<<20), time.Now())
	c := dial(t, cfg)
	r, err := c.Open(context.Background(), "/f.bin", 5*time.Second)
	require.NoError(t, err)
	defer r.Close()
	srv.Stop()
	_, err = io.Copy(io.Discard, struct{ io.Reader }{r})
	requireTransient(t, err)
}

func TestOpenCanceled(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	put(t, srv, "f.bin", randomData(t, 1<<20), time.Now())
	c := dial(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := c.Open(ctx, "/f.bin", 0)
	require.NoError(t, err)
	defer r.Close()
	cancel()
	_, err = io.Copy(io.Discard, struct{ io.Reader }{r})
	requireTransient(t, err)
}

func TestMkdirAllAndRemove(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	put(t, srv, "in/f.csv", []byte("x"), time.Now())
	c := dial(t, cfg)
	ctx := context.Background()

	require.NoError(t, c.MkdirAll(ctx, "/in/archive/2024"))
	require.NoError(t, c.MkdirAll(ctx, "/in/archive/2024"), "an existing directory is fine")
	fi, err := os.Stat(filepath.Join(srv.Root, "in", "archive", "2024"))
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	requirePermanent(t, c.MkdirAll(ctx, "/in/f.csv/sub"), nil)

	require.NoError(t, c.Remove(ctx, "/in/f.csv"))
	require.NoFileExists(t, filepath.Join(srv.Root, "in", "f.csv"))
	requirePermanent(t, c.Remove(ctx, "/in/f.csv"), os.ErrNotExist)

	// A read-only directory refuses, permanently.
	put(t, srv, "ro/g.csv", []byte("x"), time.Now())
	require.NoError(t, os.Chmod(filepath.Join(srv.Root, "ro"), 0o555))
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(srv.Root, "ro"), 0o755) })
	requirePermanent(t, c.Remove(ctx, "/ro/g.csv"), nil)
	requirePermanent(t, c.MkdirAll(ctx, "/ro/archive"), nil)
}

func TestRenameNeverReplaces(t *testing.T) {
	for _, noPosix := range []bool{false, true} {
		t.Run(map[bool]string{false: "posix-rename offered", true: "plain rename only"}[noPosix], func(t *testing.T) {
			srv, cfg := passwordServer(t, testkit.SFTPServerOptions{NoPosixRename: noPosix})
			put(t, srv, "in/a.csv", []byte("new"), time.Now())
			put(t, srv, "in/archive/a.csv", []byte("old"), time.Now())
			c := dial(t, cfg)
			ctx := context.Background()

			err := c.Rename(ctx, "/in/a.csv", "/in/archive/a.csv")
			requirePermanent(t, err, sftpconn.ErrExists)
			requireFile(t, srv, "in/a.csv", "new")
			requireFile(t, srv, "in/archive/a.csv", "old")

			require.NoError(t, c.Rename(ctx, "/in/a.csv", "/in/archive/b.csv"))
			requireFile(t, srv, "in/archive/b.csv", "new")
			require.NoFileExists(t, filepath.Join(srv.Root, "in", "a.csv"))

			requirePermanent(t, c.Rename(ctx, "/in/a.csv", "/in/archive/c.csv"), os.ErrNotExist)
			requirePermanent(t, c.Rename(ctx, "/in/archive/b.csv", "/in/nodir/b.csv"), nil)
		})
	}
}

func TestMoveInto(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	put(t, srv, "in/archive/a.csv", []byte("0"), time.Now())
	put(t, srv, "in/archive/a.1.csv", []byte("1"), time.Now())
	c := dial(t, cfg)
	ctx := context.Background()

	put(t, srv, "in/a.csv", []byte("2"), time.Now())
	to, err := c.MoveInto(ctx, "/in/a.csv", "/in/archive")
	require.NoError(t, err)
	require.Equal(t, "/in/archive/a.2.csv", to)
	requireFile(t, srv, "in/archive/a.csv", "0")
	requireFile(t, srv, "in/archive/a.1.csv", "1")
	requireFile(t, srv, "in/archive/a.2.csv", "2")

	put(t, srv, "in/b.csv", []byte("b"), time.Now())
	to, err = c.MoveInto(ctx, "/in/b.csv", "/in/archive")
	require.NoError(t, err)
	require.Equal(t, "/in/archive/b.csv", to)

	_, err = c.MoveInto(ctx, "/in/missing.csv", "/in/archive")
	requirePermanent(t, err, os.ErrNotExist)
}

func TestNumbered(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		want string
	}{
		{"a.csv", 0, "a.csv"},
		{"a.csv", 1, "a.1.csv"},
		{"a.csv", 12, "a.12.csv"},
		{"a.tar.gz", 2, "a.tar.2.gz"},
		{"README", 3, "README.3"},
		{".hidden", 1, ".hidden.1"},
	} {
		require.Equal(t, tc.want, sftpconn.Numbered(tc.name, tc.n), "%s %d", tc.name, tc.n)
	}
}

func requireFile(t *testing.T, srv *testkit.SFTPServer, name, want string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(srv.Root, filepath.FromSlash(name)))
	require.NoError(t, err)
	require.Equal(t, want, string(got))
}
