// Package pull takes files from the SFTP sources of import profiles. It
// polls each source's directory at the source's interval, imports every
// new file once it is stable (the same size and modification time over two
// polls), in a run of its own that records the file's name, and then
// archives or deletes the file, or moves it to the error directory when
// its run failed.
//
// A ledger in PostgreSQL remembers every file by name, size and
// modification time, so that a file is taken once however many ingest
// processes poll and however often they restart; a lease per source lets
// one process at a time poll it.
package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/secrets"
)

// Importer receives a file into a new run, as an upload does. The run is
// returned whenever it was created, also with an error.
type Importer interface {
	ImportReader(ctx context.Context, req *ferryv1.RunCreateRequest, r io.Reader) (*ferryv1.Run, error)
}

// Options tune the poller; zero values take the defaults.
type Options struct {
	// Parallel is how many sources one process polls at once; 4.
	Parallel int
	// Tick is how often due sources are looked for; 500ms.
	Tick time.Duration
	// Refresh is how often the list of sources is read again; 5s.
	Refresh time.Duration
	// Lease is how long a poll holds its source without renewing; 1m.
	Lease time.Duration
	// Orphan is how long a taken file may lack its run (its process died
	// before creating it) before the file is taken again; 2m.
	Orphan time.Duration
}

func (o *Options) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Tick <= 0 {
		o.Tick = 500 * time.Millisecond
	}
	if o.Refresh <= 0 {
		o.Refresh = 5 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Orphan <= 0 {
		o.Orphan = 2 * time.Minute
	}
}

// Poller polls the SFTP sources of every tenant's import profiles.
type Poller struct {
	pool    *pgxpool.Pool
	keyring *secrets.Keyring
	imp     Importer
	log     *slog.Logger
	opts    Options
	// owner names this process in the leases it holds.
	owner string
}

// New returns a poller. keyring opens the connections' credentials; nil
// when the server has none, and then only connections without stored
// credentials work.
func New(pool *pgxpool.Pool, keyring *secrets.Keyring, imp Importer, log *slog.Logger, o Options) *Poller {
	o.defaults()
	host, _ := os.Hostname()
	return &Poller{pool: pool, keyring: keyring, imp: imp, log: log, opts: o,
		owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8])}
}

// source is an import profile with an SFTP source.
type source struct {
	tenant    uuid.UUID
	profileID uuid.UUID
	profile   string
	spec      *ferryv1.SFTPSource
	// requested is when a schedule asked for a poll (or the poll after a
	// requested one is due); nil when none is pending.
	requested *time.Time
}

// Run polls until ctx ends, then waits for the polls under way, which end
// with ctx: a file being read then is taken again later.
func (p *Poller) Run(ctx context.Context) error {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		busy    = map[uuid.UUID]bool{}
		next    = map[uuid.UUID]time.Time{}
		slots   = make(chan struct{}, p.opts.Parallel)
		list    []source
		listed  time.Time
		lastErr string
	)
	defer wg.Wait()
	tick := time.NewTicker(p.opts.Tick)
	defer tick.Stop()
	for {
		now := time.Now()
		if now.Sub(listed) >= p.opts.Refresh {
			l, err := p.sources(ctx)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				if err.Error() != lastErr {
					p.log.Warn("list sftp sources", "err", err)
				}
				lastErr = err.Error()
			default:
				list, listed, lastErr = l, now, ""
			}
		}
		for i, s := range list {
			mu.Lock()
			due := !busy[s.profileID] && (!now.Before(next[s.profileID]) || (s.requested != nil && !now.Before(*s.requested)))
			mu.Unlock()
			if !due {
				continue
			}
			select {
			case slots <- struct{}{}:
			default:
				continue // every slot is busy: the source waits for the next tick
			}
			mu.Lock()
			busy[s.profileID], next[s.profileID] = true, now.Add(interval(s.spec))
			mu.Unlock()
			list[i].requested = nil // the next listing says whether another poll is requested
			wg.Add(1)
			go func(s source) {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(busy, s.profileID)
					mu.Unlock()
					<-slots
				}()
				p.pollSource(ctx, s)
			}(s)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// interval is the source's poll interval, 60s when unset.
func interval(s *ferryv1.SFTPSource) time.Duration {
	if s.GetPollIntervalSeconds() > 0 {
		return time.Duration(s.GetPollIntervalSeconds()) * time.Second
	}
	return time.Minute
}

// sources lists the profiles whose current version has an SFTP source.
func (p *Poller) sources(ctx context.Context) ([]source, error) {
	rows, err := p.pool.Query(ctx, `SELECT p.tenant_id, p.id, p.name, v.spec::text,
			CASE WHEN s.poll_requested_at IS NULL THEN s.poll_again_at
				WHEN s.poll_again_at IS NULL THEN s.poll_requested_at
				ELSE least(s.poll_requested_at, s.poll_again_at) END
		FROM ferry.import_profiles p JOIN ferry.import_profile_versions v ON v.profile_id = p.id AND v.version = p.current_version
		LEFT JOIN ferry.sftp_sources s ON s.profile_id = p.id
		WHERE v.spec -> 'sftpSource' IS NOT NULL ORDER BY p.tenant_id, p.name`)
	if err != nil {
		return nil, fmt.Errorf("list sftp sources: %w", err)
	}
	var out []source
	for rows.Next() {
		var (
			s    source
			spec string
		)
		if err := rows.Scan(&s.tenant, &s.profileID, &s.profile, &spec, &s.requested); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list sftp sources: %w", err)
		}
		var ps ferryv1.ImportProfileSpec
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(spec), &ps); err != nil {
			p.log.Warn("sftp source: stored profile spec does not decode", "tenant", s.tenant, "profile", s.profile, "err", err)
			continue
		}
		if s.spec = ps.GetSftpSource(); s.spec == nil {
			continue
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// pollSource polls one source while holding its lease, and records how the
// poll went.
func (p *Poller) pollSource(ctx context.Context, s source) {
	log := p.log.With("tenant", s.tenant, "profile", s.profile)
	start, prevErr, ok, err := p.acquire(ctx, s)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("sftp source lease", "err", err)
		}
		return
	}
	if !ok {
		return // another process polls it, or polled it a moment ago
	}
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(p.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				if err := p.renew(pctx, s); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	err = p.poll(pctx, s, start, log)
	cancel(nil)
	<-renewed

	msg, class := "", ""
	switch {
	case err != nil && ctx.Err() != nil:
		// Stopping: not the source's fault.
		msg, class = prevErr, ""
	case err != nil:
		msg, class = err.Error(), classOf(err).String()
		if msg != prevErr {
			log.Warn("sftp source poll failed", "class", class, "err", err)
		} else {
			log.Debug("sftp source poll failed again", "class", class, "err", err)
		}
	case prevErr != "":
		log.Info("sftp source recovered", "previous_error", prevErr)
	}
	bg, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	if err := p.release(bg, s, msg, class); err != nil {
		log.Warn("sftp source lease release", "err", err)
	}
}

// acquire takes the source's lease when nobody holds it and its interval
// has (nearly) passed since the last poll. It returns the database's time,
// which marks the poll's start, and the last poll's error.
func (p *Poller) acquire(ctx context.Context, s source) (time.Time, string, bool, error) {
	var (
		start   time.Time
		lastErr string
	)
	// Four fifths of the interval: polls scheduled by different processes'
	// clocks do not skip a whole interval over a few milliseconds.
	gap := interval(s.spec) * 4 / 5
	// A poll a schedule requested is due at once, and asks for one more
	// poll a few seconds later: a file is taken when a second poll sees it
	// unchanged.
	err := p.pool.QueryRow(ctx, `INSERT INTO ferry.sftp_sources AS s (profile_id, tenant_id, lease_owner, lease_until, last_poll_at)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4), now())
		ON CONFLICT (profile_id) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until,
			last_poll_at = now(), updated_at = now(),
			poll_again_at = CASE WHEN s.poll_requested_at <= now() THEN now() + make_interval(secs => $6) END,
			poll_requested_at = CASE WHEN s.poll_requested_at > now() THEN s.poll_requested_at END
		WHERE (s.lease_until IS NULL OR s.lease_until < now())
			AND (s.last_poll_at IS NULL OR s.last_poll_at <= now() - make_interval(secs => $5)
				OR s.poll_requested_at <= now() OR s.poll_again_at <= now())
		RETURNING now(), s.last_error`,
		s.profileID, s.tenant, p.owner, p.opts.Lease.Seconds(), gap.Seconds(), requestedPollAgain.Seconds()).Scan(&start, &lastErr)
	if errors.Is(err, pgx.ErrNoRows) {
		return start, "", false, nil
	}
	if err != nil {
		return start, "", false, fmt.Errorf("take lease of sftp source %s: %w", s.profile, err)
	}
	return start, lastErr, true, nil
}

// requestedPollAgain is how long after a requested poll the next one runs.
const requestedPollAgain = 5 * time.Second

var errLeaseLost = errors.New("the lease of the sftp source was lost")

func (p *Poller) renew(ctx context.Context, s source) error {
	tag, err := p.pool.Exec(ctx, `UPDATE ferry.sftp_sources SET lease_until = now() + make_interval(secs => $3)
		WHERE profile_id = $1 AND lease_owner = $2 AND lease_until IS NOT NULL`, s.profileID, p.owner, p.opts.Lease.Seconds())
	if err != nil {
		return fmt.Errorf("renew lease of sftp source %s: %w", s.profile, err)
	}
	if tag.RowsAffected() != 1 {
		return errLeaseLost
	}
	return nil
}

func (p *Poller) release(ctx context.Context, s source, msg, class string) error {
	_, err := p.pool.Exec(ctx, `UPDATE ferry.sftp_sources SET lease_owner = '', lease_until = NULL,
		last_error = $3, last_error_class = $4, updated_at = now()
		WHERE profile_id = $1 AND lease_owner = $2`, s.profileID, p.owner, msg, class)
	return err
}
