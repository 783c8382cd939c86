// Package scheduler fires the schedules of active import and export
// profiles: one run per scheduled instant however many profile replicas run
// a scheduler, and after downtime the last missed instant once (or none).
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/schedule"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// Bus is what the scheduler needs of the bus.
type Bus interface {
	// StartExport asks the export service to run an export; publishing the
	// same run twice is harmless (the run id is the message id).
	StartExport(ctx context.Context, snap *ferryv1.ExportSnapshot) error
}

// Runs is what the scheduler needs of the store.
type Runs interface {
	CreateExportRunClaimed(ctx context.Context, p auth.Principal, name string, trigger ferryv1.RunTrigger, claim store.Claim) (*ferryv1.Run, *ferryv1.ExportSnapshot, error)
}

// Options tune a scheduler.
type Options struct {
	// Tick is how often schedules are looked at; 1s.
	Tick time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Republish is how long a fired run may stay queued without its command
	// published before a scheduler publishes it again; 5s.
	Republish time.Duration
	// Reload is how often Run reads the scheduled profiles again although
	// no change of a profile was announced; 1m. Between reads the profiles
	// are kept in memory, so a tick costs the database nothing but the
	// instants that are due.
	Reload time.Duration
}

// Scheduler fires schedules.
type Scheduler struct {
	pool *pgxpool.Pool
	runs Runs
	bus  Bus
	log  *slog.Logger
	opts Options

	// The scheduled profiles as last read. Tick reads them again unless
	// Run is listening for profile changes (listening), none was announced
	// since (stale), and Reload has not passed.
	mu        sync.Mutex
	cache     []*scheduled
	loadedAt  time.Time
	listening atomic.Bool
	stale     atomic.Bool
	loads     atomic.Int64 // reads of the profiles, for tests
}

// New returns a scheduler; Run starts it.
func New(pool *pgxpool.Pool, runs Runs, bus Bus, log *slog.Logger, o Options) *Scheduler {
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Republish <= 0 {
		o.Republish = 5 * time.Second
	}
	if o.Reload <= 0 {
		o.Reload = time.Minute
	}
	return &Scheduler{pool: pool, runs: runs, bus: bus, log: log, opts: o}
}

// Run fires schedules every tick until ctx ends, and listens for changes
// of profiles so that ticks need not read them.
func (s *Scheduler) Run(ctx context.Context) error {
	listenCtx, stop := context.WithCancel(ctx)
	listened := make(chan struct{})
	go func() {
		defer close(listened)
		s.listen(listenCtx)
	}()
	defer func() {
		stop()
		<-listened
	}()
	t := time.NewTicker(s.opts.Tick)
	defer t.Stop()
	var last string
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			if err.Error() != last {
				s.log.Warn("scheduler tick", "err", err)
			}
			last = err.Error()
		} else {
			last = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// listen marks the cached profiles stale whenever a profile changes, until
// ctx ends. While it is not listening (not yet, or its connection was
// lost) every tick reads the profiles.
func (s *Scheduler) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		s.listening.Store(false)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("scheduler stopped listening for profile changes; it reads profiles every tick until it listens again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(s.opts.Tick):
		}
	}
}

func (s *Scheduler) listenOnce(ctx context.Context) error {
	// A connection of its own, outside the pool: it listens for as long as
	// the scheduler runs.
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+store.ProfilesChannel); err != nil {
		return err
	}
	// A change committed before LISTEN took effect is read by the next
	// tick: the cache is stale from the moment listening starts.
	s.stale.Store(true)
	s.listening.Store(true)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.stale.Store(true)
	}
}

// profiles returns the scheduled profiles: those in memory, or read again
// when they may have changed.
func (s *Scheduler) profiles(ctx context.Context) ([]*scheduled, error) {
	if !s.loadedAt.IsZero() && s.listening.Load() && !s.stale.Load() && time.Since(s.loadedAt) < s.opts.Reload {
		return s.cache, nil
	}
	// Cleared before reading: a change announced while reading marks the
	// result stale again.
	s.stale.Store(false)
	loadedAt := time.Now()
	ps, err := s.load(ctx)
	if err != nil {
		s.stale.Store(true)
		return nil, err
	}
	s.loads.Add(1)
	s.cache, s.loadedAt = ps, loadedAt
	return ps, nil
}

// grace is how late an instant may fire under CATCH_UP_NONE: a tick or two
// of delay is not downtime.
func (s *Scheduler) grace() time.Duration { return 2 * s.opts.Tick }

// scheduled is the current version of a profile with a schedule.
type scheduled struct {
	kind      string // "export" or "import"
	id        uuid.UUID
	principal auth.Principal
	name      string
	version   int64
	created   time.Time // of the version
	last      *time.Time
	status    ferryv1.ProfileStatus
	triggers  *ferryv1.Triggers
	sftp      bool
	spec      *schedule.Spec // parsed from triggers; nil when it does not parse
}

// Tick fires every schedule that is due now, then publishes again the
// commands of fired runs that are still queued unpublished.
//
// The instant a profile last fired is kept in memory between reads of the
// profiles; before firing, the last instants of the profiles that look due
// are read again (one query), so that an instant another scheduler fired is
// not tried a second time.
func (s *Scheduler) Tick(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	profiles, err := s.profiles(ctx)
	if err != nil {
		return err
	}
	now := s.opts.Now()
	due := s.due(profiles, now)
	if len(due) > 0 && s.loadedAt.Before(time.Now().Add(-s.opts.Tick)) {
		if err := s.refreshLast(ctx, due); err != nil {
			return err
		}
		due = s.due(due.profiles(), now)
	}
	var errsOut []error
	for _, d := range due {
		if err := s.fire(ctx, *d.p, d.instant); err != nil {
			errsOut = append(errsOut, err)
			continue
		}
		d.p.last = &d.instant
	}
	if err := s.republish(ctx); err != nil {
		errsOut = append(errsOut, err)
	}
	return errors.Join(errsOut...)
}

// lastOrCreated is when the profile last fired, or when its version was
// created if that is later.
func (p *scheduled) lastOrCreated() time.Time {
	if p.last != nil && p.last.After(p.created) {
		return *p.last
	}
	return p.created
}

// dueProfile is a profile with an instant due.
type dueProfile struct {
	p       *scheduled
	instant time.Time
}

// dueList is the profiles with an instant due.
type dueList []dueProfile

func (l dueList) profiles() []*scheduled {
	out := make([]*scheduled, len(l))
	for i, d := range l {
		out[i] = d.p
	}
	return out
}

// due returns the profiles with an instant due at now. Drafts never fire; a
// schedule that does not parse was refused at apply, and one stored before
// that rule is skipped.
func (s *Scheduler) due(profiles []*scheduled, now time.Time) dueList {
	var out dueList
	for _, p := range profiles {
		if p.status != ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE || p.spec == nil {
			continue
		}
		if instant, fire := p.spec.Due(p.lastOrCreated(), now, s.grace()); fire {
			out = append(out, dueProfile{p, instant})
		}
	}
	return out
}

// refreshLast reads the last fired instant of each profile of due.
func (s *Scheduler) refreshLast(ctx context.Context, due dueList) error {
	kinds := make([]string, len(due))
	ids := make([]uuid.UUID, len(due))
	for i, d := range due {
		kinds[i], ids[i] = d.p.kind, d.p.id
	}
	rows, err := s.pool.Query(ctx, `SELECT u.i, (SELECT max(f.instant) FROM ferry.schedule_fires f WHERE f.profile_kind = u.kind AND f.profile_id = u.id)
		FROM unnest($1::text[], $2::uuid[]) WITH ORDINALITY AS u (kind, id, i)`, kinds, ids)
	if err != nil {
		return fmt.Errorf("read last fired instants: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			i    int
			last *time.Time
		)
		if err := rows.Scan(&i, &last); err != nil {
			return fmt.Errorf("read last fired instants: %w", err)
		}
		due[i-1].p.last = last
	}
	return rows.Err()
}

// load reads the current version of every profile with a schedule, and the
// last instant it fired.
func (s *Scheduler) load(ctx context.Context) ([]*scheduled, error) {
	const q = `SELECT %[1]s, p.id, p.tenant_id, t.name, t.schema_name, p.name, v.version, v.created_at, v.spec::text,
			(SELECT max(f.instant) FROM ferry.schedule_fires f WHERE f.profile_kind = %[1]s AND f.profile_id = p.id)
		FROM %[2]s p JOIN %[3]s v ON v.profile_id = p.id AND v.version = p.current_version
		JOIN ferry.tenants t ON t.id = p.tenant_id
		WHERE v.spec -> 'triggers' -> 'schedule' IS NOT NULL`
	rows, err := s.pool.Query(ctx, fmt.Sprintf(q, "'export'", "ferry.export_profiles", "ferry.export_profile_versions")+
		" UNION ALL "+fmt.Sprintf(q, "'import'", "ferry.import_profiles", "ferry.import_profile_versions"))
	if err != nil {
		return nil, fmt.Errorf("list scheduled profiles: %w", err)
	}
	defer rows.Close()
	var out []*scheduled
	for rows.Next() {
		var (
			p    scheduled
			spec string
		)
		if err := rows.Scan(&p.kind, &p.id, &p.principal.TenantID, &p.principal.TenantName, &p.principal.Schema, &p.name,
			&p.version, &p.created, &spec, &p.last); err != nil {
			return nil, fmt.Errorf("list scheduled profiles: %w", err)
		}
		un := protojson.UnmarshalOptions{DiscardUnknown: true}
		if p.kind == "export" {
			var es ferryv1.ExportProfileSpec
			if err := un.Unmarshal([]byte(spec), &es); err != nil {
				s.log.Warn("scheduled export profile does not decode", "tenant", p.principal.TenantID, "profile", p.name, "err", err)
				continue
			}
			p.status, p.triggers = es.GetStatus(), es.GetTriggers()
		} else {
			var is ferryv1.ImportProfileSpec
			if err := un.Unmarshal([]byte(spec), &is); err != nil {
				s.log.Warn("scheduled import profile does not decode", "tenant", p.principal.TenantID, "profile", p.name, "err", err)
				continue
			}
			p.status, p.triggers, p.sftp = is.GetStatus(), is.GetTriggers(), is.GetSftpSource() != nil
		}
		if sp, err := schedule.Parse(p.triggers.GetSchedule()); err == nil {
			p.spec = sp
		}
		out = append(out, &p)
	}
	return out, rows.Err()
}

// errTaken says another scheduler fired the instant.
var errTaken = errors.New("instant fired already")

// claim records the instant as fired; errTaken when it was already.
func claim(ctx context.Context, tx pgx.Tx, p scheduled, instant time.Time, runID *uuid.UUID, version int64, why string) error {
	tag, err := tx.Exec(ctx, `INSERT INTO ferry.schedule_fires (profile_kind, profile_id, instant, tenant_id, profile_version, run_id, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, p.kind, p.id, instant, p.principal.TenantID, version, runID, why)
	if err != nil {
		return fmt.Errorf("claim %s profile %s at %s: %w", p.kind, p.name, instant.Format(time.RFC3339), err)
	}
	if tag.RowsAffected() == 0 {
		return errTaken
	}
	return nil
}

// fire runs a profile for one instant, unless another scheduler did.
func (s *Scheduler) fire(ctx context.Context, p scheduled, instant time.Time) error {
	// A scheduled run's trace starts here; the run keeps its context.
	ctx, span := telemetry.Tracer().Start(ctx, "run "+p.name, trace.WithNewRoot(),
		trace.WithAttributes(attribute.String("ferry.profile", p.name), attribute.String("ferry.trigger", "schedule")))
	defer span.End()
	log := s.log.With("tenant", p.principal.TenantID, "profile", p.name, "kind", p.kind, "instant", instant)
	if p.kind == "import" {
		return s.firePoll(ctx, p, instant, log)
	}
	run, snap, err := s.runs.CreateExportRunClaimed(ctx, p.principal, p.name, ferryv1.RunTrigger_RUN_TRIGGER_SCHEDULE,
		func(ctx context.Context, tx pgx.Tx, runID uuid.UUID, version int64) error {
			return claim(ctx, tx, p, instant, &runID, version, "")
		})
	switch {
	case errors.Is(err, errTaken):
		return nil
	case errs.Is(err, errs.KindFailedPrecondition), errs.Is(err, errs.KindNotFound):
		// The profile cannot run (invalid, or made a draft a moment ago):
		// the instant passes, with the reason kept.
		if cerr := s.skip(ctx, p, instant, err.Error()); cerr != nil {
			return cerr
		}
		log.Warn("scheduled run not started", "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("scheduled run of %s at %s: %w", p.name, instant.Format(time.RFC3339), err)
	}
	log.Info("scheduled run started", "run", run.GetId())
	s.publish(ctx, p.kind, p.id, instant, snap, log)
	return nil
}

// skip records an instant at which the profile could not run.
func (s *Scheduler) skip(ctx context.Context, p scheduled, instant time.Time, why string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return claim(ctx, tx, p, instant, nil, p.version, why)
	})
	if errors.Is(err, errTaken) {
		return nil
	}
	return err
}

// firePoll asks the import profile's SFTP source to poll now.
func (s *Scheduler) firePoll(ctx context.Context, p scheduled, instant time.Time, log *slog.Logger) error {
	if !p.sftp {
		if err := s.skip(ctx, p, instant, "the import profile has no SFTP source to poll"); err != nil {
			return err
		}
		log.Warn("scheduled poll not requested: the import profile has no sftp source")
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := claim(ctx, tx, p, instant, nil, p.version, ""); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO ferry.sftp_sources AS s (profile_id, tenant_id, poll_requested_at) VALUES ($1, $2, now())
			ON CONFLICT (profile_id) DO UPDATE SET poll_requested_at = now(), updated_at = now()`, p.id, p.principal.TenantID)
		return err
	})
	switch {
	case errors.Is(err, errTaken):
		return nil
	case err != nil:
		return fmt.Errorf("scheduled poll of %s at %s: %w", p.name, instant.Format(time.RFC3339), err)
	}
	log.Info("scheduled poll requested")
	return nil
}

// publish sends a fired run's export command and marks it sent; when it
// fails, republish sends it later.
func (s *Scheduler) publish(ctx context.Context, kind string, id uuid.UUID, instant time.Time, snap *ferryv1.ExportSnapshot, log *slog.Logger) {
	if err := s.bus.StartExport(ctx, snap); err != nil {
		log.Warn("scheduled run not queued yet; it is published again later", "run", snap.GetRunId(), "err", err)
		return
	}
	if _, err := s.pool.Exec(ctx, `UPDATE ferry.schedule_fires SET published_at = now()
		WHERE profile_kind = $1 AND profile_id = $2 AND instant = $3`, kind, id, instant); err != nil {
		log.Warn("scheduled run published, not marked so", "run", snap.GetRunId(), "err", err)
	}
}

// republish publishes the commands of fired runs still queued without one:
// the scheduler that created them stopped (or NATS failed) between commit
// and publish.
func (s *Scheduler) republish(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT f.profile_kind, f.profile_id, f.instant, r.tenant_id, r.profile_name, r.snapshot
		FROM ferry.schedule_fires f JOIN ferry.runs r ON r.id = f.run_id
		WHERE f.run_id IS NOT NULL AND f.published_at IS NULL AND f.created_at < now() - make_interval(secs => $1)
			AND r.status = 'queued'
		ORDER BY f.created_at LIMIT 100`, s.opts.Republish.Seconds())
	if err != nil {
		return fmt.Errorf("list unpublished scheduled runs: %w", err)
	}
	type pending struct {
		kind    string
		id      uuid.UUID
		instant time.Time
		tenant  uuid.UUID
		profile string
		blob    []byte
	}
	var todo []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.kind, &p.id, &p.instant, &p.tenant, &p.profile, &p.blob); err != nil {
			rows.Close()
			return fmt.Errorf("list unpublished scheduled runs: %w", err)
		}
		todo = append(todo, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list unpublished scheduled runs: %w", err)
	}
	for _, p := range todo {
		var snap ferryv1.ExportSnapshot
		if err := proto.Unmarshal(p.blob, &snap); err != nil {
			s.log.Error("scheduled run snapshot does not decode", "tenant", p.tenant, "profile", p.profile, "err", err)
			continue
		}
		s.publish(ctx, p.kind, p.id, p.instant, &snap, s.log.With("tenant", p.tenant, "profile", p.profile, "instant", p.instant))
	}
	return nil
}
