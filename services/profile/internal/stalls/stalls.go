// Package stalls finds import runs that stopped making progress — a
// JetStream message of theirs was lost (a chunk, a record batch, the import
// or apply command) — and drives them again: the run's stored file is split
// again under new chunk message ids (delivery's ledger drops the chunks
// that were staged already), or its apply is asked for again. After a few
// times without progress the run fails, saying so, instead of waiting for
// ever.
package stalls

import (
	"context"
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
	// After is how long an import run may go without a chunk staged (or,
	// once every chunk is staged, without being applied) before it is
	// driven again; DefaultAfter when 0.
	After time.Duration
	// Redrives is how many times a run is driven again before it fails;
	// DefaultRedrives when 0.
	Redrives int
}

// Watchdog drives stalled import runs again.
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
	snapshot    []byte
	redrives    int // including this one
	chunksDone  int64
	chunksTotal *int64
	staged      bool // every chunk is staged: the apply is missing
	approved    bool // a person approved the run held by the mirror guard
}

// Check drives again, or fails, every import run that made no progress for
// After. A run is claimed (its redrive counted) in the same statement that
// finds it, so that several profile replicas drive it once.
func (w *Watchdog) Check(ctx context.Context) error {
	// Progress is the run's start, its last staged chunk and its last
	// redrive; a run whose apply is running (delivery holds the run's
	// advisory lock, key hashtextextended(id, 1), for the whole apply) is
	// making progress however long it takes. Only runs whose file is
	// stored can be split again.
	rows, err := w.pool.Query(ctx, `UPDATE ferry.runs r SET redrives = r.redrives + 1, redriven_at = now()
		FROM (SELECT s.id FROM ferry.runs s
			WHERE s.status = 'running' AND s.kind = 'import' AND s.file_sha256 <> ''
				AND greatest(s.started_at, s.redriven_at, (SELECT max(c.applied_at) FROM ferry.run_chunks c WHERE c.run_id = s.id))
					< now() - make_interval(secs => $1)
				AND NOT EXISTS (SELECT 1 FROM pg_locks l, (SELECT hashtextextended(s.id::text, 1) AS k) h
					WHERE l.locktype = 'advisory' AND l.granted AND l.mode = 'ExclusiveLock' AND l.objsubid = 1
						AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
						AND l.classid = ((h.k >> 32) & 4294967295)::oid AND l.objid = (h.k & 4294967295)::oid)
			ORDER BY s.seq LIMIT 100 FOR UPDATE SKIP LOCKED) due
		WHERE r.id = due.id
		RETURNING r.id::text, r.tenant_id::text, r.snapshot, r.redrives, r.chunks_done, r.chunks_total, r.approved`, w.opts.After.Seconds())
	if err != nil {
		return fmt.Errorf("find stalled runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (stalled, error) {
		var s stalled
		err := row.Scan(&s.id, &s.tenant, &s.snapshot, &s.redrives, &s.chunksDone, &s.chunksTotal, &s.approved)
		s.staged = s.chunksTotal != nil && s.chunksDone >= *s.chunksTotal
		return s, err
	})
	if err != nil {
		return fmt.Errorf("find stalled runs: %w", err)
	}
	for _, s := range runs {
		if err := w.drive(ctx, s); err != nil {
			// Claimed but not driven: the next check after After tries again.
			w.log.Warn("stalled run not driven again", "tenant", s.tenant, "run", s.id, "err", err)
		}
	}
	return nil
}

// drive splits a stalled run's file again or asks for its apply again; after
// Redrives times it fails the run.
func (w *Watchdog) drive(ctx context.Context, s stalled) error {
	var snap ferryv1.RunSnapshot
	if err := proto.Unmarshal(s.snapshot, &snap); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	total := "not yet counted"
	if s.chunksTotal != nil {
		total = fmt.Sprint(*s.chunksTotal)
	}
	log := w.log.With("tenant", s.tenant, "run", s.id, "chunks_staged", s.chunksDone, "chunks", total, "redrive", s.redrives)
	if s.redrives > w.opts.Redrives {
		reason := fmt.Sprintf("no progress for %s after being driven again %d times (%d chunks of %s staged): a message was lost or a service is not running; import the file again",
			w.opts.After, w.opts.Redrives, s.chunksDone, total)
		log.Error("stalled run failed", "reason", reason)
		return bus.PublishFailed(ctx, w.js, snap.GetTenantId(), snap.GetRunId(), reason)
	}
	id := fmt.Sprintf("%s/redrive/%d", snap.GetRunId(), s.redrives)
	if s.staged {
		log.Warn("stalled run: every chunk is staged but the run was not applied; asking for its apply again")
		return bus.Publish(ctx, w.js, bus.ApplyCommandSubject(snap.GetTenantId()), "apply/"+id, &ferryv1.ApplyCommand{Run: &snap, Approved: s.approved})
	}
	log.Warn("stalled run: splitting its stored file again")
	return bus.Publish(ctx, w.js, bus.ImportCommandSubject(snap.GetTenantId()), "import/"+id,
		&ferryv1.ImportCommand{Run: &snap, Object: snap.GetRunId(), ReportFile: s.chunksTotal == nil, Redrive: int32(s.redrives)})
}
