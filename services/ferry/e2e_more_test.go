package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/testkit"
	"github.com/ferrydata/ferry/services/ferry/internal/app"
)

func countRows(t testing.TB, dbURL, table string) int {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

// TestQuickstartExamples runs the README's quickstart with deploy/examples.
func TestQuickstartExamples(t *testing.T) {
	db := testkit.Database(t, false)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir())
	c := dial(t, srv.GRPCAddr, srv.Key)
	examples := filepath.Join("..", "..", "deploy", "examples")
	out, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", filepath.Join(examples, "students.yaml"))
	require.Zero(t, code, errOut)
	require.Equal(t, "dataset/students created\nimportprofile/students-csv created\n", out)
	out, _, code = runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", filepath.Join(examples, "students.yaml"))
	require.Zero(t, code)
	require.Equal(t, "dataset/students unchanged\nimportprofile/students-csv unchanged\n", out)

	run := importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", filepath.Join(examples, "students.csv"))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS, run.GetStatus())
	requireCounts(t, run, 5, 4, 0, 0, 1)
	rej, err := c.Runs.ListRunRejects(c.ctx(t), &ferryv1.ListRunRejectsRequest{Id: run.GetId()})
	require.NoError(t, err)
	require.Len(t, rej.GetRejects(), 1)
	require.Equal(t, int64(5), rej.GetRejects()[0].GetRow(), "header is row 1")
	require.Equal(t, "Grade", rej.GetRejects()[0].GetColumn())
	require.Equal(t, "nine", rej.GetRejects()[0].GetValue())
	require.Contains(t, rej.GetRejects()[0].GetReason(), "not an integer")

	run = importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", filepath.Join(examples, "students-changed.csv"))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus())
	requireCounts(t, run, 6, 2, 1, 3, 0)
	require.Equal(t, 6, countRows(t, db, "tenant_default.students"))

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var last string
	require.NoError(t, conn.QueryRow(ctx, `SELECT last_name FROM tenant_default.students WHERE student_id = '000127'`).Scan(&last))
	require.Equal(t, "Two\nLines", last)

	// The quickstart's export.
	out, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", filepath.Join(examples, "roster-export.yaml"))
	require.Zero(t, code, errOut)
	require.Equal(t, "template/roster created\nexportprofile/roster created\n", out)
	roster := filepath.Join(t.TempDir(), "roster.csv")
	_, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "export", "roster", "--wait", "--out", roster)
	require.Zero(t, code, errOut)
	data, err := os.ReadFile(roster)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\r\n")
	require.Equal(t, "Student ID,Name,Grade,Born", lines[0])
	require.Contains(t, lines[1], `000123,"Zoë O'Brien, Jr.",10,02/04/2011`)
}

// TestRedeliveredChunkAppliedOnce crashes the server between a chunk's
// commit and its ack; after a restart the chunk is redelivered, found in
// the ledger, and nothing is applied or counted twice.
func TestRedeliveredChunkAppliedOnce(t *testing.T) {
	db := testkit.Database(t, true)
	dataDir := t.TempDir()
	args := []string{"--database-url", db, "--data-dir", dataDir, "--ingest-chunk-size", "16384", "--ack-wait", "2s", "--delivery-workers", "1"}
	key := "fy_test-bootstrap-key-0123456789abcdefghij"
	env := []string{"FERRY_BOOTSTRAP_KEY=" + key, app.FailpointEnv + "=3"}
	srv := startServer(t, env, args...)
	require.Empty(t, srv.Key, "a given bootstrap key is not printed")
	applyResources(t, srv.GRPCAddr, key)
	rows := genStudents(5000, 3)
	path := writeCSV(t, rows)
	// The CLI returns the run id once the upload is stored; the server
	// then exits at the failpoint while applying.
	out, errOut, code := runCLI(t, srv.GRPCAddr, key, "import", "students-csv", path)
	require.Zero(t, code, errOut)
	runID := strings.TrimSpace(out)
	require.Equal(t, 3, srv.wait(time.Minute), "the failpoint exits with 3")
	require.Contains(t, srv.log.String(), "failpoint: exiting after commit, before ack")

	srv = startServer(t, []string{"FERRY_BOOTSTRAP_KEY=" + key}, args...)
	c := dial(t, srv.GRPCAddr, key)
	run := c.waitRun(t, runID, 2*time.Minute)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	requireCounts(t, run, 5000, 5000, 0, 0, 0)
	require.Contains(t, srv.log.String(), "chunk already staged", "the committed chunk came back and was recognised")
	requireSameStudents(t, rows, readStudents(t, db, "tenant_default"))
}

// TestSeparateWorkerProcesses runs profile and ingest in one process with the
// embedded NATS server exposed, and two processes of transform and delivery
// against it: the result is the same as in one process.
func TestSeparateWorkerProcesses(t *testing.T) {
	db := testkit.Database(t, true)
	natsAddr := freeAddr(t)
	front := startServer(t, nil, "--services", "profile,ingest,export", "--database-url", db, "--data-dir", t.TempDir(),
		"--nats-listen", natsAddr, "--ingest-chunk-size", "16384")
	workers := []*proc{
		startServer(t, nil, "--services", "transform,delivery", "--database-url", db, "--nats-url", "nats://"+natsAddr),
		startServer(t, nil, "--services", "transform", "--nats-url", "nats://"+natsAddr),
		startServer(t, nil, "--services", "delivery", "--database-url", db, "--nats-url", "nats://"+natsAddr),
	}
	c := dial(t, front.GRPCAddr, front.Key)
	applyResources(t, front.GRPCAddr, front.Key)
	rows := genStudents(20_000, 4)
	run := importFile(t, c, front.GRPCAddr, front.Key, "students-csv", writeCSV(t, rows))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	requireCounts(t, run, 20_000, 20_000, 0, 0, 0)
	requireSameStudents(t, rows, readStudents(t, db, "tenant_default"))
	require.Contains(t, workers[0].log.String(), "chunk staged")
	require.Contains(t, workers[2].log.String(), "chunk staged")
	require.NotContains(t, front.log.String(), "chunk staged", "the front process runs no delivery")
	// Every worker is healthy on its own HTTP port.
	for _, w := range workers {
		requireHTTP(t, "http://"+w.HTTPAddr+"/readyz", 200)
	}
}

// TestTenantIsolation: a key of one tenant gets NotFound for anything of another.
func TestTenantIsolation(t *testing.T) {
	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir())
	a := dial(t, srv.GRPCAddr, srv.Key)
	applyResources(t, srv.GRPCAddr, srv.Key)
	run := importFile(t, a, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, genStudents(10, 5)))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus())

	created, err := a.Ten.CreateTenant(a.ctx(t), &ferryv1.CreateTenantRequest{Name: "acme"})
	require.NoError(t, err)
	b := dial(t, srv.GRPCAddr, created.GetSecret())
	who, err := b.Ten.WhoAmI(b.ctx(t), &ferryv1.WhoAmIRequest{})
	require.NoError(t, err)
	require.Equal(t, "acme", who.GetTenant().GetName())

	notFound := func(err error) {
		t.Helper()
		require.Equal(t, codes.NotFound, status.Code(err), "%v", err)
	}
	_, err = b.DS.GetDataset(b.ctx(t), &ferryv1.GetDatasetRequest{Name: "students"})
	notFound(err)
	_, err = b.IP.GetImportProfile(b.ctx(t), &ferryv1.GetImportProfileRequest{Name: "students-csv"})
	notFound(err)
	_, err = b.Runs.GetRun(b.ctx(t), &ferryv1.GetRunRequest{Id: run.GetId()})
	notFound(err)
	_, err = b.Runs.CancelRun(b.ctx(t), &ferryv1.CancelRunRequest{Id: run.GetId()})
	notFound(err)
	_, err = b.Runs.ListRunRejects(b.ctx(t), &ferryv1.ListRunRejectsRequest{Id: run.GetId()})
	notFound(err)
	ws, err := b.Runs.WatchRun(b.ctx(t), &ferryv1.WatchRunRequest{Id: run.GetId()})
	require.NoError(t, err)
	_, err = ws.Recv()
	notFound(err)
	list, err := b.Runs.ListRuns(b.ctx(t), &ferryv1.ListRunsRequest{})
	require.NoError(t, err)
	require.Empty(t, list.GetRuns())
	ds, err := b.DS.ListDatasets(b.ctx(t), &ferryv1.ListDatasetsRequest{})
	require.NoError(t, err)
	require.Empty(t, ds.GetDatasets())
	_, _, code := runCLI(t, srv.GRPCAddr, created.GetSecret(), "import", "students-csv", writeCSV(t, genStudents(1, 1)))
	require.NotZero(t, code, "tenant B cannot import into tenant A's profile")

	// B's dataset of the same name is a table of B's own schema.
	applyResources(t, srv.GRPCAddr, created.GetSecret())
	runB := importFile(t, b, srv.GRPCAddr, created.GetSecret(), "students-csv", writeCSV(t, genStudents(3, 6)))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, runB.GetStatus())
	require.Equal(t, 10, countRows(t, db, "tenant_default.students"))
	require.Equal(t, 3, countRows(t, db, "tenant_acme.students"))
	_, err = a.Runs.GetRun(a.ctx(t), &ferryv1.GetRunRequest{Id: runB.GetId()})
	notFound(err)

	// Only admin keys of the default tenant create tenants.
	_, err = b.Ten.CreateTenant(b.ctx(t), &ferryv1.CreateTenantRequest{Name: "other"})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
}

// TestBadInput covers what the spine must refuse.
func TestBadInput(t *testing.T) {
	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir())
	c := dial(t, srv.GRPCAddr, srv.Key)
	applyResources(t, srv.GRPCAddr, srv.Key)

	t.Run("wrong number of fields", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ragged.csv")
		content := strings.Join(header, ",") + "\n" +
			"0000001,Ann,a@x.org,9,1.00,true,2010-01-01,\n" +
			"0000002,Bob,b@x.org\n" +
			"0000003,Cy,c@x.org,9,1.00,true,2010-01-01,,extra\n" +
			"0000004,Di,d@x.org,9,1.00,true,2010-01-01,\n"
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		run := importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", path)
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS, run.GetStatus())
		requireCounts(t, run, 4, 2, 0, 0, 2)
		rej, err := c.Runs.ListRunRejects(c.ctx(t), &ferryv1.ListRunRejectsRequest{Id: run.GetId()})
		require.NoError(t, err)
		require.Len(t, rej.GetRejects(), 2)
		require.Equal(t, int64(3), rej.GetRejects()[0].GetRow())
		require.Equal(t, "row has 3 fields, the header has 8", rej.GetRejects()[0].GetReason())
		require.Equal(t, int64(4), rej.GetRejects()[1].GetRow())
		out, _, code := runCLI(t, srv.GRPCAddr, srv.Key, "runs", "rejects", run.GetId(), "--csv")
		require.Zero(t, code)
		require.Contains(t, out, "row has 9 fields, the header has 8")
	})

	before := countRows(t, db, "tenant_default.students")
	t.Run("binary file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "photo.csv")
		require.NoError(t, os.WriteFile(path, append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 5000)...), 0o600))
		run := importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", path)
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_FAILED, run.GetStatus())
		require.Contains(t, run.GetError(), "PNG")
		require.Zero(t, run.GetCounts().GetRead())
	})
	t.Run("binary content after text", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "mixed.csv")
		content := strings.Join(header, ",") + "\n0000009,Ann,a@x.org,9,1.00,true,2010-01-01,\n" + strings.Repeat("x", 200000) + "\x00\x01\x02"
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		run := importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", path)
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_FAILED, run.GetStatus())
		require.Contains(t, run.GetError(), "NUL")
	})
	t.Run("header does not match the profile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.csv")
		require.NoError(t, os.WriteFile(path, []byte("id,name\n1,Ann\n"), 0o600))
		run := importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", path)
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_FAILED, run.GetStatus())
		require.Contains(t, run.GetError(), `column "Student ID" for field "student_id" is not in the file's header`)
	})
	t.Run("unknown profile", func(t *testing.T) {
		st, err := c.Ing.Upload(c.ctx(t))
		require.NoError(t, err)
		require.NoError(t, st.Send(&ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Header{Header: &ferryv1.UploadHeader{Profile: "nope", FileName: "x.csv"}}}))
		_, err = st.CloseAndRecv()
		require.Equal(t, codes.NotFound, status.Code(err))
		require.Contains(t, err.Error(), `import profile "nope" not found`)
	})
	t.Run("missing or wrong key", func(t *testing.T) {
		bare := dial(t, srv.GRPCAddr, "")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := bare.DS.ListDatasets(ctx, &ferryv1.ListDatasetsRequest{})
		require.Equal(t, codes.Unauthenticated, status.Code(err))
		wrong := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer fy_notakey")
		_, err = bare.DS.ListDatasets(wrong, &ferryv1.ListDatasetsRequest{})
		require.Equal(t, codes.Unauthenticated, status.Code(err))
		st, err := bare.Ing.Upload(wrong)
		require.NoError(t, err)
		_, err = st.CloseAndRecv()
		require.Equal(t, codes.Unauthenticated, status.Code(err))
	})
	t.Run("upload cut off", func(t *testing.T) {
		ctx, cancel := context.WithCancel(c.ctx(t))
		st, err := c.Ing.Upload(ctx)
		require.NoError(t, err)
		require.NoError(t, st.Send(&ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Header{Header: &ferryv1.UploadHeader{Profile: "students-csv", FileName: "cut.csv"}}}))
		data := []byte(strings.Join(header, ",") + "\n" + "0000100,Ann,a@x.org,9,1.00,true,2010-01-01,\n")
		require.NoError(t, st.Send(&ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Data{Data: data}}))
		time.Sleep(200 * time.Millisecond)
		cancel()
		_, err = st.CloseAndRecv()
		require.Error(t, err)
		// The run was created from the header and fails; nothing is applied.
		require.Eventually(t, func() bool {
			list, err := c.Runs.ListRuns(c.ctx(t), &ferryv1.ListRunsRequest{PageSize: 1})
			require.NoError(t, err)
			r := list.GetRuns()[0]
			return r.GetFile().GetName() == "cut.csv" && r.GetStatus() == ferryv1.RunStatus_RUN_STATUS_FAILED &&
				strings.Contains(r.GetError(), "upload interrupted")
		}, 30*time.Second, 100*time.Millisecond)
	})
	require.Equal(t, before, countRows(t, db, "tenant_default.students"), "no failed file applied anything")

	t.Run("health", func(t *testing.T) {
		requireHTTP(t, "http://"+srv.HTTPAddr+"/healthz", 200)
		requireHTTP(t, "http://"+srv.HTTPAddr+"/readyz", 200)
		body := requireHTTP(t, "http://"+srv.HTTPAddr+"/metrics", 200)
		require.Contains(t, body, "ferry_grpc_calls_total")
		// Profiles only with --pprof.
		requireHTTP(t, "http://"+srv.HTTPAddr+"/debug/pprof/", 404)
	})
}
