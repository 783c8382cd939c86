package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
)

// DefaultDebounce is the debounce window of a dataset-change trigger that
// names none.
const DefaultDebounce = 60 * time.Second

// Debounce is the debounce window of t.
func Debounce(t *ferryv1.Triggers) time.Duration {
	if s := t.GetDebounceSeconds(); s > 0 {
		return time.Duration(s) * time.Second
	}
	return DefaultDebounce
}

// errFired says another replica claimed a trigger fire first.
var errFired = errors.New("trigger already fired")

// profileNode is a profile in the graph of run-ended triggers.
type profileNode struct {
	kind ferryv1.RunKind
	name string
}

func afterKind(a *ferryv1.RunEndedTrigger) ferryv1.RunKind {
	if a.GetKind() == ferryv1.RunKind_RUN_KIND_UNSPECIFIED {
		return ferryv1.RunKind_RUN_KIND_IMPORT
	}
	return a.GetKind()
}

// afterMatches says whether a run-ended trigger fires for run.
func afterMatches(a *ferryv1.RunEndedTrigger, run *ferryv1.Run) bool {
	kind := run.GetKind()
	if kind == ferryv1.RunKind_RUN_KIND_UNSPECIFIED {
		kind = ferryv1.RunKind_RUN_KIND_IMPORT
	}
	if a.GetProfile() != run.GetProfile() || afterKind(a) != kind {
		return false
	}
	statuses := a.GetStatuses()
	if len(statuses) == 0 {
		statuses = []ferryv1.RunStatus{ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS}
	}
	return slices.Contains(statuses, run.GetStatus())
}

// exportSpecs returns the current spec of every export profile of the
// tenant, by name, with the profile's id.
func (s *Store) exportSpecs(ctx context.Context, p auth.Principal) ([]version, []*ferryv1.ExportProfileSpec, error) {
	vs, err := exportProfilesKind.list(ctx, s.pool, p)
	if err != nil {
		return nil, nil, err
	}
	specs := make([]*ferryv1.ExportProfileSpec, len(vs))
	for i, v := range vs {
		specs[i] = &ferryv1.ExportProfileSpec{}
		if err := protojson.Unmarshal(v.Spec, specs[i]); err != nil {
			return nil, nil, fmt.Errorf("decode export profile %s: %w", v.Name, err)
		}
	}
	return vs, specs, nil
}

// checkTriggerCycle refuses a profile whose run-ended triggers, with the
// tenant's other profiles as they are, would make runs trigger each other
// in a circle.
//
// Only a profile with run-ended triggers can close a cycle, so only those
// serialise on the tenant's trigger graph: the lock is held until the
// returned unlock, which the caller calls after its apply committed, so
// that two profiles applied at once cannot form a cycle neither saw.
func (s *Store) checkTriggerCycle(ctx context.Context, p auth.Principal, kind ferryv1.RunKind, name string, after []*ferryv1.RunEndedTrigger) (func(), error) {
	if len(after) == 0 {
		return func() {}, nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	key := p.TenantID.String() + "/trigger-graph"
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		conn.Release()
		return nil, err
	}
	unlock := func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
			// A lock that cannot be released must not go back to the pool.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}
	if err := s.findTriggerCycle(ctx, p, kind, name, after); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

func (s *Store) findTriggerCycle(ctx context.Context, p auth.Principal, kind ferryv1.RunKind, name string, after []*ferryv1.RunEndedTrigger) error {
	// edges lead from a profile to the profiles whose runs start it.
	edges := map[profileNode][]profileNode{}
	add := func(n profileNode, as []*ferryv1.RunEndedTrigger) {
		for _, a := range as {
			edges[n] = append(edges[n], profileNode{afterKind(a), a.GetProfile()})
		}
	}
	imports, err := s.ListProfiles(ctx, p)
	if err != nil {
		return err
	}
	for _, ip := range imports {
		add(profileNode{ferryv1.RunKind_RUN_KIND_IMPORT, ip.GetName()}, ip.GetSpec().GetTriggers().GetAfter())
	}
	vs, specs, err := s.exportSpecs(ctx, p)
	if err != nil {
		return err
	}
	for i, v := range vs {
		add(profileNode{ferryv1.RunKind_RUN_KIND_EXPORT, v.Name}, specs[i].GetTriggers().GetAfter())
	}
	self := profileNode{kind, name}
	edges[self] = nil
	add(self, after)
	if path := findCycle(edges, self); path != nil {
		names := make([]string, len(path))
		// The path follows "runs after"; shown in the order runs start.
		for i, n := range path {
			names[len(path)-1-i] = n.name
		}
		return errs.Invalid("triggers.after: runs would trigger each other in a cycle: %s", strings.Join(names, " → "))
	}
	return nil
}

// findCycle returns a path of edges from start back to start, or nil. The
// graph without start's edges has no cycle (every applied profile was
// checked), so only cycles through start are looked for.
func findCycle(edges map[profileNode][]profileNode, start profileNode) []profileNode {
	seen := map[profileNode]bool{}
	var walk func(n profileNode, path []profileNode) []profileNode
	walk = func(n profileNode, path []profileNode) []profileNode {
		for _, next := range edges[n] {
			if next == start {
				return append(slices.Clone(path), next)
			}
			if seen[next] {
				continue
			}
			seen[next] = true
			if found := walk(next, append(path, next)); found != nil {
				return found
			}
		}
		return nil
	}
	return walk(start, []profileNode{start})
}

// triggerProblems lists the run-ended triggers of an export profile that
// name a profile that does not exist.
func (s *Store) triggerProblems(ctx context.Context, p auth.Principal, spec *ferryv1.ExportProfileSpec) ([]string, error) {
	var problems []string
	for _, a := range spec.GetTriggers().GetAfter() {
		table, what := "ferry.import_profiles", "import profile"
		if afterKind(a) == ferryv1.RunKind_RUN_KIND_EXPORT {
			table, what = "ferry.export_profiles", "export profile"
		}
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE tenant_id = $1 AND name = $2)`, p.TenantID, a.GetProfile()).
			Scan(&exists); err != nil {
			return nil, fmt.Errorf("look up %s %s: %w", what, a.GetProfile(), err)
		}
		if !exists {
			problems = append(problems, fmt.Sprintf("triggers.after: %s %q does not exist", what, a.GetProfile()))
		}
	}
	return problems, nil
}

// claimFire claims source for a profile in tx; errFired when it was
// claimed before.
func claimFire(ctx context.Context, tx pgx.Tx, tenant, profile uuid.UUID, source string, runID uuid.UUID, snapshot bool) error {
	var run any
	if runID != uuid.Nil {
		run = runID
	}
	sql := `INSERT INTO ferry.trigger_fires (profile_id, source, tenant_id, run_id, snapshot) VALUES ($1, $2, $3, $4, NULL)
		ON CONFLICT DO NOTHING`
	if snapshot {
		sql = strings.Replace(sql, "NULL)", "pg_current_snapshot())", 1)
	}
	tag, err := tx.Exec(ctx, sql, profile, source, tenant, run)
	if err != nil {
		return fmt.Errorf("claim trigger fire %s: %w", source, err)
	}
	if tag.RowsAffected() == 0 {
		return errFired
	}
	return nil
}

// Fired is an export run a trigger started, or what kept it from starting.
type Fired struct {
	Profile string
	// Snap is the run to publish; nil when the profile could not run
	// (Err says why) or when the trigger asked an SFTP source to poll.
	Snap *ferryv1.ExportSnapshot
	Err  error
}

// RunEnded starts, once per ended run, a run of every active export profile
// of the tenant with a run-ended trigger that matches it, and asks the SFTP
// source of every active import profile with such a trigger to poll. A dry
// run starts nothing: it changed nothing.
func (s *Store) RunEnded(ctx context.Context, tenantID string, run *ferryv1.Run) ([]Fired, error) {
	if run.GetDryRun() {
		return nil, nil
	}
	p, err := s.tenantByID(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	source := "run/" + run.GetId()
	var out []Fired
	vs, specs, err := s.exportSpecs(ctx, p)
	if err != nil {
		return nil, err
	}
	for i, v := range vs {
		spec := specs[i]
		if spec.GetStatus() != ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE || !slices.ContainsFunc(spec.GetTriggers().GetAfter(),
			func(a *ferryv1.RunEndedTrigger) bool { return afterMatches(a, run) }) {
			continue
		}
		f, err := s.fireExport(ctx, p, v.ID, v.Name, source, nil)
		if err != nil {
			return out, err
		}
		if f != nil {
			out = append(out, *f)
		}
	}
	imports, err := s.ListProfiles(ctx, p)
	if err != nil {
		return out, err
	}
	for _, ip := range imports {
		spec := ip.GetSpec()
		if spec.GetStatus() != ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE || spec.GetSftpSource() == nil || !slices.ContainsFunc(spec.GetTriggers().GetAfter(),
			func(a *ferryv1.RunEndedTrigger) bool { return afterMatches(a, run) }) {
			continue
		}
		if err := s.requestPoll(ctx, p, ip.GetName(), source); err != nil {
			return out, err
		}
		out = append(out, Fired{Profile: ip.GetName()})
	}
	return out, nil
}

// requestPoll asks an import profile's SFTP source to poll now, once per
// source.
func (s *Store) requestPoll(ctx context.Context, p auth.Principal, name, source string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, _, err := getProfile(ctx, tx, p, name, 0)
		if err != nil {
			return err
		}
		if err := claimFire(ctx, tx, p.TenantID, id, source, uuid.Nil, false); err != nil {
			if errors.Is(err, errFired) {
				return nil
			}
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ferry.sftp_sources (profile_id, tenant_id, poll_requested_at) VALUES ($1, $2, now())
				ON CONFLICT (profile_id) DO UPDATE SET poll_requested_at = now(), updated_at = now()`, id, p.TenantID); err != nil {
			return fmt.Errorf("request poll of %s: %w", name, err)
		}
		return nil
	})
}

// fireExport starts a run of an export profile for source, claimed in the
// run's transaction; nil when source fired the profile before. A profile
// that cannot run (not valid) has the fire recorded without a run, so that
// it is not tried again, and Fired.Err says why.
// A dataset-change fire passes check, which runs first in the claiming
// transaction, and records the transaction's snapshot.
func (s *Store) fireExport(ctx context.Context, p auth.Principal, id uuid.UUID, name, source string, check func(context.Context, pgx.Tx) error) (*Fired, error) {
	snapshot := check != nil
	_, snap, err := s.CreateExportRunClaimed(ctx, p, name, ferryv1.RunTrigger_RUN_TRIGGER_EVENT,
		func(ctx context.Context, tx pgx.Tx, runID uuid.UUID, _ int64) error {
			if check != nil {
				if err := check(ctx, tx); err != nil {
					return err
				}
			}
			return claimFire(ctx, tx, p.TenantID, id, source, runID, snapshot)
		})
	switch {
	case errors.Is(err, errFired):
		return nil, nil
	case errs.Is(err, errs.KindFailedPrecondition) || errs.Is(err, errs.KindNotFound):
		err2 := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if check != nil {
				if err := check(ctx, tx); err != nil {
					return err
				}
			}
			return claimFire(ctx, tx, p.TenantID, id, source, uuid.Nil, snapshot)
		})
		if errors.Is(err2, errFired) {
			return nil, nil
		}
		if err2 != nil {
			return nil, err2
		}
		return &Fired{Profile: name, Err: err}, nil
	case err != nil:
		return nil, err
	}
	return &Fired{Profile: name, Snap: snap}, nil
}

// changeProfile is an active export profile with a dataset-change trigger.
type changeProfile struct {
	id, tenant uuid.UUID
	name       string
	created    time.Time
	spec       *ferryv1.ExportProfileSpec
}

// FireDatasetChanges starts a run of every active export profile with a
// dataset-change trigger whose debounce window has passed. The window opens
// with the first change the profile's last run does not contain (a change
// not visible to the transaction that claimed the last fire) and fires
// when it closes, so the run contains every change of the window; a
// profile fires at most once per window.
func (s *Store) FireDatasetChanges(ctx context.Context) ([]Fired, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.tenant_id, r.name, r.created_at, v.spec
		FROM ferry.export_profiles r JOIN ferry.export_profile_versions v ON v.profile_id = r.id AND v.version = r.current_version
		WHERE v.spec->'triggers'->>'onDatasetChange' = 'true' AND v.spec->>'status' = 'PROFILE_STATUS_ACTIVE'
		ORDER BY r.tenant_id, r.name`)
	if err != nil {
		return nil, fmt.Errorf("list dataset-change triggers: %w", err)
	}
	profiles, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (changeProfile, error) {
		var (
			cp   changeProfile
			spec []byte
		)
		if err := row.Scan(&cp.id, &cp.tenant, &cp.name, &cp.created, &spec); err != nil {
			return cp, err
		}
		cp.spec = &ferryv1.ExportProfileSpec{}
		return cp, protojson.Unmarshal(spec, cp.spec)
	})
	if err != nil {
		return nil, fmt.Errorf("list dataset-change triggers: %w", err)
	}
	var (
		out      []Fired
		failures []error
	)
	// One profile's failure does not hold up the others.
	for _, cp := range profiles {
		seq, err := s.dueChange(ctx, s.pool, cp)
		if err != nil {
			failures = append(failures, err)
			continue
		}
		if seq == 0 {
			continue
		}
		p, err := s.tenantByID(ctx, cp.tenant.String())
		if err != nil {
			failures = append(failures, err)
			continue
		}
		source := fmt.Sprintf("change/%d", seq)
		// Replicas that saw the window differently serialise on the
		// profile and check it again before claiming.
		recheck := func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "trigger-change/"+cp.id.String()); err != nil {
				return err
			}
			again, err := s.dueChange(ctx, tx, cp)
			if err != nil {
				return err
			}
			if again != seq {
				return errFired
			}
			return nil
		}
		f, err := s.fireExport(ctx, p, cp.id, cp.name, source, recheck)
		if err != nil {
			failures = append(failures, fmt.Errorf("fire export profile %s: %w", cp.name, err))
			continue
		}
		if f != nil {
			out = append(out, *f)
		}
	}
	return out, errors.Join(failures...)
}

// querierFull is what dueChange reads with.
type querierFull interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// dueChange returns the seq of the change that opened the profile's
// current debounce window when the window has closed, or 0.
func (s *Store) dueChange(ctx context.Context, q querierFull, cp changeProfile) (int64, error) {
	datasets := []string{cp.spec.GetDataset()}
	for _, e := range cp.spec.GetBundle() {
		datasets = append(datasets, e.GetDataset())
	}
	debounce := Debounce(cp.spec.GetTriggers()).Seconds()
	var (
		seq int64
		due bool
	)
	err := q.QueryRow(ctx, `WITH last AS (
			SELECT created_at, snapshot FROM ferry.trigger_fires
			WHERE profile_id = $1 AND source LIKE 'change/%' ORDER BY created_at DESC LIMIT 1)
		SELECT c.seq, clock_timestamp() >= c.changed_at + make_interval(secs => $4)
			AND coalesce(clock_timestamp() >= (SELECT created_at FROM last) + make_interval(secs => $4), true)
		FROM ferry.dataset_changes c
		WHERE c.tenant_id = $2 AND c.dataset = ANY($3)
			AND CASE WHEN EXISTS (SELECT 1 FROM last) THEN NOT pg_visible_in_snapshot(c.xid, (SELECT snapshot FROM last))
				ELSE c.changed_at >= $5 END
		ORDER BY c.changed_at, c.seq LIMIT 1`, cp.id, cp.tenant, datasets, debounce, cp.created).Scan(&seq, &due)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("look up changes for export profile %s: %w", cp.name, err)
	case !due:
		return 0, nil
	}
	return seq, nil
}

// QueuedTriggeredRuns returns the export runs that triggers started between
// minAge and maxAge ago and that are still queued: their command may not
// have been published (the profile service stopped after the commit).
// maxAge should stay within the command stream's duplicate window, so that
// a command published twice is stored once.
func (s *Store) QueuedTriggeredRuns(ctx context.Context, minAge, maxAge time.Duration) ([]*ferryv1.ExportSnapshot, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.snapshot FROM ferry.trigger_fires f JOIN ferry.runs r ON r.id = f.run_id
		WHERE r.status = 'queued' AND r.kind = 'export' AND f.created_at < now() - make_interval(secs => $1)
			AND f.created_at > now() - make_interval(secs => $2)
		ORDER BY f.created_at`, minAge.Seconds(), maxAge.Seconds())
	if err != nil {
		return nil, fmt.Errorf("list queued triggered runs: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*ferryv1.ExportSnapshot, error) {
		var blob []byte
		if err := row.Scan(&blob); err != nil {
			return nil, err
		}
		snap := &ferryv1.ExportSnapshot{}
		return snap, proto.Unmarshal(blob, snap)
	})
}

// PruneDatasetChanges deletes the dataset changes older than age.
func (s *Store) PruneDatasetChanges(ctx context.Context, age time.Duration) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM ferry.dataset_changes WHERE changed_at < now() - make_interval(secs => $1)`, age.Seconds()); err != nil {
		return fmt.Errorf("prune dataset changes: %w", err)
	}
	return nil
}
