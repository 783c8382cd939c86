package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// StartRun starts run "run-KEY" ("run-1" without a key) of any profile but
// "missing", and records the requests.
func (f *fakeRuns) StartRun(_ context.Context, req *ferryv1.StartRunRequest) (*ferryv1.StartRunResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.GetProfile() == "missing" {
		return nil, status.Errorf(codes.NotFound, "profile %q not found", req.GetProfile())
	}
	id := "run-1"
	if req.GetIdempotencyKey() != "" {
		id = "run-" + req.GetIdempotencyKey()
	}
	r := &ferryv1.Run{Id: id, Profile: req.GetProfile(), Kind: ferryv1.RunKind_RUN_KIND_EXPORT, Trigger: ferryv1.RunTrigger_RUN_TRIGGER_MANUAL,
		Status: ferryv1.RunStatus_RUN_STATUS_QUEUED}
	if _, ok := f.runs[id]; !ok {
		f.runs[id] = r
	}
	return &ferryv1.StartRunResponse{Run: f.runs[id]}, nil
}

func TestRunCommand(t *testing.T) {
	srv := startServer(t)
	res := srv.run(t, "", "run", "users-nightly", "--idempotency-key", "k1")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "run-k1\n", res.stdout)

	final := &ferryv1.Run{Id: "run-k2", Kind: ferryv1.RunKind_RUN_KIND_EXPORT, Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED,
		Outputs: []*ferryv1.RunOutput{{Name: "users.csv", Rows: 2, Role: "rows"}}}
	srv.runs.watch["run-k2"] = []*ferryv1.Run{{Id: "run-k2", Kind: ferryv1.RunKind_RUN_KIND_EXPORT, Status: ferryv1.RunStatus_RUN_STATUS_RUNNING}, final}
	res = srv.run(t, "", "run", "--wait", "--idempotency-key", "k2", "users-nightly")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "run-k2\nrun run-k2 succeeded")
	require.Contains(t, res.stdout, "exported 2 rows in 1 file")

	res = srv.run(t, "", "run", "missing")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `run missing: `)
	require.Contains(t, res.stderr, `profile "missing" not found`)
}

const scheduledYAML = `apiVersion: ferry.dev/v1
kind: ExportProfile
metadata: {name: nightly}
spec:
  dataset: users
  status: active
  triggers:
    schedule: {cron: "30 2 * * *", timeZone: America/New_York, catchUp: none}
    onDatasetChange: true
    debounceSeconds: 30
    after:
      - {profile: users-csv, statuses: [succeeded, succeeded_with_errors]}
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: drop}
spec:
  dataset: users
  status: active
  sftpSource: {connection: partner, directory: /in}
  triggers:
    schedule: {cron: "@daily"}
`

func TestTriggersYAML(t *testing.T) {
	srv := startServer(t)
	require.Equal(t, 0, srv.run(t, strings.Join([]string{usersYAML, scheduledYAML}, "---\n"), "apply", "-f", "-").code)
	ep := srv.exports.profiles["nightly"].GetSpec()
	require.Equal(t, ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, ep.GetStatus())
	require.Equal(t, "30 2 * * *", ep.GetTriggers().GetSchedule().GetCron())
	require.Equal(t, "America/New_York", ep.GetTriggers().GetSchedule().GetTimeZone())
	require.Equal(t, ferryv1.CatchUp_CATCH_UP_NONE, ep.GetTriggers().GetSchedule().GetCatchUp())
	require.True(t, ep.GetTriggers().GetOnDatasetChange())
	require.Equal(t, int32(30), ep.GetTriggers().GetDebounceSeconds())
	require.Equal(t, []ferryv1.RunStatus{ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS},
		ep.GetTriggers().GetAfter()[0].GetStatuses())
	ip := srv.profiles.stored["drop"].GetSpec()
	require.Equal(t, ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, ip.GetStatus())
	require.Equal(t, "@daily", ip.GetTriggers().GetSchedule().GetCron())

	res := srv.run(t, "", "get", "export", "nightly", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "triggers:\n    after:\n    - profile: users-csv\n      statuses:\n      - succeeded\n      - succeeded_with_errors\n")
	require.Contains(t, res.stdout, "    schedule:\n      catchUp: none\n      cron: 30 2 * * *\n      timeZone: America/New_York\n")
	res = srv.run(t, "", "get", "profile", "drop", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "status: active\n  triggers:\n    schedule:\n      cron: '@daily'\n")

	bad := "apiVersion: ferry.dev/v1\nkind: ExportProfile\nmetadata: {name: bad}\nspec:\n  dataset: users\n  triggers: {schedule: {cron: '@daily', catchUp: sometimes}}\n"
	res = srv.run(t, bad, "apply", "-f", "-")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `spec.triggers.schedule.catchUp: unknown catch-up policy "sometimes" (want one of: last, none)`)
}

func TestNextRunShown(t *testing.T) {
	srv := startServer(t)
	require.Equal(t, 0, srv.run(t, strings.Join([]string{usersYAML, scheduledYAML}, "---\n"), "apply", "-f", "-").code)
	first := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC) // 03:00 EDT: 02:30 does not exist that day
	var times []*timestamppb.Timestamp
	for i := 0; i < 5; i++ {
		times = append(times, timestamppb.New(first.Add(time.Duration(i)*24*time.Hour-time.Duration(min(i, 1))*30*time.Minute)))
	}
	srv.exports.profiles["nightly"].NextFireTimes = times
	srv.profiles.stored["drop"].NextFireTimes = []*timestamppb.Timestamp{timestamppb.New(time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC))}

	res := srv.run(t, "", "get", "exports")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "NEXT RUN")
	require.Contains(t, res.stdout, "2026-03-08 03:00 -04:00")
	res = srv.run(t, "", "get", "export", "nightly")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, `schedule: 30 2 * * * (America/New_York)
next runs:
  2026-03-08 03:00 -04:00
  2026-03-09 02:30 -04:00
  2026-03-10 02:30 -04:00
  2026-03-11 02:30 -04:00
  2026-03-12 02:30 -04:00
`)
	res = srv.run(t, "", "get", "profiles")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "drop ")
	require.Contains(t, res.stdout, "2026-03-09 00:00 +00:00")
}
