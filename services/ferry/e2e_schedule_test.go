package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// TestRunWithIdempotencyKeyAndNextRuns starts an export profile with
// `ferry run` twice under one idempotency key (one run), refuses to run an
// import profile without a file, and shows a schedule's next fire times in
// its zone.
func TestRunWithIdempotencyKeyAndNextRuns(t *testing.T) {
	srv, c, _ := startExportServer(t)
	sched := &ferryv1.Schedule{Cron: "30 2 * * *", TimeZone: "America/New_York"}
	c.applyExport(t, "students-nightly", &ferryv1.ExportProfileSpec{Dataset: "students", Status: ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE,
		Triggers: &ferryv1.Triggers{Schedule: sched}})
	c.applyExport(t, "students-draft", &ferryv1.ExportProfileSpec{Dataset: "students", Triggers: &ferryv1.Triggers{Schedule: sched}})

	out, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "run", "students-nightly", "--idempotency-key", "e2e-1", "--wait")
	require.Zero(t, code, errOut)
	lines := strings.Split(out, "\n")
	id := lines[0]
	require.Regexp(t, `^[0-9a-f-]{36}$`, id)
	require.Contains(t, out, "run "+id+" succeeded")

	again, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "run", "students-nightly", "--idempotency-key", "e2e-1")
	require.Zero(t, code, errOut)
	require.Equal(t, id+"\n", again, "the same key returns the same run")
	runs, err := c.Runs.ListRuns(c.ctx(t), &ferryv1.ListRunsRequest{Profile: "students-nightly"})
	require.NoError(t, err)
	require.Len(t, runs.GetRuns(), 1)
	require.Equal(t, ferryv1.RunTrigger_RUN_TRIGGER_MANUAL, runs.GetRuns()[0].GetTrigger())

	_, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "run", "students-csv")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "an import run needs a file: upload it (ferry import PROFILE FILE)")

	// Next fire times: 02:30 New York time, or 03:00 on the day the clocks
	// skip 02:30; a draft shows none.
	got, err := c.Exp.GetExportProfile(c.ctx(t), &ferryv1.GetExportProfileRequest{Name: "students-nightly"})
	require.NoError(t, err)
	require.Len(t, got.GetProfile().GetNextFireTimes(), 5)
	require.True(t, got.GetProfile().GetNextFireTimes()[0].AsTime().After(time.Now()))
	fire := regexp.MustCompile(`\d{4}-\d\d-\d\d (02:30|03:00) -0[45]:00`)
	out, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "get", "exports")
	require.Zero(t, code, errOut)
	require.Contains(t, out, "NEXT RUN")
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "students-nightly "):
			require.Regexp(t, fire, line)
		case strings.HasPrefix(line, "students-draft "):
			require.True(t, strings.HasSuffix(strings.TrimSpace(line), " -"), line)
		}
	}
	out, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "get", "export", "students-nightly")
	require.Zero(t, code, errOut)
	require.Contains(t, out, "schedule: 30 2 * * * (America/New_York)\nnext runs:\n")
	require.Len(t, fire.FindAllString(out, -1), 6, "the NEXT RUN column and five next runs:\n%s", out)
}
