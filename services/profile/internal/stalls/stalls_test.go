package stalls

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/libs/testkit"
)

type env struct {
	pool     *pgxpool.Pool
	js       jetstream.JetStream
	tenant   uuid.UUID
	profile  uuid.UUID // an import profile
	xprofile uuid.UUID // an export profile
	w        *Watchdog
}

func setup(t *testing.T) *env {
	ctx := context.Background()
	pool := storetest.Open(t)
	p := storetest.Tenant(t, pool, "acme")
	_, js := testkit.JetStream(t)
	e := &env{pool: pool, js: js, tenant: p.TenantID, profile: uuid.New(), xprofile: uuid.New(),
		w: New(pool, js, testkit.Log(t), Options{After: time.Minute, Redrives: 2})}
	_, err := pool.Exec(ctx, `INSERT INTO ferry.import_profiles (id, tenant_id, name, current_version) VALUES ($1, $2, 'students', 1)`, e.profile, e.tenant)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO ferry.export_profiles (id, tenant_id, name, current_version) VALUES ($1, $2, 'nightly', 1)`, e.xprofile, e.tenant)
	require.NoError(t, err)
	return e
}

// run inserts a running import run whose file is stored, started an hour
// ago, with total chunks (nil: no manifest yet) of which done are staged.
func (e *env) run(t *testing.T, total *int64, done int64, extra string) string {
	t.Helper()
	id := uuid.New()
	snap, err := proto.Marshal(&ferryv1.RunSnapshot{TenantId: e.tenant.String(), RunId: id.String(), Profile: "students"})
	require.NoError(t, err)
	_, err = e.pool.Exec(context.Background(), `INSERT INTO ferry.runs (id, tenant_id, profile_id, profile_name, profile_version, dataset_name, trigger,
		status, kind, snapshot, file_name, file_size, file_sha256, chunks_total, chunks_done, started_at)
		VALUES ($1, $2, $3, 'students', 1, 'students', 'manual', 'running', 'import', $4, 'f.csv', 10, 'abc', $5, $6, now() - interval '1 hour')`,
		id, e.tenant, e.profile, snap, total, done)
	require.NoError(t, err)
	if extra != "" {
		_, err = e.pool.Exec(context.Background(), `UPDATE ferry.runs SET `+extra+` WHERE id = $1`, id)
		require.NoError(t, err)
	}
	return id.String()
}

// exportRun inserts a running export run created and started an hour ago,
// whose read ended (a manifest an hour old); extra, with the run id as $1,
// then changes it.
func (e *env) exportRun(t *testing.T, extra string) string {
	t.Helper()
	ctx := context.Background()
	id := uuid.New()
	snap, err := proto.Marshal(&ferryv1.ExportSnapshot{TenantId: e.tenant.String(), RunId: id.String(), Profile: "nightly"})
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `INSERT INTO ferry.runs (id, tenant_id, export_profile_id, profile_name, profile_version, dataset_name, trigger,
		status, kind, snapshot, created_at, started_at)
		VALUES ($1, $2, $3, 'nightly', 1, 'students', 'manual', 'running', 'export', $4, now() - interval '1 hour', now() - interval '1 hour')`, id, e.tenant, e.xprofile, snap)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `INSERT INTO ferry.export_manifests (run_id, attempt, manifest, created_at) VALUES ($1, 'a1', '', now() - interval '1 hour')`, id)
	require.NoError(t, err)
	if extra != "" {
		_, err = e.pool.Exec(ctx, extra, id)
		require.NoError(t, err)
	}
	return id.String()
}

// published returns the messages of a stream whose subject starts with
// subjects, by message id.
func (e *env) published(t *testing.T, stream, subjects string) map[string]*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	out := map[string]*jetstream.RawStreamMsg{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		if strings.HasPrefix(m.Subject, subjects) {
			out[m.Header.Get(jetstream.MsgIDHeader)] = m
		}
	}
	return out
}

func ptr(n int64) *int64 { return &n }

// TestCheck: an import that staged nothing for After is split again; one
// whose chunks are all staged has its apply asked for again (approved as it
// was); an export that formatted nothing is read again. Runs with recent
// progress, being applied or assembled, held for approval or delivering,
// or with a message still waiting in a work stream are left alone; a run
// driven again Redrives times fails.
func TestCheck(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	split := e.run(t, ptr(3), 1, "")
	noManifest := e.run(t, nil, 0, "")
	apply := e.run(t, ptr(2), 2, "approved = true")
	recent := e.run(t, ptr(3), 1, "")
	_, err := e.pool.Exec(ctx, `INSERT INTO ferry.run_chunks (run_id, seq, tenant_id, rows_read, rows_inserted, rows_updated, rows_unchanged, rows_rejected, rows_superseded)
		VALUES ($1, 0, $2, 1, 1, 0, 0, 0, 0)`, recent, e.tenant)
	require.NoError(t, err)
	applying := e.run(t, ptr(2), 2, "")
	held := e.run(t, ptr(2), 2, "status = 'awaiting_approval'")
	exhausted := e.run(t, ptr(3), 1, "redrives = 2")
	export := e.exportRun(t, "")
	formatting := e.exportRun(t, `INSERT INTO ferry.export_parts (run_id, attempt, query, range, seq, part) VALUES ($1, 'a1', 0, 0, 0, '')`)
	delivering := e.exportRun(t, `INSERT INTO ferry.deliveries (id, tenant_id, run_id, destination)
		SELECT gen_random_uuid(), tenant_id, id, 'sftp' FROM ferry.runs WHERE id = $1`)
	assembling := e.exportRun(t, "")
	exportExhausted := e.exportRun(t, `UPDATE ferry.runs SET redrives = 2 WHERE id = $1`)
	// Runs with a message still in a work stream wait for a service.
	chunkWaiting := e.run(t, ptr(3), 1, "")
	require.NoError(t, bus.Publish(ctx, e.js, bus.ChunkSubject(e.tenant.String(), chunkWaiting), "c", &ferryv1.Chunk{}))
	commandWaiting := e.exportRun(t, "")
	// An import not split yet whose command waits is queued behind others;
	// one whose split began holds its command while it waits for chunks
	// that are gone.
	notSplit := e.run(t, nil, 0, "")
	splitHolding := e.run(t, ptr(3), 1, "")
	for _, id := range []string{notSplit, splitHolding} {
		require.NoError(t, bus.Publish(ctx, e.js, bus.ImportCommandSubject(e.tenant.String()), "i/"+id,
			&ferryv1.ImportCommand{Run: &ferryv1.RunSnapshot{TenantId: e.tenant.String(), RunId: id}}))
	}
	// A staged import whose apply command waits is queued behind others.
	applyQueued := e.run(t, ptr(2), 2, "")
	require.NoError(t, bus.Publish(ctx, e.js, bus.ApplyCommandSubject(e.tenant.String()), "a/"+applyQueued,
		&ferryv1.ApplyCommand{Run: &ferryv1.RunSnapshot{TenantId: e.tenant.String(), RunId: applyQueued}}))
	require.NoError(t, bus.Publish(ctx, e.js, bus.ExportCommandSubject(e.tenant.String()), "x",
		&ferryv1.ExportCommand{Run: &ferryv1.ExportSnapshot{TenantId: e.tenant.String(), RunId: commandWaiting}}))

	// Delivery applying a run holds its lock for the whole apply.
	conn, err := e.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 1))`, applying)
	require.NoError(t, err)
	// And its assembler holds another while it writes an export's files.
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 2))`, assembling)
	require.NoError(t, err)

	require.NoError(t, e.w.Check(ctx))
	require.NoError(t, e.js.Conn().Flush())
	imports := e.published(t, bus.StreamCommands, "ferry.cmd.import.")
	require.Len(t, imports, 5, "three redrives and the two commands that were waiting")
	require.Contains(t, imports, "import/"+splitHolding+"/redrive/1")
	var cmd ferryv1.ImportCommand
	require.NoError(t, proto.Unmarshal(imports["import/"+split+"/redrive/1"].Data, &cmd))
	require.Equal(t, split, cmd.GetObject())
	require.EqualValues(t, 1, cmd.GetRedrive())
	require.False(t, cmd.GetReportFile(), "its manifest is known")
	require.NoError(t, proto.Unmarshal(imports["import/"+noManifest+"/redrive/1"].Data, &cmd))
	require.True(t, cmd.GetReportFile(), "ingest reports the manifest nobody recorded")

	applies := e.published(t, bus.StreamCommands, "ferry.cmd.apply.")
	require.Len(t, applies, 2, "the redrive and the command that was waiting")
	var ac ferryv1.ApplyCommand
	require.NoError(t, proto.Unmarshal(applies["apply/"+apply+"/redrive/1"].Data, &ac))
	require.True(t, ac.GetApproved())

	// The export is read again, as a new attempt: its manifest is gone.
	exports := e.published(t, bus.StreamCommands, "ferry.cmd.export.")
	require.Len(t, exports, 2, "the redrive and the command that was waiting")
	var xc ferryv1.ExportCommand
	require.NoError(t, proto.Unmarshal(exports["export/"+export+"/redrive/1"].Data, &xc))
	require.Equal(t, export, xc.GetRun().GetRunId())
	var manifests int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM ferry.export_manifests WHERE run_id = $1`, export).Scan(&manifests))
	require.Zero(t, manifests)

	failed := e.published(t, bus.StreamProgress, "ferry.progress.")
	require.Len(t, failed, 2)
	var p ferryv1.Progress
	require.NoError(t, proto.Unmarshal(failed["failed/"+exhausted].Data, &p))
	require.Contains(t, p.GetFailed().GetReason(), "no progress for 1m0s after being driven again 2 times (1 chunks of 3 staged)")
	require.NoError(t, proto.Unmarshal(failed["failed/"+exportExhausted].Data, &p))
	require.Contains(t, p.GetFailed().GetReason(), "no progress for 1m0s after being read again 2 times")

	// A second check within After drives nothing again.
	require.NoError(t, e.w.Check(ctx))
	require.Len(t, e.published(t, bus.StreamCommands, "ferry.cmd."), 9)
	var redrives int
	for _, id := range []string{recent, applying, held, formatting, delivering, assembling, chunkWaiting, commandWaiting, notSplit, applyQueued} {
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT redrives FROM ferry.runs WHERE id = $1`, id).Scan(&redrives))
		require.Zero(t, redrives, "run %s was left alone", id)
	}
}
