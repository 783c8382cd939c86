package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/orchestration"
)

// newTriggerStore returns a store with dataset users and import profile
// users-csv of tenant acme.
func newTriggerStore(t *testing.T) (*Store, auth.Principal) {
	s, p, _ := newDestStore(t)
	ctx := context.Background()
	_, err := s.pool.Exec(ctx, `CREATE SCHEMA `+p.Schema)
	require.NoError(t, err)
	_, err = s.CreateDataset(ctx, p, &ferryv1.Dataset{Name: "users", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true}}})
	require.NoError(t, err)
	_, _, err = s.ApplyProfile(ctx, p, "users-csv", &ferryv1.ImportProfileSpec{Dataset: "users"})
	require.NoError(t, err)
	return s, p
}

func exportSpec(status ferryv1.ProfileStatus, tr *ferryv1.Triggers) *ferryv1.ExportProfileSpec {
	return &ferryv1.ExportProfileSpec{Dataset: "users", Format: ferryv1.ExportFormat_EXPORT_FORMAT_CSV, FileName: "users.csv",
		Csv: &ferryv1.ExportCSV{Delimiter: ",", LineEnding: "crlf", Encoding: "utf-8"}, Status: status, Triggers: tr}
}

func after(kind ferryv1.RunKind, profile string, statuses ...ferryv1.RunStatus) *ferryv1.Triggers {
	return &ferryv1.Triggers{After: []*ferryv1.RunEndedTrigger{{Profile: profile, Kind: kind, Statuses: statuses}}}
}

const (
	active = ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE
	draft  = ferryv1.ProfileStatus_PROFILE_STATUS_DRAFT
	kImp   = ferryv1.RunKind_RUN_KIND_UNSPECIFIED // import when unspecified
	kExp   = ferryv1.RunKind_RUN_KIND_EXPORT
)

// TestTriggerCycleRefused: a profile whose run-ended triggers close a
// circle is refused, naming the circle in the order runs would start; an
// export profile that waits for a profile that does not exist is invalid.
func TestTriggerCycleRefused(t *testing.T) {
	s, p := newTriggerStore(t)
	ctx := context.Background()
	k, _ := testKeyring(t, "k1")
	_, _, err := s.ApplyDestination(ctx, p, "partner", sftpSpec("pw"), k)
	require.NoError(t, err)
	sftp := &ferryv1.ImportProfileSpec{Dataset: "users", SftpSource: &ferryv1.SFTPSource{Connection: "partner"}}
	_, _, err = s.ApplyProfile(ctx, p, "users-sftp", sftp)
	require.NoError(t, err)
	_, _, err = s.ApplyExportProfile(ctx, p, "a", exportSpec(active, after(kImp, "users-sftp")))
	require.NoError(t, err)
	_, _, err = s.ApplyExportProfile(ctx, p, "b", exportSpec(active, after(kExp, "a")))
	require.NoError(t, err)

	sftp.Triggers = after(kExp, "b")
	_, _, err = s.ApplyProfile(ctx, p, "users-sftp", sftp)
	requireKind(t, errs.KindInvalid, "users-sftp → a → b → users-sftp", err)
	_, _, err = s.ApplyExportProfile(ctx, p, "a", exportSpec(active, after(kExp, "b")))
	requireKind(t, errs.KindInvalid, "a → b → a", err)
	_, _, err = s.ApplyExportProfile(ctx, p, "c", exportSpec(active, after(kExp, "c")))
	requireKind(t, errs.KindInvalid, "c → c", err)
	// An import and an export of one name are two profiles: no cycle.
	_, _, err = s.ApplyExportProfile(ctx, p, "users-csv", exportSpec(active, after(kImp, "users-csv")))
	require.NoError(t, err)

	ep, _, err := s.ApplyExportProfile(ctx, p, "d", exportSpec(active, after(kImp, "nope")))
	require.NoError(t, err)
	require.False(t, ep.GetValid())
	require.Contains(t, ep.GetProblems(), `triggers.after: import profile "nope" does not exist`)
	ep, _, err = s.ApplyExportProfile(ctx, p, "d", exportSpec(active, after(kExp, "b")))
	require.NoError(t, err)
	require.True(t, ep.GetValid(), "%v", ep.GetProblems())
}

// Two profiles applied at the same moment that would close a cycle only
// together: the checks are serialised, so one of them is refused.
func TestTriggerCycleConcurrent(t *testing.T) {
	s, p := newTriggerStore(t)
	ctx := context.Background()
	for i := range 10 {
		x, y := fmt.Sprintf("x%d", i), fmt.Sprintf("y%d", i)
		errc := make(chan error, 2)
		go func() { _, _, err := s.ApplyExportProfile(ctx, p, x, exportSpec(active, after(kExp, y))); errc <- err }()
		go func() { _, _, err := s.ApplyExportProfile(ctx, p, y, exportSpec(active, after(kExp, x))); errc <- err }()
		e1, e2 := <-errc, <-errc
		require.True(t, (e1 == nil) != (e2 == nil), "exactly one of two applies closing a cycle succeeds: %v, %v", e1, e2)
	}
}

// TestRunEndedFiresOnce: a run that ends starts one run of each active
// export profile waiting for it with a matching status, once however often
// the event arrives; drafts and other statuses start nothing; an active
// import profile with an SFTP source is asked to poll.
func TestRunEndedFiresOnce(t *testing.T) {
	s, p := newTriggerStore(t)
	ctx := context.Background()
	for name, spec := range map[string]*ferryv1.ExportProfileSpec{
		"on-success": exportSpec(active, after(kImp, "users-csv")),
		"on-failure": exportSpec(active, after(ferryv1.RunKind_RUN_KIND_IMPORT, "users-csv", ferryv1.RunStatus_RUN_STATUS_FAILED)),
		"drafted":    exportSpec(draft, after(kImp, "users-csv")),
		"on-export":  exportSpec(active, after(kExp, "users-csv")),
	} {
		_, _, err := s.ApplyExportProfile(ctx, p, name, spec)
		require.NoError(t, err)
	}
	k, _ := testKeyring(t, "k1")
	_, _, err := s.ApplyDestination(ctx, p, "partner", sftpSpec("pw"), k)
	require.NoError(t, err)
	_, _, err = s.ApplyProfile(ctx, p, "users-sftp", &ferryv1.ImportProfileSpec{Dataset: "users", Status: active,
		SftpSource: &ferryv1.SFTPSource{Connection: "partner"}, Triggers: after(kExp, "on-success")})
	require.NoError(t, err)

	names := func(fs []Fired) []string {
		var out []string
		for _, f := range fs {
			require.NoError(t, f.Err)
			out = append(out, f.Profile)
			if f.Snap != nil {
				run, err := s.GetRun(ctx, p, f.Snap.GetRunId())
				require.NoError(t, err)
				require.Equal(t, ferryv1.RunTrigger_RUN_TRIGGER_EVENT, run.GetTrigger())
				require.Equal(t, ferryv1.RunStatus_RUN_STATUS_QUEUED, run.GetStatus())
			}
		}
		return out
	}
	dry := &ferryv1.Run{Id: uuid.NewString(), Profile: "users-csv", Kind: ferryv1.RunKind_RUN_KIND_IMPORT, Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, DryRun: true}
	fired, err := s.RunEnded(ctx, p.TenantID.String(), dry)
	require.NoError(t, err)
	require.Empty(t, fired, "a dry run starts nothing")
	ok := &ferryv1.Run{Id: uuid.NewString(), Profile: "users-csv", Kind: ferryv1.RunKind_RUN_KIND_IMPORT, Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS}
	fired, err = s.RunEnded(ctx, p.TenantID.String(), ok)
	require.NoError(t, err)
	require.Equal(t, []string{"on-success"}, names(fired))
	fired, err = s.RunEnded(ctx, p.TenantID.String(), ok)
	require.NoError(t, err)
	require.Empty(t, fired, "a redelivered event fires nothing")

	failed := &ferryv1.Run{Id: uuid.NewString(), Profile: "users-csv", Kind: ferryv1.RunKind_RUN_KIND_IMPORT, Status: ferryv1.RunStatus_RUN_STATUS_FAILED}
	fired, err = s.RunEnded(ctx, p.TenantID.String(), failed)
	require.NoError(t, err)
	require.Equal(t, []string{"on-failure"}, names(fired))

	exported := &ferryv1.Run{Id: uuid.NewString(), Profile: "on-success", Kind: ferryv1.RunKind_RUN_KIND_EXPORT, Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED}
	fired, err = s.RunEnded(ctx, p.TenantID.String(), exported)
	require.NoError(t, err)
	require.Equal(t, []string{"users-sftp"}, names(fired))
	var requested bool
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT poll_requested_at IS NOT NULL FROM ferry.sftp_sources s JOIN ferry.import_profiles p ON p.id = s.profile_id
		WHERE p.name = 'users-sftp'`).Scan(&requested))
	require.True(t, requested)

	snaps, err := s.QueuedTriggeredRuns(ctx, 0, time.Minute)
	require.NoError(t, err)
	require.Len(t, snaps, 2, "both triggered runs are still queued")
}

func recordChange(t *testing.T, s *Store, p auth.Principal, dataset string) {
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return orchestration.RecordChange(ctx, tx, p.TenantID, dataset)
	}))
}

// TestDatasetChangeDebounce: changes within a debounce window start one run
// when the window closes, never before; a change after that run starts
// another after its own window; a draft never fires; replicas firing at
// once start one run.
func TestDatasetChangeDebounce(t *testing.T) {
	s, p := newTriggerStore(t)
	ctx := context.Background()
	window := &ferryv1.Triggers{OnDatasetChange: true, DebounceSeconds: 1}
	_, _, err := s.ApplyExportProfile(ctx, p, "on-change", exportSpec(active, window))
	require.NoError(t, err)
	_, _, err = s.ApplyExportProfile(ctx, p, "drafted", exportSpec(draft, window))
	require.NoError(t, err)
	_, err = s.CreateDataset(ctx, p, &ferryv1.Dataset{Name: "other", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true}}})
	require.NoError(t, err)

	// fire ticks as two replicas would, at once.
	fire := func() []string {
		var (
			mu  sync.Mutex
			out []string
			wg  sync.WaitGroup
		)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fired, err := s.FireDatasetChanges(ctx)
				require.NoError(t, err)
				mu.Lock()
				defer mu.Unlock()
				for _, f := range fired {
					require.NoError(t, f.Err)
					out = append(out, f.Profile)
				}
			}()
		}
		wg.Wait()
		return out
	}

	require.Empty(t, fire(), "no change, no run")
	recordChange(t, s, p, "other")
	start := time.Now()
	recordChange(t, s, p, "users")
	require.Empty(t, fire(), "the window is open")
	time.Sleep(300 * time.Millisecond)
	recordChange(t, s, p, "users")
	recordChange(t, s, p, "users")
	require.Empty(t, fire(), "the window is open")

	var got []string
	require.Eventually(t, func() bool {
		got = append(got, fire()...)
		return len(got) > 0
	}, 5*time.Second, 50*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), time.Second, "fired when the window closed")
	require.Equal(t, []string{"on-change"}, got, "three changes, one run")
	time.Sleep(1200 * time.Millisecond)
	require.Empty(t, fire(), "every change is in the run")

	recordChange(t, s, p, "users")
	require.Empty(t, fire())
	got = nil
	require.Eventually(t, func() bool {
		got = append(got, fire()...)
		return len(got) > 0
	}, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, []string{"on-change"}, got, "a later change, another run")

	var runs int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM ferry.runs WHERE profile_name = 'on-change' AND trigger = 'event'`).Scan(&runs))
	require.Equal(t, 2, runs)
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM ferry.runs WHERE profile_name = 'drafted'`).Scan(&runs))
	require.Zero(t, runs, "a draft never fires")
}
