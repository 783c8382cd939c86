package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/destinations"
	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/testkit"
)

const sftpSourcePassword = "source-secret"

// sftpSourceEnv is a server with the students dataset, an SFTP server and
// an SFTP destination "inbox" on it (base "/").
type sftpSourceEnv struct {
	srv  *proc
	c    *client
	db   string
	sftp *testkit.SFTPServer
}

func startSFTPSourceEnv(t *testing.T) *sftpSourceEnv {
	t.Helper()
	key, err := secrets.GenerateSpec("k1")
	require.NoError(t, err)
	db := testkit.Database(t, true)
	srv := startServer(t, []string{secrets.EnvKey + "=" + key}, "--database-url", db, "--data-dir", t.TempDir())
	c := dial(t, srv.GRPCAddr, srv.Key)
	applyResources(t, srv.GRPCAddr, srv.Key)
	e := &sftpSourceEnv{srv: srv, c: c, db: db, sftp: testkit.StartSFTP(t, testkit.SFTPServerOptions{Password: sftpSourcePassword})}
	e.applyDestination(t, key)
	return e
}

// applyDestination stores "inbox" through the DestinationService, or,
// where this build does not serve it, as the service would store it.
func (e *sftpSourceEnv) applyDestination(t *testing.T, key string) {
	t.Helper()
	spec := &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Sftp{Sftp: &ferryv1.SFTPDestination{
		Host: e.sftp.Host, Port: int32(e.sftp.Port), Username: "ferry", Password: sftpSourcePassword,
		HostKey: e.sftp.HostKeyLine(), Directory: "/", TimeoutSeconds: 10}}}
	_, err := ferryv1.NewDestinationServiceClient(e.c.conn).ApplyDestination(e.c.ctx(t), &ferryv1.ApplyDestinationRequest{Name: "inbox", Spec: spec})
	if status.Code(err) != codes.Unimplemented {
		require.NoError(t, err)
		return
	}
	keys, err := secrets.Parse(key)
	require.NoError(t, err)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var tenant uuid.UUID
	require.NoError(t, conn.QueryRow(ctx, `SELECT id FROM ferry.tenants WHERE name = 'default'`).Scan(&tenant))
	id := uuid.New()
	pub, creds := destinations.Split(spec)
	sealed, err := destinations.Seal(keys, tenant, id, creds)
	require.NoError(t, err)
	js, err := protojson.Marshal(pub)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO ferry.destinations (id, tenant_id, name, kind, spec, secrets, secrets_set) VALUES ($1, $2, 'inbox', 'sftp', $3, $4, $5)`,
		id, tenant, js, sealed, destinations.Names(creds))
	require.NoError(t, err)
}

// applySourceProfile stores a copy of students-csv that pulls from src.
func (e *sftpSourceEnv) applySourceProfile(t *testing.T, name string, src *ferryv1.SFTPSource) {
	t.Helper()
	base, err := e.c.IP.GetImportProfile(e.c.ctx(t), &ferryv1.GetImportProfileRequest{Name: "students-csv"})
	require.NoError(t, err)
	spec := proto.Clone(base.GetProfile().GetSpec()).(*ferryv1.ImportProfileSpec)
	spec.SftpSource = src
	_, err = e.c.IP.ApplyImportProfile(e.c.ctx(t), &ferryv1.ApplyImportProfileRequest{Name: name, Spec: spec})
	require.NoError(t, err)
}

// drop writes a students file into dir on the SFTP server under a hidden
// name and renames it into place, as a careful partner would.
func (e *sftpSourceEnv) drop(t *testing.T, dir, name string, rows []student) string {
	t.Helper()
	full := filepath.Join(e.sftp.Root, filepath.FromSlash(dir))
	require.NoError(t, os.MkdirAll(full, 0o755))
	tmp := filepath.Join(full, "."+name+".tmp")
	f, err := os.Create(tmp)
	require.NoError(t, err)
	w := csv.NewWriter(f)
	require.NoError(t, w.Write(header))
	for _, r := range rows {
		require.NoError(t, w.Write(r[:]))
	}
	w.Flush()
	require.NoError(t, w.Error())
	require.NoError(t, f.Close())
	require.NoError(t, os.Rename(tmp, filepath.Join(full, name)))
	return filepath.Join(full, name)
}

// runsOf lists the runs of profile that read the file name.
func (e *sftpSourceEnv) runsOf(t *testing.T, profile, name string) []*ferryv1.Run {
	t.Helper()
	resp, err := e.c.Runs.ListRuns(e.c.ctx(t), &ferryv1.ListRunsRequest{Profile: profile, PageSize: 1000})
	require.NoError(t, err)
	var out []*ferryv1.Run
	for _, r := range resp.GetRuns() {
		if r.GetFile().GetName() == name {
			out = append(out, r)
		}
	}
	return out
}

// awaitRun waits for the one run of profile that reads name, and for its end.
func (e *sftpSourceEnv) awaitRun(t *testing.T, profile, name string) *ferryv1.Run {
	t.Helper()
	var runs []*ferryv1.Run
	waitFor(t, "a run of "+name, 60*time.Second, func() bool {
		runs = e.runsOf(t, profile, name)
		return len(runs) > 0
	})
	require.Len(t, runs, 1, "one run for %s", name)
	return e.c.waitRun(t, runs[0].GetId(), 2*time.Minute)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestSFTPSource pulls files from an SFTP directory: each stable file is
// imported once, in a run of its own triggered by the schedule and naming
// the file; it is then archived (or deleted), or moved to the error
// directory when its run failed. Files still growing, hidden files and
// files of other names are left alone.
func TestSFTPSource(t *testing.T) {
	e := startSFTPSourceEnv(t)
	in := filepath.Join(e.sftp.Root, "in")
	require.NoError(t, os.MkdirAll(in, 0o755))
	ignored := []string{".students.csv.0a1b2c.part", ".hidden.csv", "readme.txt"}
	for _, name := range ignored {
		require.NoError(t, os.WriteFile(filepath.Join(in, name), []byte("Student ID\n1\n"), 0o644))
	}
	e.applySourceProfile(t, "students-sftp", &ferryv1.SFTPSource{Connection: "inbox", Directory: "in", Glob: "*.csv", PollIntervalSeconds: 1})
	e.applySourceProfile(t, "students-sftp-delete", &ferryv1.SFTPSource{Connection: "inbox", Directory: "del", PollIntervalSeconds: 1,
		AfterSuccess: ferryv1.AfterImport_AFTER_IMPORT_DELETE})

	t.Run("imported once and archived", func(t *testing.T) {
		rows := genStudents(50, 11)
		e.drop(t, "in", "students-1.csv", rows)
		run := e.awaitRun(t, "students-sftp", "students-1.csv")
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
		require.Equal(t, ferryv1.RunTrigger_RUN_TRIGGER_SFTP_SOURCE, run.GetTrigger())
		require.Len(t, run.GetFile().GetSha256(), 64)
		requireCounts(t, run, 50, 50, 0, 0, 0)
		got := readStudents(t, e.db, "tenant_default")
		for _, r := range rows {
			require.Equal(t, r, got[r[0]])
		}
		waitFor(t, "archived", 30*time.Second, func() bool { return fileExists(filepath.Join(in, "archive", "students-1.csv")) })
		require.NoFileExists(t, filepath.Join(in, "students-1.csv"))
	})

	t.Run("a growing file waits until it is stable", func(t *testing.T) {
		rows := genStudents(90, 12)[50:] // ids the first file did not have
		p := filepath.Join(in, "grow.csv")
		f, err := os.Create(p)
		require.NoError(t, err)
		w := csv.NewWriter(f)
		require.NoError(t, w.Write(header))
		for i, r := range rows {
			require.NoError(t, w.Write(r[:]))
			w.Flush()
			require.NoError(t, w.Error())
			if i%3 == 0 {
				time.Sleep(150 * time.Millisecond) // 40 rows over about 2s: the size changes at every poll
				require.Empty(t, e.runsOf(t, "students-sftp", "grow.csv"), "taken while it grows")
			}
		}
		require.NoError(t, f.Close())
		run := e.awaitRun(t, "students-sftp", "grow.csv")
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
		requireCounts(t, run, 40, 40, 0, 0, 0)
	})

	t.Run("a failed run's file goes to the error directory", func(t *testing.T) {
		p := filepath.Join(in, "bad.csv")
		require.NoError(t, os.WriteFile(p, []byte("Nope,Header\n1,2\n"), 0o644))
		run := e.awaitRun(t, "students-sftp", "bad.csv")
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_FAILED, run.GetStatus())
		require.Equal(t, ferryv1.RunTrigger_RUN_TRIGGER_SFTP_SOURCE, run.GetTrigger())
		waitFor(t, "moved to error/", 30*time.Second, func() bool { return fileExists(filepath.Join(in, "error", "bad.csv")) })
		require.NoFileExists(t, p)
	})

	t.Run("a file that cannot be archived is never imported twice", func(t *testing.T) {
		archive := filepath.Join(in, "archive")
		require.NoError(t, os.Chmod(archive, 0o555))
		t.Cleanup(func() { _ = os.Chmod(archive, 0o755) })
		e.drop(t, "in", "held.csv", genStudents(5, 13))
		run := e.awaitRun(t, "students-sftp", "held.csv")
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, e.db)
		require.NoError(t, err)
		defer conn.Close(ctx)
		var dispErr string
		waitFor(t, "disposition error recorded", 30*time.Second, func() bool {
			err := conn.QueryRow(ctx, `SELECT disposition_error FROM ferry.sftp_source_files WHERE name = 'held.csv' AND state = 'imported'`).Scan(&dispErr)
			return err == nil && dispErr != ""
		})
		time.Sleep(3 * time.Second) // three more polls
		require.Len(t, e.runsOf(t, "students-sftp", "held.csv"), 1)
		require.FileExists(t, filepath.Join(in, "held.csv"))

		require.NoError(t, os.Chmod(archive, 0o755))
		waitFor(t, "archived once writable", 30*time.Second, func() bool { return fileExists(filepath.Join(archive, "held.csv")) })
		require.Len(t, e.runsOf(t, "students-sftp", "held.csv"), 1)
	})

	t.Run("deleted after success", func(t *testing.T) {
		p := e.drop(t, "del", "students-2.csv", genStudents(7, 14))
		run := e.awaitRun(t, "students-sftp-delete", "students-2.csv")
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
		waitFor(t, "deleted", 30*time.Second, func() bool { return !fileExists(p) })
		require.NoDirExists(t, filepath.Join(e.sftp.Root, "del", "archive"))
	})

	// Nothing else was taken: hidden and unmatched files stay, and every
	// file had exactly one run.
	for _, name := range ignored {
		require.FileExists(t, filepath.Join(in, name))
		require.Empty(t, e.runsOf(t, "students-sftp", name))
	}
	resp, err := e.c.Runs.ListRuns(e.c.ctx(t), &ferryv1.ListRunsRequest{Profile: "students-sftp", PageSize: 100})
	require.NoError(t, err)
	require.Len(t, resp.GetRuns(), 4, "students-1, grow, bad, held")
}
