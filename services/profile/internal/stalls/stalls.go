// Package stalls finds runs that stopped making progress — a JetStream
// message of theirs was lost (a chunk, a record batch, an export batch or
// part, a command) — and drives them again: an import's stored file is
// split again under new chunk message ids (delivery's ledger drops the
// chunks that were staged already), or its apply is asked for again; an
// export is read again, as a new attempt. After a few times without
// progress the run fails, saying so, instead of waiting for ever.
package stalls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
)

// Defaults of Options.
const (
	DefaultAfter    = 10 * time.Minute
	DefaultRedrives = 3
)

// Options tune a Watchdog.
type Options struct {
	// After is how long a run may go without progress — an import without
	// a chunk staged (or, every chunk staged, without being applied), an
	// export without a part formatted — before it is driven again;
	// DefaultAfter when 0.
	After time.Duration
	// Redrives is how many times a run is driven again before it fails;
	// DefaultRedrives when 0.
	Redrives int
}

// Watchdog drives stalled runs again.
type Watchdog struct {
	pool *pgxpool.Pool
	js   jetstream.JetStream
	log  *slog.Logger
	opts Options
}

// New returns a watchdog; Run starts it.
func New(pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger, o Options) *Watchdog {
	if o.After <= 0 {
		o.After = DefaultAfter
	}
	if o.Redrives <= 0 {
		o.Redrives = DefaultRedrives
	}
	return &Watchdog{pool: pool, js: js, log: log, opts: o}
}

// Run checks for stalled runs every quarter of After until ctx ends.
func (w *Watchdog) Run(ctx context.Context) error {
	t := time.NewTicker(max(w.opts.After/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		if err := w.Check(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("looking for stalled runs failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// stalled is a run that made no progress for After.
type stalled struct {
	id, tenant  string
	export      bool
	snapshot    []byte
	redrives    int // including this one
	chunksDone  int64
	chunksTotal *int64
	staged      bool // every chunk is staged: the apply is missing
	approved    bool // a person approved the run held by the mirror guard
}

// notLocked is a condition on a run s: nobody holds the exclusive advisory
// lock hashtextextended(s.id, key). Delivery holds key 1 for the whole
// apply of an import and key 2 while it assembles an export: however long
// those take, the run is making progress.
func notLocked(key int) string {
	return fmt.Sprintf(`NOT EXISTS (SELECT 1 FROM pg_locks l, (SELECT hashtextextended(s.id::text, %d) AS k) h
		WHERE l.locktype = 'advisory' AND l.granted AND l.mode = 'ExclusiveLock' AND l.objsubid = 1
			AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND l.classid = ((h.k >> 32) & 4294967295)::oid AND l.objid = (h.k & 4294967295)::oid)`, key)
}

// claim counts a redrive of the runs named, unless another replica drove
// them within After, and returns them.
const claim = `UPDATE ferry.runs r SET redrives = r.redrives + 1, redriven_at = now()
	WHERE r.id = ANY($1::uuid[]) AND (r.redriven_at IS NULL OR r.redriven_at < now() - make_interval(secs => $2))
	RETURNING r.id::text, r.tenant_id::text, r.kind = 'export', r.snapshot, r.redrives, r.chunks_done, r.chunks_total, r.approved`

// Check drives again, or fails, every run that made no progress for After
// and none of whose messages is waiting in a work stream: a run whose chunk,
// batch, part or command is still in a stream is waiting for a busy or
// stopped service, which will get to it, and driving it again would only
// add to the queue.
func (w *Watchdog) Check(ctx context.Context) error {
	after := w.opts.After.Seconds()
	// An import's progress is its start, its last staged chunk and its last
	// redrive. Only runs whose file is stored can be split again.
	imports := `SELECT s.id::text, (s.chunks_done > 0 OR s.chunks_total IS NOT NULL) AND NOT coalesce(s.chunks_done >= s.chunks_total, false)
		FROM ferry.runs s
		WHERE s.status = 'running' AND s.kind = 'import' AND s.file_sha256 <> ''
			AND greatest(s.started_at, s.redriven_at, (SELECT max(c.applied_at) FROM ferry.run_chunks c WHERE c.run_id = s.id))
				< now() - make_interval(secs => $1)
			AND ` + notLocked(1) + ` ORDER BY s.seq LIMIT 1000`
	// An export's progress is its creation, start, last formatted part,
	// manifest and last redrive; once it delivers, its deliveries keep
	// their own schedule of attempts.
	exports := `SELECT s.id::text, false FROM ferry.runs s
		WHERE s.status IN ('queued', 'running') AND s.kind = 'export' AND length(s.snapshot) > 0
			AND NOT EXISTS (SELECT 1 FROM ferry.deliveries d WHERE d.run_id = s.id)
			AND greatest(s.created_at, s.started_at, s.redriven_at,
				(SELECT max(p.recorded_at) FROM ferry.export_parts p WHERE p.run_id = s.id),
				(SELECT m.created_at FROM ferry.export_manifests m WHERE m.run_id = s.id)) < now() - make_interval(secs => $1)
			AND ` + notLocked(2) + ` ORDER BY s.seq LIMIT 1000`
	// splitting says an import's split began (a chunk is staged or the
	// chunks are counted) and has not staged every chunk.
	type candidate struct {
		id        string
		splitting bool
	}
	var candidates []candidate
	for _, q := range []string{imports, exports} {
		rows, err := w.pool.Query(ctx, q, after)
		if err != nil {
			return fmt.Errorf("find stalled runs: %w", err)
		}
		found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (candidate, error) {
			var c candidate
			return c, row.Scan(&c.id, &c.splitting)
		})
		if err != nil {
			return fmt.Errorf("find stalled runs: %w", err)
		}
		candidates = append(candidates, found...)
	}
	if len(candidates) == 0 {
		return nil
	}
	work, commands, err := w.inFlight(ctx)
	if err != nil {
		return fmt.Errorf("look for the runs' messages: %w", err)
	}
	var lost []string
	for _, c := range candidates {
		// A command still in the stream waits for a busy service, except
		// the import command of a split under way: the split may be
		// waiting for chunks that were lost, and holds its command.
		if !work[c.id] && (!commands[c.id] || c.splitting) {
			lost = append(lost, c.id)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	rows, err := w.pool.Query(ctx, claim, lost, after)
	if err != nil {
		return fmt.Errorf("claim stalled runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (stalled, error) {
		var s stalled
		err := row.Scan(&s.id, &s.tenant, &s.export, &s.snapshot, &s.redrives, &s.chunksDone, &s.chunksTotal, &s.approved)
		s.staged = s.chunksTotal != nil && s.chunksDone >= *s.chunksTotal
		return s, err
	})
	if err != nil {
		return fmt.Errorf("claim stalled runs: %w", err)
	}
	for _, s := range runs {
		var err error
		switch {
		case s.redrives > w.opts.Redrives:
			err = w.fail(ctx, s)
		case s.export:
			err = w.driveExport(ctx, s)
		default:
			err = w.driveImport(ctx, s)
		}
		if err != nil {
			// Claimed but not driven: the next check after After tries again.
			w.log.Warn("stalled run not driven again", "tenant", s.tenant, "run", s.id, "err", err)
		}
	}
	return nil
}

// maxScan bounds the command messages read to find their runs; with more
// waiting, every run counts as waiting (the services are busy).
const maxScan = 10_000

// errBusy says too many commands wait to tell which runs they are for.
var errBusy = errors.New("too many commands waiting")

// inFlight returns the runs that have a message in a work stream: a chunk
// or record batch, an export batch or part (work: their subjects end in the
// run), or a command (its Ferry-Run header names the run). Work streams
// hold a message until it is acknowledged, so such a run is waiting for
// that message to be handled.
func (w *Watchdog) inFlight(ctx context.Context) (work, commands map[string]bool, err error) {
	work, commands = map[string]bool{}, map[string]bool{}
	for _, name := range []string{bus.StreamChunks, bus.StreamRecords, bus.StreamExport} {
		st, err := w.js.Stream(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(">"))
		if err != nil {
			return nil, nil, err
		}
		for subject := range info.State.Subjects {
			if _, run, ok := bus.RunOfSubject(subject); ok {
				work[run] = true
			}
		}
	}
	st, err := w.js.Stream(ctx, bus.StreamCommands)
	if err != nil {
		return nil, nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, nil, err
	}
	if info.State.Msgs > maxScan {
		return nil, nil, errBusy
	}
	// Each read returns the first message at or after seq, skipping those
	// acknowledged already.
	for seq, n := info.State.FirstSeq, 0; info.State.Msgs > 0 && seq <= info.State.LastSeq; n++ {
		if n >= maxScan {
			return nil, nil, errBusy
		}
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(">"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if run := m.Header.Get(bus.HeaderRun); run != "" {
			commands[run] = true
		}
		seq = m.Sequence + 1
	}
	return work, commands, nil
}

// total is how many chunks the run has, as a message says it.
func (s stalled) total() string {
	if s.chunksTotal == nil {
		return "not yet counted"
	}
	return fmt.Sprint(*s.chunksTotal)
}

// fail fails a run that was driven again Redrives times without progress.
func (w *Watchdog) fail(ctx context.Context, s stalled) error {
	reason := fmt.Sprintf("no progress for %s after being driven again %d times (%d chunks of %s staged): a message was lost; import the file again",
		w.opts.After, w.opts.Redrives, s.chunksDone, s.total())
	if s.export {
		reason = fmt.Sprintf("no progress for %s after being read again %d times: a message was lost; run the export again", w.opts.After, w.opts.Redrives)
	}
	w.log.Error("stalled run failed", "tenant", s.tenant, "run", s.id, "reason", reason)
	return bus.PublishFailed(ctx, w.js, s.tenant, s.id, reason)
}

// driveImport splits a stalled import's file again or asks for its apply
// again.
func (w *Watchdog) driveImport(ctx context.Context, s stalled) error {
	var snap ferryv1.RunSnapshot
	if err := proto.Unmarshal(s.snapshot, &snap); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	log := w.log.With("tenant", s.tenant, "run", s.id, "chunks_staged", s.chunksDone, "chunks", s.total(), "redrive", s.redrives)
	id := fmt.Sprintf("%s/redrive/%d", snap.GetRunId(), s.redrives)
	if s.staged {
		log.Warn("stalled run: every chunk is staged but the run was not applied; asking for its apply again")
		return bus.Publish(ctx, w.js, bus.ApplyCommandSubject(snap.GetTenantId()), "apply/"+id, &ferryv1.ApplyCommand{Run: &snap, Approved: s.approved})
	}
	log.Warn("stalled run: splitting its stored file again")
	return bus.Publish(ctx, w.js, bus.ImportCommandSubject(snap.GetTenantId()), "import/"+id,
		&ferryv1.ImportCommand{Run: &snap, Object: snap.GetRunId(), ReportFile: s.chunksTotal == nil, Redrive: int32(s.redrives)})
}

// driveExport reads a stalled export again, as a new attempt: its manifest
// is dropped (so that the export service reads again rather than find the
// read done, and assembly waits for the new attempt's parts) and its
// command published again.
func (w *Watchdog) driveExport(ctx context.Context, s stalled) error {
	var snap ferryv1.ExportSnapshot
	if err := proto.Unmarshal(s.snapshot, &snap); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	log := w.log.With("tenant", s.tenant, "run", s.id, "redrive", s.redrives)
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		// The assembler's lock: a run being assembled keeps its manifest.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 2))`, s.id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM ferry.export_manifests m USING ferry.runs r
			WHERE m.run_id = $1 AND r.id = m.run_id AND r.status IN ('queued', 'running')`, s.id)
		return err
	})
	if err != nil {
		return fmt.Errorf("drop the manifest: %w", err)
	}
	log.Warn("stalled run: reading the export again")
	return bus.Publish(ctx, w.js, bus.ExportCommandSubject(snap.GetTenantId()), fmt.Sprintf("export/%s/redrive/%d", snap.GetRunId(), s.redrives),
		&ferryv1.ExportCommand{Run: &snap})
}
