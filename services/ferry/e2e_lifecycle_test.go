package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/testkit"
)

// startImport uploads a file without waiting and returns the run id.
func startImport(t *testing.T, addr, key, path string) string {
	out, errOut, code := runCLI(t, addr, key, "import", "students-csv", path)
	require.Zero(t, code, errOut)
	return strings.TrimSpace(out)
}

func (c *client) run(t *testing.T, id string) *ferryv1.Run {
	r, err := c.Runs.GetRun(c.ctx(t), &ferryv1.GetRunRequest{Id: id})
	require.NoError(t, err)
	return r.GetRun()
}

// TestSIGTERMDrainsMidImport stops the server with SIGTERM while a file is
// flowing: it exits cleanly, and after a restart the run finishes with
// every row applied once.
func TestSIGTERMDrainsMidImport(t *testing.T) {
	db := testkit.Database(t, true)
	key := "fy_test-bootstrap-key-0123456789abcdefghij"
	env := []string{"FERRY_BOOTSTRAP_KEY=" + key}
	args := []string{"--database-url", db, "--data-dir", t.TempDir(), "--ingest-chunk-size", "4096", "--ingest-window", "2",
		"--delivery-workers", "1", "--transform-workers", "1", "--ack-wait", "3s"}
	srv := startServer(t, env, args...)
	c := dial(t, srv.GRPCAddr, key)
	applyResources(t, srv.GRPCAddr, key)
	rows := genStudents(30_000, 7)
	runID := startImport(t, srv.GRPCAddr, key, writeCSV(t, rows))
	require.Eventually(t, func() bool { return c.run(t, runID).GetChunksDone() >= 3 }, time.Minute, 20*time.Millisecond)

	srv.stop()
	require.Zero(t, srv.cmd.ProcessState.ExitCode(), "a drained stop exits 0")
	require.Contains(t, srv.log.String(), "ferry stopped")
	srv = startServer(t, env, args...)
	c = dial(t, srv.GRPCAddr, key)
	run := c.waitRun(t, runID, 3*time.Minute)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	requireCounts(t, run, 30_000, 30_000, 0, 0, 0)
	requireSameStudents(t, rows, readStudents(t, db, "tenant_default"))
}

// TestCancelRun cancels a run mid-file: it ends canceled, and nothing of it
// is applied (rows are applied when every chunk is staged).
func TestCancelRun(t *testing.T) {
	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir(), "--ingest-chunk-size", "2048", "--ingest-window", "1",
		"--delivery-workers", "1")
	c := dial(t, srv.GRPCAddr, srv.Key)
	applyResources(t, srv.GRPCAddr, srv.Key)
	runID := startImport(t, srv.GRPCAddr, srv.Key, writeCSV(t, genStudents(20_000, 8)))
	require.Eventually(t, func() bool { return c.run(t, runID).GetChunksDone() >= 1 }, time.Minute, 10*time.Millisecond)

	out, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "runs", "cancel", runID)
	require.Zero(t, code, errOut)
	require.Contains(t, out, "canceled")
	run := c.waitRun(t, runID, time.Minute)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_CANCELED, run.GetStatus())
	require.Eventually(t, func() bool { return strings.Contains(srv.log.String(), "import stopped") }, 30*time.Second, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	require.Zero(t, countRows(t, db, "tenant_default.students"), "a canceled run applies nothing")
	time.Sleep(time.Second)
	require.Zero(t, countRows(t, db, "tenant_default.students"), "nothing arrives after the cancel")

	_, err := c.Runs.CancelRun(c.ctx(t), &ferryv1.CancelRunRequest{Id: runID})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "an ended run cannot be canceled")
	_, _, code = runCLI(t, srv.GRPCAddr, srv.Key, "runs", "watch", runID)
	require.Equal(t, 1, code, "watching a canceled run exits 1")
}

// TestDefinitionsEvolve: profile versions, dataset fields added, changes
// that would lose data refused, health and reflection served.
func TestDefinitionsEvolve(t *testing.T) {
	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir())
	c := dial(t, srv.GRPCAddr, srv.Key)
	applyResources(t, srv.GRPCAddr, srv.Key)

	// A changed profile is a new version; the old one stays readable and a
	// run records the version it used.
	changed := strings.Replace(resources, "  dataset: students\n  mappings:", "  dataset: students\n  csv: {delimiter: \";\"}\n  mappings:", 1)
	path := filepath.Join(t.TempDir(), "v2.yaml")
	require.NoError(t, os.WriteFile(path, []byte(changed), 0o600))
	out, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", path)
	require.Zero(t, code, errOut)
	require.Equal(t, "dataset/students unchanged\nimportprofile/students-csv updated\n", out)
	v1, err := c.IP.GetImportProfile(c.ctx(t), &ferryv1.GetImportProfileRequest{Name: "students-csv", Version: 1})
	require.NoError(t, err)
	require.Equal(t, ",", v1.GetProfile().GetSpec().GetCsv().GetDelimiter())
	cur, err := c.IP.GetImportProfile(c.ctx(t), &ferryv1.GetImportProfileRequest{Name: "students-csv"})
	require.NoError(t, err)
	require.EqualValues(t, 2, cur.GetProfile().GetVersion())
	semi := filepath.Join(t.TempDir(), "semi.csv")
	require.NoError(t, os.WriteFile(semi, []byte(strings.Join(header, ";")+"\n0000001;Ann;;;;;;\n"), 0o600))
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", semi)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.EqualValues(t, 2, run.GetProfileVersion())

	// Fields can be added; types and keys cannot change.
	ds, err := c.DS.AddFields(c.ctx(t), &ferryv1.AddFieldsRequest{Name: "students", Fields: []*ferryv1.Field{{Name: "nickname", Type: ferryv1.FieldType_FIELD_TYPE_STRING}}})
	require.NoError(t, err)
	require.EqualValues(t, 2, ds.GetDataset().GetVersion())
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var nick *string
	require.NoError(t, conn.QueryRow(ctx, `SELECT nickname FROM tenant_default.students WHERE student_id = '0000001'`).Scan(&nick))
	require.Nil(t, nick)
	bad := ds.GetDataset()
	bad.Fields[3].Type = ferryv1.FieldType_FIELD_TYPE_STRING // grade: integer -> string
	_, err = c.DS.ApplyDataset(c.ctx(t), &ferryv1.ApplyDatasetRequest{Dataset: bad})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.Contains(t, err.Error(), `field "grade" cannot change type from integer to string`)
	_, err = c.DS.CreateDataset(c.ctx(t), &ferryv1.CreateDatasetRequest{Dataset: &ferryv1.Dataset{Name: "students", Fields: bad.Fields, Key: bad.Key}})
	require.Equal(t, codes.AlreadyExists, status.Code(err))
	_, err = c.DS.CreateDataset(c.ctx(t), &ferryv1.CreateDatasetRequest{Dataset: &ferryv1.Dataset{Name: "Bad Name", Fields: bad.Fields, Key: bad.Key}})
	require.Equal(t, codes.InvalidArgument, status.Code(err))

	// gRPC health checking and reflection, without a key.
	h, err := healthpb.NewHealthClient(c.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, h.GetStatus())
	rs, err := reflectpb.NewServerReflectionClient(c.conn).ServerReflectionInfo(context.Background())
	require.NoError(t, err)
	require.NoError(t, rs.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}))
	resp, err := rs.Recv()
	require.NoError(t, err)
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	require.Subset(t, names, []string{"ferry.v1.DatasetService", "ferry.v1.ImportProfileService", "ferry.v1.RunService", "ferry.v1.IngestService", "ferry.v1.TenantService", "grpc.health.v1.Health"})
}

// TestLostChunksAreRecovered loses every chunk of a run in flight (the
// chunk stream purged while no transform runs, as a NATS server that lost
// its unsynced tail would): the profile service sees the run make no
// progress, splits its stored file again under new chunk ids, and the run
// ends as if nothing had happened.
func TestLostChunksAreRecovered(t *testing.T) {
	db := testkit.Database(t, true)
	natsAddr := freeAddr(t)
	front := startServer(t, nil, "--services", "profile,ingest,export", "--database-url", db, "--data-dir", t.TempDir(),
		"--nats-listen", natsAddr, "--ingest-chunk-size", "16384", "--run-stall-after", "3s", "--run-stall-redrives", "10")
	c := dial(t, front.GRPCAddr, front.Key)
	applyResources(t, front.GRPCAddr, front.Key)
	rows := genStudents(5000, 11)
	runID := startImport(t, front.GRPCAddr, front.Key, writeCSV(t, rows))

	ctx := context.Background()
	chunks := natsStream(t, natsAddr, bus.StreamChunks)
	require.Eventually(t, func() bool {
		info, err := chunks.Info(ctx)
		return err == nil && info.State.Msgs > 0 && c.run(t, runID).GetChunksTotal() > 0
	}, time.Minute, 20*time.Millisecond)
	require.NoError(t, chunks.Purge(ctx))
	require.Zero(t, c.run(t, runID).GetChunksDone())

	startServer(t, nil, "--services", "transform,delivery", "--database-url", db, "--nats-url", "nats://"+natsAddr)
	run := c.waitRun(t, runID, 2*time.Minute)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	requireCounts(t, run, 5000, 5000, 0, 0, 0)
	requireSameStudents(t, rows, readStudents(t, db, "tenant_default"))
	require.Contains(t, front.log.String(), "stalled run: splitting its stored file again")
}

// TestLostExportMessagesAreRecovered loses every message of an export in
// flight (the export stream purged while no transform or delivery runs):
// the profile service sees the run make no progress and has it read again,
// and the run ends with every row.
func TestLostExportMessagesAreRecovered(t *testing.T) {
	db := testkit.Database(t, true)
	natsAddr := freeAddr(t)
	front := startServer(t, nil, "--services", "profile,ingest,export", "--database-url", db, "--data-dir", t.TempDir(),
		"--nats-listen", natsAddr, "--run-stall-after", "3s", "--run-stall-redrives", "10")
	c := dial(t, front.GRPCAddr, front.Key)
	applyResources(t, front.GRPCAddr, front.Key)
	workers := startServer(t, nil, "--services", "transform,delivery", "--database-url", db, "--nats-url", "nats://"+natsAddr)
	importFile(t, c, front.GRPCAddr, front.Key, "students-csv", writeCSV(t, genStudents(300, 12)))
	workers.stop()

	c.applyExport(t, "lossy", &ferryv1.ExportProfileSpec{Dataset: "students"})
	resp, err := c.Exp.StartExport(c.ctx(t), &ferryv1.StartExportRequest{Name: "lossy"})
	require.NoError(t, err)
	runID := resp.GetRun().GetId()
	ctx := context.Background()
	export := natsStream(t, natsAddr, bus.StreamExport)
	// The read is done when its manifest waits for delivery.
	require.Eventually(t, func() bool {
		info, err := export.Info(ctx, jetstream.WithSubjectFilter(bus.ExportPartsSubject("*", runID)))
		return err == nil && info.State.Msgs > 0
	}, time.Minute, 20*time.Millisecond)
	require.NoError(t, export.Purge(ctx))

	startServer(t, nil, "--services", "transform,delivery", "--database-url", db, "--nats-url", "nats://"+natsAddr)
	run := c.waitRun(t, runID, 2*time.Minute)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Len(t, run.GetOutputs(), 1)
	require.EqualValues(t, 300, run.GetOutputs()[0].GetRows())
	require.Contains(t, front.log.String(), "stalled run: reading the export again")
}

// natsStream connects to the NATS server at addr and returns its stream name.
func natsStream(t *testing.T, addr, name string) jetstream.Stream {
	t.Helper()
	nc, err := nats.Connect("nats://" + addr)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	st, err := js.Stream(context.Background(), name)
	require.NoError(t, err)
	return st
}
