package send_test

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/sftpconn"
	"github.com/ferrydata/ferry/libs/testkit"
	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
	"github.com/ferrydata/ferry/services/delivery/internal/send"
)

const sftpPassword = "pw-Sup3rSecret!"

// memFile is a file of a run held in memory.
func memFile(name, format, content string) send.File {
	sum := sha256.Sum256([]byte(content))
	return send.File{
		Name: name, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]),
		ContentType: "text/" + format, Format: format, Role: "rows",
		Rows: int64(strings.Count(content, "\n")),
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(content)), nil
		},
		Link: func(_ context.Context, ttl time.Duration) (string, error) {
			return "https://files.example/" + name + "?ttl=" + ttl.String(), nil
		},
	}
}

func testJob(files ...send.File) send.Job {
	return send.Job{
		TenantID: "7d1c0f5e-0000-4000-8000-000000000001", TenantName: "acme",
		Run: "0190c7a2-1111-7000-8000-00000000abcd", Profile: "orders", Version: 3, Dataset: "order",
		Time: time.Date(2024, 5, 1, 13, 4, 5, 0, time.UTC), Files: files, Attempt: 1,
	}
}

func sftpSpec(srv *testkit.SFTPServer, mod func(*ferryv1.SFTPDestination)) *ferryv1.DestinationSpec {
	s := &ferryv1.SFTPDestination{
		Host: srv.Host, Port: int32(srv.Port), Username: "ferry", Password: sftpPassword,
		HostKey: srv.HostKeyLine(), Directory: "/out", Path: "{profile}/{date:2006-01-02}",
		CreateDirs: true, TimeoutSeconds: 5,
	}
	if mod != nil {
		mod(s)
	}
	return &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Sftp{Sftp: s}}
}

func startSFTP(t *testing.T, o testkit.SFTPServerOptions) *testkit.SFTPServer {
	t.Helper()
	o.Password = sftpPassword
	return testkit.StartSFTP(t, o)
}

func requireClass(t *testing.T, want send.Class, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, want, send.ClassOf(err), "%v", err)
	t.Logf("%s: %v", want, err)
}

// names lists a directory, hidden files included.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestSFTPUpload(t *testing.T) {
	srv := startSFTP(t, testkit.SFTPServerOptions{})
	a := memFile("orders.csv", "csv", "id,total\n1,9.50\n2,3.25\n")
	b := memFile("orders-deleted.csv", "csv", "id\n7\n")
	locs, err := send.SFTP{}.Send(context.Background(), "drop", sftpSpec(srv, nil), testJob(a, b))
	require.NoError(t, err)
	require.Equal(t, []string{"/out/orders/2024-05-01/orders.csv", "/out/orders/2024-05-01/orders-deleted.csv"}, locs)

	dir := filepath.Join(srv.Root, "out", "orders", "2024-05-01")
	require.ElementsMatch(t, []string{"orders.csv", "orders-deleted.csv"}, names(t, dir))
	got, err := os.ReadFile(filepath.Join(dir, "orders.csv"))
	require.NoError(t, err)
	require.Equal(t, "id,total\n1,9.50\n2,3.25\n", string(got))
	got, err = os.ReadFile(filepath.Join(dir, "orders-deleted.csv"))
	require.NoError(t, err)
	require.Equal(t, "id\n7\n", string(got))
}

// bigFile is size bytes of pseudo-random, compressible text, generated as it
// is read.
func bigFile(name string, size int64) (send.File, []byte) {
	gen := func() io.Reader {
		return io.LimitReader(&textGen{}, size)
	}
	h := sha256.New()
	_, _ = io.Copy(h, gen())
	return send.File{
		Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil)), ContentType: "text/csv", Format: "csv",
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(gen()), nil },
	}, h.Sum(nil)
}

type textGen struct{ n int }

func (g *textGen) Read(p []byte) (int, error) {
	for i := range p {
		g.n++
		p[i] = "0123456789,abcdef\n"[(g.n*7+g.n/13)%18]
	}
	return len(p), nil
}

func TestSFTPGzip(t *testing.T) {
	srv := startSFTP(t, testkit.SFTPServerOptions{})
	small := memFile("a.csv", "csv", "id\n1\n")
	big, sum := bigFile("big.csv", 3<<20)
	spec := sftpSpec(srv, func(s *ferryv1.SFTPDestination) { s.Gzip = true })
	locs, err := send.SFTP{}.Send(context.Background(), "drop", spec, testJob(small, big))
	require.NoError(t, err)
	require.Equal(t, []string{"/out/orders/2024-05-01/a.csv.gz", "/out/orders/2024-05-01/big.csv.gz"}, locs)

	dir := filepath.Join(srv.Root, "out", "orders", "2024-05-01")
	gunzip := func(name string) []byte {
		f, err := os.Open(filepath.Join(dir, name))
		require.NoError(t, err)
		defer f.Close()
		zr, err := gzip.NewReader(f)
		require.NoError(t, err)
		b, err := io.ReadAll(zr)
		require.NoError(t, err)
		return b
	}
	require.Equal(t, "id\n1\n", string(gunzip("a.csv.gz")))
	b := gunzip("big.csv.gz")
	require.Len(t, b, 3<<20)
	got := sha256.Sum256(b)
	require.Equal(t, sum, got[:])
	fi, err := os.Stat(filepath.Join(dir, "big.csv.gz"))
	require.NoError(t, err)
	require.Less(t, fi.Size(), int64(1<<20), "compressed")
}

func TestSFTPOverwriteReplace(t *testing.T) {
	for _, noPosix := range []bool{false, true} {
		t.Run(map[bool]string{false: "posix-rename", true: "rename"}[noPosix], func(t *testing.T) {
			srv := startSFTP(t, testkit.SFTPServerOptions{NoPosixRename: noPosix})
			spec := sftpSpec(srv, func(s *ferryv1.SFTPDestination) { s.Overwrite = ferryv1.OverwritePolicy_OVERWRITE_POLICY_REPLACE })
			_, err := send.SFTP{}.Send(context.Background(), "drop", spec, testJob(memFile("a.csv", "csv", "id\n1\n")))
			require.NoError(t, err)
			_, err = send.SFTP{}.Send(context.Background(), "drop", spec, testJob(memFile("a.csv", "csv", "id\n1\n2\n")))
			require.NoError(t, err)
			dir := filepath.Join(srv.Root, "out", "orders", "2024-05-01")
			require.Equal(t, []string{"a.csv"}, names(t, dir), "one file, no second copy, no temporary left")
			got, err := os.ReadFile(filepath.Join(dir, "a.csv"))
			require.NoError(t, err)
			require.Equal(t, "id\n1\n2\n", string(got))
		})
	}
}

func TestSFTPOverwriteFail(t *testing.T) {
	srv := startSFTP(t, testkit.SFTPServerOptions{})
	spec := sftpSpec(srv, func(s *ferryv1.SFTPDestination) {
		s.Overwrite = ferryv1.OverwritePolicy_OVERWRITE_POLICY_FAIL
		s.Path = "fail"
	})
	dir := filepath.Join(srv.Root, "out", "fail")
	require.NoError(t, os.MkdirAll(dir, 0o755))

	// The same run's file from an attempt whose outcome was lost: same size.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.csv"), []byte("id\n1\n"), 0o644))
	locs, err := send.SFTP{}.Send(context.Background(), "drop", spec, testJob(memFile("a.csv", "csv", "id\n1\n"), memFile("b.csv", "csv", "id\n2\n")))
	require.NoError(t, err)
	require.Equal(t, []string{"/out/fail/a.csv", "/out/fail/b.csv"}, locs)

	// Another file under the name.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.csv"), []byte("other content\n"), 0o644))
	_, err = send.SFTP{}.Send(context.Background(), "drop", spec, testJob(memFile("c.csv", "csv", "id\n1\n")))
	requireClass(t, send.Permanent, err)
	require.ErrorContains(t, err, "exists")
	got, err := os.ReadFile(filepath.Join(dir, "c.csv"))
	require.NoError(t, err)
	require.Equal(t, "other content\n", string(got), "left alone")

	// With gzip the size cannot tell.
	gz := sftpSpec(srv, func(s *ferryv1.SFTPDestination) {
		s.Overwrite = ferryv1.OverwritePolicy_OVERWRITE_POLICY_FAIL
		s.Path = "fail"
		s.Gzip = true
	})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "d.csv.gz"), []byte("x"), 0o644))
	_, err = send.SFTP{}.Send(context.Background(), "drop", gz, testJob(memFile("d.csv", "csv", "x")))
	requireClass(t, send.Permanent, err)
}

func TestSFTPPathConfinement(t *testing.T) {
	srv := startSFTP(t, testkit.SFTPServerOptions{})
	var dials atomic.Int32
	s := send.SFTP{Dial: func(ctx context.Context, cfg sftpconn.Config) (*sftpconn.Client, error) {
		dials.Add(1)
		return sftpconn.Dial(ctx, cfg)
	}}

	job := testJob(memFile("a.csv", "csv", "id\n1\n"))
	job.Profile = "../../etc"
	locs, err := s.Send(context.Background(), "drop", sftpSpec(srv, func(d *ferryv1.SFTPDestination) { d.Path = "{profile}" }), job)
	require.NoError(t, err)
	require.Equal(t, []string{"/out/_.._.._etc/a.csv"}, locs)
	_, err = os.Stat(filepath.Join(srv.Root, "out", "_.._.._etc", "a.csv"))
	require.NoError(t, err)

	dials.Store(0)
	for _, tmpl := range []string{"../x", "/etc", "a/../../x", "{nope}"} {
		_, err = s.Send(context.Background(), "drop", sftpSpec(srv, func(d *ferryv1.SFTPDestination) { d.Path = tmpl }), job)
		requireClass(t, send.Permanent, err)
	}
	require.Zero(t, dials.Load(), "refused before connecting")
}

func TestSFTPMissingDirectory(t *testing.T) {
	srv := startSFTP(t, testkit.SFTPServerOptions{})
	spec := sftpSpec(srv, func(s *ferryv1.SFTPDestination) { s.CreateDirs = false })
	_, err := send.SFTP{}.Send(context.Background(), "drop", spec, testJob(memFile("a.csv", "csv", "id\n1\n")))
	requireClass(t, send.Permanent, err)
	require.ErrorContains(t, err, "/out/orders/2024-05-01 does not exist")
	require.ErrorContains(t, err, "create_dirs")
}

func TestSFTPWrongPassword(t *testing.T) {
	srv := startSFTP(t, testkit.SFTPServerOptions{})
	const wrong = "wr0ng-Passw0rd-XYZ"
	spec := sftpSpec(srv, func(s *ferryv1.SFTPDestination) { s.Password = wrong })
	_, err := send.SFTP{}.Send(context.Background(), "drop", spec, testJob(memFile("a.csv", "csv", "id\n1\n")))
	requireClass(t, send.Permanent, err)
	require.ErrorIs(t, err, sftpconn.ErrAuth)
	require.NotContains(t, err.Error(), wrong)
	require.NotContains(t, err.Error(), sftpPassword)
}

func TestSFTPHostKeyChanged(t *testing.T) {
	srv := startSFTP(t, testkit.SFTPServerOptions{})
	other := startSFTP(t, testkit.SFTPServerOptions{}) // another host key

	spec := sftpSpec(srv, func(s *ferryv1.SFTPDestination) { s.HostKey = other.HostKeyLine() })
	_, err := send.SFTP{}.Send(context.Background(), "drop", spec, testJob(memFile("a.csv", "csv", "id\n1\n")))
	requireClass(t, send.Permanent, err)
	require.ErrorIs(t, err, sftpconn.ErrHostKeyMismatch)
	require.ErrorContains(t, err, sftpconn.Fingerprint(srv.HostKey))
	require.ErrorContains(t, err, sftpconn.Fingerprint(other.HostKey))
	require.NotContains(t, err.Error(), sftpPassword)
	require.Empty(t, names(t, srv.Root))
}

func TestSFTPServerDown(t *testing.T) {
	srv := startSFTP(t, testkit.SFTPServerOptions{})
	srv.Stop()
	spec := sftpSpec(srv, nil)
	job := testJob(memFile("a.csv", "csv", "id\n1\n"))
	_, err := send.SFTP{}.Send(context.Background(), "drop", spec, job)
	requireClass(t, send.Transient, err)

	srv.Restart()
	_, err = send.SFTP{}.Send(context.Background(), "drop", spec, job)
	require.NoError(t, err)
}

func TestSFTPConnectionCut(t *testing.T) {
	srv := startSFTP(t, testkit.SFTPServerOptions{CutAfter: 100 << 10})
	big, _ := bigFile("big.csv", 1<<20)
	spec := sftpSpec(srv, nil)
	_, err := send.SFTP{}.Send(context.Background(), "drop", spec, testJob(big))
	requireClass(t, send.Transient, err)
	dir := filepath.Join(srv.Root, "out", "orders", "2024-05-01")
	require.NotContains(t, names(t, dir), "big.csv", "no partial file under the final name")

	// The retry gets through (the server cuts only once).
	locs, err := send.SFTP{}.Send(context.Background(), "drop", spec, testJob(big))
	require.NoError(t, err)
	require.Equal(t, []string{"/out/orders/2024-05-01/big.csv"}, locs)
	fi, err := os.Stat(filepath.Join(dir, "big.csv"))
	require.NoError(t, err)
	require.EqualValues(t, 1<<20, fi.Size())
}

func TestSFTPSourceError(t *testing.T) {
	srv := startSFTP(t, testkit.SFTPServerOptions{})
	f := memFile("a.csv", "csv", "id\n1\n")
	f.Open = func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("id\n"), errReader{})), nil
	}
	for _, gz := range []bool{false, true} {
		spec := sftpSpec(srv, func(s *ferryv1.SFTPDestination) { s.Gzip = gz })
		_, err := send.SFTP{}.Send(context.Background(), "drop", spec, testJob(f))
		requireClass(t, send.Transient, err)
		require.ErrorContains(t, err, "storage hiccup")
	}
	dir := filepath.Join(srv.Root, "out", "orders", "2024-05-01")
	require.Empty(t, names(t, dir))
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("storage hiccup") }
