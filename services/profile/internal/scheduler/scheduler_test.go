package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/libs/testkit"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// bus records the export commands published.
type bus struct {
	mu   sync.Mutex
	runs []string
	fail bool
}

func (b *bus) StartExport(_ context.Context, snap *ferryv1.ExportSnapshot) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail {
		return context.DeadlineExceeded
	}
	b.runs = append(b.runs, snap.GetRunId())
	return nil
}

func (b *bus) published() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.runs...)
}

type env struct {
	pool  *pgxpool.Pool
	store *store.Store
	p     auth.Principal
	clock *clock
	bus   *bus
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool := storetest.Open(t)
	p := storetest.Tenant(t, pool, "acme")
	_, err := pool.Exec(ctx, `CREATE SCHEMA `+p.Schema)
	require.NoError(t, err)
	s := store.New(pool)
	_, err = s.CreateDataset(ctx, p, &ferryv1.Dataset{Name: "users", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true}}})
	require.NoError(t, err)
	return &env{pool: pool, store: s, p: p, clock: &clock{}, bus: &bus{}}
}

func (e *env) scheduler() *Scheduler {
	return New(e.pool, e.store, e.bus, testkit.Log(nil), Options{Tick: time.Second, Now: e.clock.Now})
}

func (e *env) applyExport(t *testing.T, name string, status ferryv1.ProfileStatus, sched *ferryv1.Schedule) {
	t.Helper()
	spec := &ferryv1.ExportProfileSpec{Dataset: "users", Format: ferryv1.ExportFormat_EXPORT_FORMAT_CSV, FileName: "users.csv",
		Csv: &ferryv1.ExportCSV{Delimiter: ",", LineEnding: "crlf", Encoding: "utf-8"}, Status: status,
		Triggers: &ferryv1.Triggers{Schedule: sched}}
	_, _, err := e.store.ApplyExportProfile(context.Background(), e.p, name, spec)
	require.NoError(t, err)
}

// fires lists the instants at which a profile's scheduled runs were
// created, in order.
func (e *env) fires(t *testing.T, name string) []time.Time {
	t.Helper()
	ctx := context.Background()
	// One snapshot for both queries: a scheduler may be creating runs.
	tx, err := e.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `SELECT f.instant FROM ferry.schedule_fires f
		JOIN ferry.runs r ON r.id = f.run_id AND r.trigger = 'schedule' AND r.profile_name = $1 ORDER BY f.instant`, name)
	require.NoError(t, err)
	var out []time.Time
	for rows.Next() {
		var i time.Time
		require.NoError(t, rows.Scan(&i))
		out = append(out, i.UTC())
	}
	require.NoError(t, rows.Err())
	var runs int
	require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM ferry.runs WHERE profile_name = $1 AND trigger = 'schedule'`, name).Scan(&runs))
	require.Equal(t, len(out), runs, "every scheduled run has its instant")
	return out
}

// start is the first whole minute more than a minute after the profiles'
// versions were created (at the real time).
func start() time.Time { return time.Now().UTC().Truncate(time.Minute).Add(2 * time.Minute) }

func TestTwoSchedulersOneRunPerInstant(t *testing.T) {
	e := newEnv(t)
	e.applyExport(t, "every-minute", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, &ferryv1.Schedule{Cron: "* * * * *"})
	a, b := e.scheduler(), e.scheduler()
	t0 := start()
	ctx := context.Background()
	for m := 0; m < 3; m++ {
		e.clock.Set(t0.Add(time.Duration(m)*time.Minute + 200*time.Millisecond))
		var wg sync.WaitGroup
		for _, s := range []*Scheduler{a, b, a, b} {
			wg.Add(1)
			go func(s *Scheduler) {
				defer wg.Done()
				for i := 0; i < 5; i++ {
					require.NoError(t, s.Tick(ctx))
				}
			}(s)
		}
		wg.Wait()
	}
	require.Equal(t, []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}, e.fires(t, "every-minute"))
	require.Len(t, e.bus.published(), 3, "each run is published once")
}

func TestCatchUpAfterDowntime(t *testing.T) {
	e := newEnv(t)
	e.applyExport(t, "last", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, &ferryv1.Schedule{Cron: "* * * * *"})
	e.applyExport(t, "none", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, &ferryv1.Schedule{Cron: "* * * * *", CatchUp: ferryv1.CatchUp_CATCH_UP_NONE})
	s := e.scheduler()
	ctx := context.Background()
	t0 := start()
	e.clock.Set(t0.Add(500 * time.Millisecond))
	require.NoError(t, s.Tick(ctx))
	require.Equal(t, []time.Time{t0}, e.fires(t, "last"))
	require.Equal(t, []time.Time{t0}, e.fires(t, "none"))

	// Down for ten minutes and a half: "last" runs the last missed instant
	// once, never a burst; "none" skips them all.
	e.clock.Set(t0.Add(10*time.Minute + 30*time.Second))
	for i := 0; i < 3; i++ {
		require.NoError(t, s.Tick(ctx))
	}
	require.Equal(t, []time.Time{t0, t0.Add(10 * time.Minute)}, e.fires(t, "last"))
	require.Equal(t, []time.Time{t0}, e.fires(t, "none"))

	// Back on time, both fire.
	e.clock.Set(t0.Add(11*time.Minute + time.Second))
	require.NoError(t, s.Tick(ctx))
	require.Equal(t, []time.Time{t0, t0.Add(10 * time.Minute), t0.Add(11 * time.Minute)}, e.fires(t, "last"))
	require.Equal(t, []time.Time{t0, t0.Add(11 * time.Minute)}, e.fires(t, "none"))
}

func TestDraftsNeverFire(t *testing.T) {
	e := newEnv(t)
	e.applyExport(t, "draft", ferryv1.ProfileStatus_PROFILE_STATUS_UNSPECIFIED, &ferryv1.Schedule{Cron: "* * * * *"})
	s := e.scheduler()
	t0 := start()
	e.clock.Set(t0)
	require.NoError(t, s.Tick(context.Background()))
	require.Empty(t, e.fires(t, "draft"))
	require.Empty(t, e.bus.published())

	// Made active, it fires from then on.
	e.applyExport(t, "draft", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, &ferryv1.Schedule{Cron: "* * * * *"})
	e.clock.Set(t0.Add(time.Minute))
	require.NoError(t, s.Tick(context.Background()))
	require.Equal(t, []time.Time{t0.Add(time.Minute)}, e.fires(t, "draft"))
}

func TestScheduleChangeTakesEffect(t *testing.T) {
	e := newEnv(t)
	e.applyExport(t, "p", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, &ferryv1.Schedule{Cron: "0 0 1 1 *"})
	s := e.scheduler()
	t0 := start()
	e.clock.Set(t0)
	require.NoError(t, s.Tick(context.Background()))
	require.Empty(t, e.fires(t, "p"))
	e.applyExport(t, "p", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, &ferryv1.Schedule{Cron: "* * * * *"})
	e.clock.Set(t0.Add(time.Minute))
	require.NoError(t, s.Tick(context.Background()))
	require.Equal(t, []time.Time{t0.Add(time.Minute)}, e.fires(t, "p"))
}

func TestUnpublishedRunIsPublishedAgain(t *testing.T) {
	e := newEnv(t)
	e.applyExport(t, "p", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, &ferryv1.Schedule{Cron: "* * * * *"})
	s := New(e.pool, e.store, e.bus, testkit.Log(t), Options{Tick: time.Second, Now: e.clock.Now, Republish: time.Millisecond})
	e.clock.Set(start())
	e.bus.fail = true
	require.NoError(t, s.Tick(context.Background()))
	require.Len(t, e.fires(t, "p"), 1, "the run exists though its command was not published")
	require.Empty(t, e.bus.published())
	e.bus.fail = false
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, s.Tick(context.Background()))
	require.Len(t, e.bus.published(), 1)
	require.NoError(t, s.Tick(context.Background()))
	require.Len(t, e.bus.published(), 1, "published once")
}

func TestImportScheduleRequestsAPoll(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := uuid.New()
	_, err := e.pool.Exec(ctx, `INSERT INTO ferry.import_profiles (id, tenant_id, name, current_version) VALUES ($1, $2, 'drop', 1)`, id, e.p.TenantID)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `INSERT INTO ferry.import_profile_versions (tenant_id, profile_id, version, spec) VALUES ($1, $2, 1, $3)`, e.p.TenantID, id,
		`{"dataset":"users","status":"PROFILE_STATUS_ACTIVE","triggers":{"schedule":{"cron":"*/5 * * * *"}},"sftpSource":{"connection":"c","directory":"/in"}}`)
	require.NoError(t, err)
	s := e.scheduler()
	t0 := start()
	for t0.Minute()%5 != 0 {
		t0 = t0.Add(time.Minute)
	}
	e.clock.Set(t0)
	require.NoError(t, s.Tick(ctx))
	require.NoError(t, s.Tick(ctx))
	var requested *time.Time
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT poll_requested_at FROM ferry.sftp_sources WHERE profile_id = $1`, id).Scan(&requested))
	require.NotNil(t, requested)
	var n int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM ferry.schedule_fires WHERE profile_id = $1 AND instant = $2`, id, t0).Scan(&n))
	require.Equal(t, 1, n)
}

// TestRunReadsProfilesOnlyWhenTheyChange: while Run listens for changes of
// profiles, ticks fire from the profiles in memory without reading them
// again; applying a profile is announced and read at the next tick.
func TestRunReadsProfilesOnlyWhenTheyChange(t *testing.T) {
	e := newEnv(t)
	e.applyExport(t, "p", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, &ferryv1.Schedule{Cron: "* * * * *"})
	s := New(e.pool, e.store, e.bus, testkit.Log(t), Options{Tick: 10 * time.Millisecond, Now: e.clock.Now})
	t0 := start()
	e.clock.Set(t0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	settled := func() bool { return s.listening.Load() && !s.stale.Load() && s.loads.Load() > 0 }
	require.Eventually(t, settled, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(e.fires(t, "p")) == 1 }, 10*time.Second, 5*time.Millisecond)

	// Nothing changes: many ticks, no read; the next instant fires from
	// memory, once.
	loads := s.loads.Load()
	e.clock.Set(t0.Add(time.Minute))
	require.Eventually(t, func() bool { return len(e.fires(t, "p")) == 2 }, 10*time.Second, 5*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, loads, s.loads.Load(), "no change of a profile, no read")
	require.Equal(t, []time.Time{t0, t0.Add(time.Minute)}, e.fires(t, "p"))

	// A new profile and a changed one are read at the next tick.
	e.applyExport(t, "q", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, &ferryv1.Schedule{Cron: "* * * * *"})
	e.applyExport(t, "p", ferryv1.ProfileStatus_PROFILE_STATUS_UNSPECIFIED, &ferryv1.Schedule{Cron: "* * * * *"})
	require.Eventually(t, func() bool { return s.loads.Load() > loads && settled() }, 10*time.Second, 5*time.Millisecond)
	e.clock.Set(t0.Add(2 * time.Minute))
	require.Eventually(t, func() bool { return len(e.fires(t, "q")) == 1 }, 10*time.Second, 5*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, []time.Time{t0, t0.Add(time.Minute)}, e.fires(t, "p"), "made a draft, p no longer fires")
}

// TestTickWithoutListeningReadsProfiles: without Run's listener (Tick on
// its own, or the listening connection lost) every tick reads the profiles.
func TestTickWithoutListeningReadsProfiles(t *testing.T) {
	e := newEnv(t)
	s := e.scheduler()
	for range 3 {
		require.NoError(t, s.Tick(context.Background()))
	}
	require.EqualValues(t, 3, s.loads.Load())
}

// countingRuns counts the runs a scheduler tries to create.
type countingRuns struct {
	Runs
	mu    sync.Mutex
	tries int
}

func (c *countingRuns) CreateExportRunClaimed(ctx context.Context, p auth.Principal, name string, trigger ferryv1.RunTrigger, claim store.Claim) (*ferryv1.Run, *ferryv1.ExportSnapshot, error) {
	c.mu.Lock()
	c.tries++
	c.mu.Unlock()
	return c.Runs.CreateExportRunClaimed(ctx, p, name, trigger, claim)
}

// TestCachedSchedulerDoesNotRetryAnInstantFiredElsewhere: a scheduler whose
// profiles are in memory reads the last instants of the profiles that look
// due before firing, so an instant another scheduler fired is not tried.
func TestCachedSchedulerDoesNotRetryAnInstantFiredElsewhere(t *testing.T) {
	e := newEnv(t)
	e.applyExport(t, "p", ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, &ferryv1.Schedule{Cron: "* * * * *"})
	ctx := context.Background()
	t0 := start()
	e.clock.Set(time.Now().UTC()) // no instant since the version was created
	runs := &countingRuns{Runs: e.store}
	cached := New(e.pool, runs, e.bus, testkit.Log(t), Options{Tick: time.Millisecond, Now: e.clock.Now})
	cached.listening.Store(true) // as Run's listener does
	require.NoError(t, cached.Tick(ctx))
	require.EqualValues(t, 1, cached.loads.Load())

	e.clock.Set(t0)
	require.NoError(t, e.scheduler().Tick(ctx))
	require.Equal(t, []time.Time{t0}, e.fires(t, "p"))
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, cached.Tick(ctx))
	require.EqualValues(t, 1, cached.loads.Load(), "the profiles stay in memory")
	require.Zero(t, runs.tries, "the instant fired elsewhere is not tried")

	e.clock.Set(t0.Add(time.Minute))
	require.NoError(t, cached.Tick(ctx))
	require.Equal(t, 1, runs.tries)
	require.Equal(t, []time.Time{t0, t0.Add(time.Minute)}, e.fires(t, "p"))
}
