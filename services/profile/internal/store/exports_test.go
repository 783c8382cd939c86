package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
)

// TestDraftRunsOnlyByHand checks that a draft export profile runs when a
// person starts it and is refused to schedules and events; an active one
// runs for all of them.
func TestDraftRunsOnlyByHand(t *testing.T) {
	s, p, spec := nightlyExport(t)
	ctx := context.Background()

	_, _, err := s.CreateExportRun(ctx, p, "nightly", ferryv1.RunTrigger_RUN_TRIGGER_MANUAL)
	require.NoError(t, err, "a draft runs by hand")
	for _, trigger := range []ferryv1.RunTrigger{ferryv1.RunTrigger_RUN_TRIGGER_SCHEDULE, ferryv1.RunTrigger_RUN_TRIGGER_EVENT} {
		_, _, err = s.CreateExportRun(ctx, p, "nightly", trigger)
		require.Error(t, err)
		require.True(t, errs.Is(err, errs.KindFailedPrecondition), "want failed-precondition, got %v", err)
		require.ErrorContains(t, err, `export profile "nightly" is a draft`)
	}

	spec.Status = ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE
	_, _, err = s.ApplyExportProfile(ctx, p, "nightly", spec)
	require.NoError(t, err)
	for _, trigger := range []ferryv1.RunTrigger{ferryv1.RunTrigger_RUN_TRIGGER_MANUAL, ferryv1.RunTrigger_RUN_TRIGGER_SCHEDULE, ferryv1.RunTrigger_RUN_TRIGGER_EVENT} {
		_, _, err = s.CreateExportRun(ctx, p, "nightly", trigger)
		require.NoError(t, err, "an active profile runs by %v", trigger)
	}
}

// TestAnnounced records the status whose lifecycle event was published:
// each status of a run is announced once.
func TestAnnounced(t *testing.T) {
	s, p, _ := nightlyExport(t)
	ctx := context.Background()
	run, _, err := s.CreateExportRun(ctx, p, "nightly", ferryv1.RunTrigger_RUN_TRIGGER_MANUAL)
	require.NoError(t, err)

	done, err := s.Announced(ctx, run.GetId(), "awaiting_approval")
	require.NoError(t, err)
	require.False(t, done)
	require.NoError(t, s.MarkAnnounced(ctx, run.GetId(), "awaiting_approval"))
	done, err = s.Announced(ctx, run.GetId(), "awaiting_approval")
	require.NoError(t, err)
	require.True(t, done)
	done, err = s.Announced(ctx, run.GetId(), "succeeded")
	require.NoError(t, err)
	require.False(t, done, "a new status is announced again")
	_, err = s.Announced(ctx, "00000000-0000-0000-0000-000000000000", "succeeded")
	require.Error(t, err)
}

// nightlyExport is a store with a tenant whose dataset users has the draft
// CSV export profile nightly, with its spec.
func nightlyExport(t *testing.T) (*Store, auth.Principal, *ferryv1.ExportProfileSpec) {
	t.Helper()
	x, p, _ := newXRefs(t)
	ctx := context.Background()
	s := New(x.pool)
	_, err := s.pool.Exec(ctx, `CREATE SCHEMA `+p.Schema)
	require.NoError(t, err)
	_, err = s.CreateDataset(ctx, p, &ferryv1.Dataset{Name: "users", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true}}})
	require.NoError(t, err)
	spec := &ferryv1.ExportProfileSpec{Dataset: "users", Format: ferryv1.ExportFormat_EXPORT_FORMAT_CSV, FileName: "users.csv",
		Csv: &ferryv1.ExportCSV{Delimiter: ",", LineEnding: "crlf", Encoding: "utf-8"}}
	_, _, err = s.ApplyExportProfile(ctx, p, "nightly", spec)
	require.NoError(t, err)
	return s, p, spec
}
