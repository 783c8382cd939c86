package pull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/destinations"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/sftpconn"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/libs/testkit"
)

func TestResolveDirs(t *testing.T) {
	for _, tc := range []struct {
		base string
		src  *ferryv1.SFTPSource
		want dirs
		bad  string
	}{
		{"/srv", &ferryv1.SFTPSource{}, dirs{"/srv", "/srv/archive", "/srv/error"}, ""},
		{"", &ferryv1.SFTPSource{Directory: "in"}, dirs{"in", "in/archive", "in/error"}, ""},
		{"/srv", &ferryv1.SFTPSource{Directory: "in/", ArchiveDirectory: "done/2024", ErrorDirectory: "bad"}, dirs{"/srv/in", "/srv/in/done/2024", "/srv/in/bad"}, ""},
		{"/srv", &ferryv1.SFTPSource{Directory: "../etc"}, dirs{}, "directory"},
		{"/srv", &ferryv1.SFTPSource{Directory: "/etc"}, dirs{}, "directory"},
		{"/srv", &ferryv1.SFTPSource{ArchiveDirectory: "../x"}, dirs{}, "archive_directory"},
		{"/srv", &ferryv1.SFTPSource{ErrorDirectory: "."}, dirs{}, "error_directory"},
		{"/srv", &ferryv1.SFTPSource{ArchiveDirectory: "./"}, dirs{}, "archive_directory"},
	} {
		got, err := resolveDirs(tc.base, tc.src)
		if tc.bad != "" {
			require.Error(t, err, "%v", tc.src)
			require.Contains(t, err.Error(), tc.bad)
			require.Equal(t, sftpconn.Permanent, classOf(err))
			continue
		}
		require.NoError(t, err, "%v", tc.src)
		require.Equal(t, tc.want, got)
	}
}

func TestSelectable(t *testing.T) {
	file := func(name string) sftpconn.Entry { return sftpconn.Entry{Name: name, Mode: 0o644} }
	for _, tc := range []struct {
		e    sftpconn.Entry
		glob string
		want bool
	}{
		{file("a.csv"), "", true},
		{file("a.csv"), "*.csv", true},
		{file("a.CSV"), "*.csv", false},
		{file("notes.txt"), "*.csv", false},
		{file(".a.csv"), "", false},
		{file(".a.csv.1f2e3d.part"), "*", false},
		{file("bad\\name.csv"), "", false},
		{file("bad\nname.csv"), "", false},
		{sftpconn.Entry{Name: "archive", Mode: fs.ModeDir | 0o755}, "", false},
		{sftpconn.Entry{Name: "link.csv", Mode: fs.ModeSymlink | 0o777}, "", false},
		{file("a.csv"), "[", false},
	} {
		require.Equal(t, tc.want, selectable(tc.e, tc.glob), "%q %q", tc.e.Name, tc.glob)
	}
}

// fakeImporter stands for ingest's upload path: it records the run in
// ferry.runs, as the profile service would, and reads the file.
type fakeImporter struct {
	pool    *pgxpool.Pool
	profile uuid.UUID

	mu      sync.Mutex
	calls   int
	imports []pulled
	// fail, when set, answers a call instead of importing.
	fail func(req *ferryv1.RunCreateRequest) error
}

type pulled struct {
	req     *ferryv1.RunCreateRequest
	content string
}

func (f *fakeImporter) ImportReader(ctx context.Context, req *ferryv1.RunCreateRequest, r io.Reader) (*ferryv1.Run, error) {
	f.mu.Lock()
	f.calls++
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		if err := fail(req); err != nil {
			return nil, err
		}
	}
	_, err := f.pool.Exec(ctx, `INSERT INTO ferry.runs (id, tenant_id, profile_id, profile_name, profile_version, dataset_name, trigger, status, file_name, file_size, snapshot)
		VALUES ($1, $2, $3, $4, 1, 'd', 'sftp_source', 'queued', $5, $6, '')`,
		req.GetRunId(), req.GetTenantId(), f.profile, req.GetProfile(), req.GetFile().GetName(), req.GetFile().GetSize())
	if err != nil {
		return nil, errs.Unavailable(err, "create run")
	}
	run := &ferryv1.Run{Id: req.GetRunId(), Profile: req.GetProfile(), Trigger: req.GetTrigger(), Status: ferryv1.RunStatus_RUN_STATUS_QUEUED}
	data, err := io.ReadAll(r)
	if err != nil {
		_, _ = f.pool.Exec(context.WithoutCancel(ctx), `UPDATE ferry.runs SET status = 'failed', error = $2 WHERE id = $1`, req.GetRunId(), err.Error())
		run.Status = ferryv1.RunStatus_RUN_STATUS_FAILED
		return run, err
	}
	sum := sha256.Sum256(data)
	run.File = &ferryv1.RunFile{Name: req.GetFile().GetName(), Size: int64(len(data)), Sha256: hex.EncodeToString(sum[:])}
	f.mu.Lock()
	f.imports = append(f.imports, pulled{req: req, content: string(data)})
	f.mu.Unlock()
	return run, nil
}

func (f *fakeImporter) taken() []pulled {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pulled{}, f.imports...)
}

type env struct {
	pool    *pgxpool.Pool
	srv     *testkit.SFTPServer
	keys    *secrets.Keyring
	tenant  uuid.UUID
	profile uuid.UUID
	imp     *fakeImporter
	// dir is the source directory on disk.
	dir string
}

const password = "pull-secret"

// setup stores a tenant, an SFTP destination "inbox" (base /data) on a
// test server, and a profile "p" with the source src.
func setup(t *testing.T, src *ferryv1.SFTPSource) *env {
	t.Helper()
	pool := storetest.Open(t)
	spec, err := secrets.GenerateSpec("k1")
	require.NoError(t, err)
	keys, err := secrets.Parse(spec)
	require.NoError(t, err)
	e := &env{pool: pool, srv: testkit.StartSFTP(t, testkit.SFTPServerOptions{Password: password}), keys: keys,
		tenant: uuid.New(), profile: uuid.New()}
	e.imp = &fakeImporter{pool: pool, profile: e.profile}
	e.dir = filepath.Join(e.srv.Root, "data", filepath.FromSlash(src.GetDirectory()))
	require.NoError(t, os.MkdirAll(e.dir, 0o755))
	e.exec(t, `INSERT INTO ferry.tenants (id, name, schema_name) VALUES ($1, 't', 'tenant_t')`, e.tenant)
	e.destination(t, e.srv.HostKeyLine())
	ps, err := protojson.Marshal(&ferryv1.ImportProfileSpec{Dataset: "d", SftpSource: src})
	require.NoError(t, err)
	e.exec(t, `INSERT INTO ferry.import_profiles (id, tenant_id, name, current_version) VALUES ($1, $2, 'p', 1)`, e.profile, e.tenant)
	e.exec(t, `INSERT INTO ferry.import_profile_versions (tenant_id, profile_id, version, spec) VALUES ($1, $2, 1, $3)`, e.tenant, e.profile, ps)
	return e
}

func (e *env) destination(t *testing.T, hostKey string) {
	t.Helper()
	id := uuid.New()
	full := &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Sftp{Sftp: &ferryv1.SFTPDestination{
		Host: e.srv.Host, Port: int32(e.srv.Port), Username: "ferry", Password: password, HostKey: hostKey,
		Directory: "/data", TimeoutSeconds: 5}}}
	pub, creds := destinations.Split(full)
	sealed, err := destinations.Seal(e.keys, e.tenant, id, creds)
	require.NoError(t, err)
	js, err := protojson.Marshal(pub)
	require.NoError(t, err)
	e.exec(t, `INSERT INTO ferry.destinations (id, tenant_id, name, kind, spec, secrets, secrets_set) VALUES ($1, $2, 'inbox', 'sftp', $3, $4, $5)`,
		id, e.tenant, js, sealed, destinations.Names(creds))
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := e.pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err)
}

// start runs a poller, as one ingest process would, until the test ends.
func (e *env) start(t *testing.T, o Options) {
	t.Helper()
	if o.Tick == 0 {
		o.Tick = 100 * time.Millisecond
	}
	if o.Refresh == 0 {
		o.Refresh = 200 * time.Millisecond
	}
	p := New(e.pool, e.keys, e.imp, testkit.Log(t), o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// put writes a file into the source directory, modified at mtime.
func (e *env) put(t *testing.T, name, content string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(e.dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	require.NoError(t, os.Chtimes(p, mtime, mtime))
}

// end ends a run as the profile service would.
func (e *env) end(t *testing.T, run, status string) {
	t.Helper()
	e.exec(t, `UPDATE ferry.runs SET status = $2, error = CASE WHEN $2 = 'failed' THEN 'bad file' ELSE '' END WHERE id = $1`, run, status)
}

type ledgerRow struct {
	State, Disposition, DisposedTo, DispositionError, Sha256, Error string
	RunID, DuplicateOf                                              *uuid.UUID
}

// ledger returns the rows of a file name, oldest first.
func (e *env) ledger(t *testing.T, name string) []ledgerRow {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT state, disposition, disposed_to, disposition_error, sha256, error, run_id, duplicate_of
		FROM ferry.sftp_source_files WHERE profile_id = $1 AND name = $2 ORDER BY first_seen_at`, e.profile, name)
	require.NoError(t, err)
	defer rows.Close()
	var out []ledgerRow
	for rows.Next() {
		var r ledgerRow
		require.NoError(t, rows.Scan(&r.State, &r.Disposition, &r.DisposedTo, &r.DispositionError, &r.Sha256, &r.Error, &r.RunID, &r.DuplicateOf))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

var past = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// TestPullOnce: two pollers (two ingest processes) take a stable file
// once, in a run of its own (trigger sftp_source) naming it, leave it while
// the run goes on, and archive it once the run succeeded. Other files stay.
func TestPullOnce(t *testing.T) {
	e := setup(t, &ferryv1.SFTPSource{Connection: "inbox", Directory: "in", Glob: "*.csv", PollIntervalSeconds: 1})
	e.put(t, "a.csv", "id\n1\n", past)
	e.put(t, ".a.csv.0a1b2c.part", "id\n", past)
	e.put(t, ".hidden.csv", "id\n", past)
	e.put(t, "notes.txt", "not csv", past)
	require.NoError(t, os.Mkdir(filepath.Join(e.dir, "sub.csv"), 0o755))
	e.start(t, Options{})
	e.start(t, Options{})

	eventually(t, "a.csv imported", func() bool { return len(e.imp.taken()) == 1 })
	got := e.imp.taken()[0]
	require.Equal(t, "a.csv", got.req.GetFile().GetName())
	require.EqualValues(t, 5, got.req.GetFile().GetSize())
	require.Equal(t, ferryv1.RunTrigger_RUN_TRIGGER_SFTP_SOURCE, got.req.GetTrigger())
	require.Equal(t, e.tenant.String(), got.req.GetTenantId())
	require.Equal(t, "p", got.req.GetProfile())
	require.Equal(t, "id\n1\n", got.content)

	// While the run goes on, the file stays and is not taken again.
	time.Sleep(2500 * time.Millisecond)
	require.Len(t, e.imp.taken(), 1)
	require.FileExists(t, filepath.Join(e.dir, "a.csv"))
	l := e.ledger(t, "a.csv")
	require.Len(t, l, 1)
	require.Equal(t, "importing", l[0].State)
	require.Equal(t, got.req.GetRunId(), l[0].RunID.String())
	sum := sha256.Sum256([]byte("id\n1\n"))
	require.Equal(t, hex.EncodeToString(sum[:]), l[0].Sha256)

	e.end(t, got.req.GetRunId(), "succeeded")
	archived := filepath.Join(e.dir, "archive", "a.csv")
	eventually(t, "a.csv archived", func() bool { return exists(archived) })
	require.NoFileExists(t, filepath.Join(e.dir, "a.csv"))
	require.Equal(t, "id\n1\n", read(t, archived))
	// The move is recorded right after it is made.
	eventually(t, "the move recorded", func() bool { return e.ledger(t, "a.csv")[0].Disposition != "" })
	l = e.ledger(t, "a.csv")
	require.Len(t, l, 1)
	require.Equal(t, "imported", l[0].State)
	require.Equal(t, "archived", l[0].Disposition)
	require.Equal(t, "/data/in/archive/a.csv", l[0].DisposedTo)

	for _, name := range []string{".a.csv.0a1b2c.part", ".hidden.csv", "notes.txt", "sub.csv"} {
		require.True(t, exists(filepath.Join(e.dir, name)), name)
		require.Empty(t, e.ledger(t, name), name)
	}
	require.Len(t, e.imp.taken(), 1)
}

// TestPullWaitsForStableFile: a file that grows between polls is not taken
// until it stops.
func TestPullWaitsForStableFile(t *testing.T) {
	e := setup(t, &ferryv1.SFTPSource{Connection: "inbox", PollIntervalSeconds: 1})
	e.start(t, Options{})
	p := filepath.Join(e.dir, "grow.csv")
	content := "id\n"
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	for i := 0; i < 12; i++ { // about 4s: four polls or more
		time.Sleep(333 * time.Millisecond)
		line := strings.Repeat("x", i+1) + "\n"
		content += line
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteString(line)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		require.Empty(t, e.imp.taken(), "taken while it grows")
	}
	eventually(t, "grow.csv imported", func() bool { return len(e.imp.taken()) == 1 })
	require.Equal(t, content, e.imp.taken()[0].content)
}

// TestPullFailuresAndDuplicates: a failed run's file goes to the error
// directory; the same name and content after a failure is imported again,
// after a success it is not (no run) and is archived under a free name.
func TestPullFailuresAndDuplicates(t *testing.T) {
	e := setup(t, &ferryv1.SFTPSource{Connection: "inbox", PollIntervalSeconds: 1, ErrorDirectory: "rejected"})
	e.start(t, Options{})
	const body = "id\n1\n2\n"

	e.put(t, "a.csv", body, past)
	eventually(t, "first import", func() bool { return len(e.imp.taken()) == 1 })
	e.end(t, e.imp.taken()[0].req.GetRunId(), "failed")
	eventually(t, "moved to the error directory", func() bool { return exists(filepath.Join(e.dir, "rejected", "a.csv")) })
	require.NoFileExists(t, filepath.Join(e.dir, "a.csv"))
	// The move is recorded right after it is made.
	eventually(t, "the move recorded", func() bool { return e.ledger(t, "a.csv")[0].Disposition != "" })
	l := e.ledger(t, "a.csv")
	require.Equal(t, "failed", l[0].State)
	require.Equal(t, "moved-to-error", l[0].Disposition)
	require.Equal(t, "bad file", l[0].Error)

	// The same file again: its earlier run failed, so it is imported.
	e.put(t, "a.csv", body, past)
	eventually(t, "second import", func() bool { return len(e.imp.taken()) == 2 })
	e.end(t, e.imp.taken()[1].req.GetRunId(), "succeeded_with_errors")
	eventually(t, "archived", func() bool { return exists(filepath.Join(e.dir, "archive", "a.csv")) })

	// And again, touched: imported already, so no run, archived beside it.
	e.put(t, "a.csv", body, past.Add(time.Hour))
	eventually(t, "duplicate archived", func() bool { return exists(filepath.Join(e.dir, "archive", "a.1.csv")) })
	eventually(t, "the move recorded", func() bool { l := e.ledger(t, "a.csv"); return len(l) == 3 && l[2].Disposition != "" })
	require.Len(t, e.imp.taken(), 2)
	l = e.ledger(t, "a.csv")
	require.Len(t, l, 3)
	require.Equal(t, "duplicate", l[2].State)
	require.Equal(t, "archived", l[2].Disposition)
	require.Nil(t, l[2].RunID)
	require.Equal(t, e.imp.taken()[1].req.GetRunId(), l[2].DuplicateOf.String())
	require.Equal(t, body, read(t, filepath.Join(e.dir, "archive", "a.1.csv")))

	// Other content under the same name is a new file.
	e.put(t, "a.csv", "id\n3\n4\n", past.Add(2*time.Hour))
	eventually(t, "third import", func() bool { return len(e.imp.taken()) == 3 })
	require.Equal(t, "id\n3\n4\n", e.imp.taken()[2].content)
}

// TestPullDispositionRetried: a file that cannot be deleted after its run
// succeeded stays, is not imported again, and is deleted once it can be.
func TestPullDispositionRetried(t *testing.T) {
	e := setup(t, &ferryv1.SFTPSource{Connection: "inbox", PollIntervalSeconds: 1, AfterSuccess: ferryv1.AfterImport_AFTER_IMPORT_DELETE})
	e.start(t, Options{})
	e.put(t, "b.csv", "id\n1\n", past)
	eventually(t, "imported", func() bool { return len(e.imp.taken()) == 1 })

	require.NoError(t, os.Chmod(e.dir, 0o555))
	t.Cleanup(func() { _ = os.Chmod(e.dir, 0o755) })
	e.end(t, e.imp.taken()[0].req.GetRunId(), "succeeded")
	eventually(t, "disposition error recorded", func() bool {
		l := e.ledger(t, "b.csv")
		return len(l) == 1 && l[0].DispositionError != ""
	})
	time.Sleep(2500 * time.Millisecond)
	require.Len(t, e.imp.taken(), 1, "never imported again")
	require.FileExists(t, filepath.Join(e.dir, "b.csv"))
	require.Equal(t, "", e.ledger(t, "b.csv")[0].Disposition)

	require.NoError(t, os.Chmod(e.dir, 0o755))
	eventually(t, "deleted", func() bool { return !exists(filepath.Join(e.dir, "b.csv")) })
	eventually(t, "recorded", func() bool { return e.ledger(t, "b.csv")[0].Disposition == "deleted" })
	require.Empty(t, e.ledger(t, "b.csv")[0].DispositionError)
	require.NoDirExists(t, filepath.Join(e.dir, "archive"))
	require.Len(t, e.imp.taken(), 1)
}

// TestPullRetriesAndRefusals: a file whose run could not be created is
// taken again; a file refused before its run goes to the error directory.
func TestPullRetriesAndRefusals(t *testing.T) {
	e := setup(t, &ferryv1.SFTPSource{Connection: "inbox", PollIntervalSeconds: 1})
	var mu sync.Mutex
	attempts := map[string]int{}
	e.imp.fail = func(req *ferryv1.RunCreateRequest) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[req.GetFile().GetName()]++
		switch {
		case req.GetFile().GetName() == "huge.csv":
			return errs.Invalid("file is %d bytes; the limit is 1", req.GetFile().GetSize())
		case attempts[req.GetFile().GetName()] == 1:
			return errs.Unavailable(errors.New("no responders"), "create run: profile service did not answer")
		}
		return nil
	}
	e.start(t, Options{})
	e.put(t, "huge.csv", "id\n1\n", past)
	e.put(t, "later.csv", "id\n2\n", past)

	eventually(t, "huge.csv to the error directory", func() bool { return exists(filepath.Join(e.dir, "error", "huge.csv")) })
	eventually(t, "the move recorded", func() bool { l := e.ledger(t, "huge.csv"); return len(l) == 1 && l[0].Disposition != "" })
	l := e.ledger(t, "huge.csv")
	require.Len(t, l, 1)
	require.Equal(t, "failed", l[0].State)
	require.Contains(t, l[0].Error, "the limit is 1")
	require.Nil(t, l[0].RunID)

	eventually(t, "later.csv imported on a later poll", func() bool { return len(e.imp.taken()) == 1 })
	require.Equal(t, "later.csv", e.imp.taken()[0].req.GetFile().GetName())
	mu.Lock()
	require.Equal(t, 2, attempts["later.csv"])
	require.Equal(t, 1, attempts["huge.csv"])
	mu.Unlock()
}

// TestPullOrphanTakenAgain: a file taken by a process that died before
// creating its run is taken again after the grace period.
func TestPullOrphanTakenAgain(t *testing.T) {
	e := setup(t, &ferryv1.SFTPSource{Connection: "inbox", PollIntervalSeconds: 1})
	e.put(t, "c.csv", "id\n1\n", past)
	e.exec(t, `INSERT INTO ferry.sftp_source_files (id, tenant_id, profile_id, name, size, mtime, state, run_id, updated_at)
		VALUES ($1, $2, $3, 'c.csv', 5, $4, 'importing', $5, now() - interval '10 seconds')`, uuid.New(), e.tenant, e.profile, past, uuid.New())
	e.start(t, Options{Orphan: 5 * time.Second})
	eventually(t, "c.csv imported", func() bool { return len(e.imp.taken()) == 1 })
	require.Len(t, e.ledger(t, "c.csv"), 1)
}

// TestPullPermanentError: a connection whose host key does not match is
// recorded on the source as permanent, and nothing is taken.
func TestPullPermanentError(t *testing.T) {
	e := setup(t, &ferryv1.SFTPSource{Connection: "inbox", PollIntervalSeconds: 1})
	e.exec(t, `DELETE FROM ferry.destinations`)
	e.destination(t, "SHA256:"+strings.Repeat("A", 43))
	e.put(t, "d.csv", "id\n1\n", past)
	e.start(t, Options{})
	eventually(t, "error recorded", func() bool {
		var msg, class string
		err := e.pool.QueryRow(context.Background(), `SELECT last_error, last_error_class FROM ferry.sftp_sources WHERE profile_id = $1`, e.profile).Scan(&msg, &class)
		return err == nil && class == "permanent" && strings.Contains(msg, "host key")
	})
	require.Empty(t, e.imp.taken())
}
