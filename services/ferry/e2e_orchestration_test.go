package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/testkit"
)

// streamMsgs returns every message a stream holds, in order.
func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var out []jetstream.Msg
	for {
		batch, err := cons.FetchNoWait(500)
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			out = append(out, m)
			n++
		}
		if n == 0 {
			return out
		}
	}
}

// runsOf lists the runs of a profile.
func (c *client) runsOf(t *testing.T, profile string) []*ferryv1.Run {
	t.Helper()
	resp, err := c.Runs.ListRuns(c.ctx(t), &ferryv1.ListRunsRequest{Profile: profile})
	require.NoError(t, err)
	return resp.GetRuns()
}

// waitTriggered waits until a profile has n runs and returns the newest,
// ended.
func (c *client) waitTriggered(t *testing.T, profile string, n int) *ferryv1.Run {
	t.Helper()
	var runs []*ferryv1.Run
	require.Eventually(t, func() bool {
		runs = c.runsOf(t, profile)
		return len(runs) >= n
	}, time.Minute, 100*time.Millisecond, "runs of %s", profile)
	require.Len(t, runs, n, "runs of %s", profile)
	newest := runs[0]
	for _, r := range runs {
		if r.GetCreateTime().AsTime().After(newest.GetCreateTime().AsTime()) {
			newest = r
		}
	}
	return c.waitRun(t, newest.GetId(), 2*time.Minute)
}

// TestChainedImportThenExport: an import of students-csv that succeeds
// starts the active export profile waiting for it, once, and the run of
// the export profile triggered by dataset changes; an import that fails
// starts neither, and a draft never runs. Every run's end is announced on
// ferry.runs.<tenant>.<profile>.<status>, export runs with their outputs;
// the import's changes are on the change feed.
func TestChainedImportThenExport(t *testing.T) {
	db := testkit.Database(t, true)
	natsAddr := freeAddr(t)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir(), "--nats-listen", natsAddr)
	c := dial(t, srv.GRPCAddr, srv.Key)
	applyResources(t, srv.GRPCAddr, srv.Key)
	nc, err := nats.Connect("nats://" + natsAddr)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	got, err := c.IP.GetImportProfile(c.ctx(t), &ferryv1.GetImportProfileRequest{Name: "students-csv"})
	require.NoError(t, err)
	spec := got.GetProfile().GetSpec()
	spec.PublishChanges = true
	spec.ErrorPolicy = &ferryv1.ErrorPolicy{MaxRejectedRows: 1}
	_, err = c.IP.ApplyImportProfile(c.ctx(t), &ferryv1.ApplyImportProfileRequest{Name: "students-csv", Spec: spec})
	require.NoError(t, err)

	afterImport := &ferryv1.Triggers{After: []*ferryv1.RunEndedTrigger{{Profile: "students-csv"}}}
	ep := c.applyExport(t, "district-extract", &ferryv1.ExportProfileSpec{Dataset: "students", FileName: "extract.csv",
		Status: ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, Triggers: afterImport})
	require.True(t, ep.GetValid(), "%v", ep.GetProblems())
	c.applyExport(t, "drafted", &ferryv1.ExportProfileSpec{Dataset: "students", FileName: "draft.csv", Triggers: afterImport})
	c.applyExport(t, "on-change", &ferryv1.ExportProfileSpec{Dataset: "students", FileName: "changes.csv",
		Status: ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, Triggers: &ferryv1.Triggers{OnDatasetChange: true, DebounceSeconds: 1}})
	// A cycle is refused when the profile is applied.
	_, err = c.Exp.ApplyExportProfile(c.ctx(t), &ferryv1.ApplyExportProfileRequest{Name: "loop", Spec: &ferryv1.ExportProfileSpec{
		Dataset: "students", FileName: "loop.csv", Triggers: &ferryv1.Triggers{After: []*ferryv1.RunEndedTrigger{{Profile: "loop", Kind: ferryv1.RunKind_RUN_KIND_EXPORT}}}}})
	require.ErrorContains(t, err, "loop → loop")

	rows := genStudents(5, 7)
	imp := importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, rows))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, imp.GetStatus(), imp.GetError())

	exp := c.waitTriggered(t, "district-extract", 1)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, exp.GetStatus(), exp.GetError())
	require.Equal(t, ferryv1.RunTrigger_RUN_TRIGGER_EVENT, exp.GetTrigger())
	require.NotEmpty(t, exp.GetOutputs())
	csvOut := string(c.download(t, exp.GetId(), exp.GetOutputs()[0].GetName()))
	for _, r := range rows {
		require.Contains(t, csvOut, r[0], "the export holds the imported rows")
	}
	changed := c.waitTriggered(t, "on-change", 1)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, changed.GetStatus(), changed.GetError())
	require.Equal(t, ferryv1.RunTrigger_RUN_TRIGGER_EVENT, changed.GetTrigger())

	// Two of three rows rejected with at most one allowed: the import fails.
	bad := genStudents(3, 8)
	for i := range bad[:2] {
		bad[i][3] = "not a number"
	}
	failed := importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, bad))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_FAILED, failed.GetStatus())
	time.Sleep(3 * time.Second)
	require.Len(t, c.runsOf(t, "district-extract"), 1, "a failed import starts no export")
	require.Len(t, c.runsOf(t, "on-change"), 1, "a failed import changes nothing")
	require.Empty(t, c.runsOf(t, "drafted"), "a draft never runs by itself")

	// Lifecycle events: one per run end, with the run.
	events := map[string]*ferryv1.RunEvent{}
	subjects := map[string]string{}
	for _, m := range streamMsgs(t, js, bus.StreamRuns) {
		var ev ferryv1.RunEvent
		require.NoError(t, proto.Unmarshal(m.Data(), &ev))
		events[ev.GetRun().GetId()] = &ev
		subjects[ev.GetRun().GetId()] = m.Subject()
	}
	tenant := events[imp.GetId()].GetTenantId()
	require.NotEmpty(t, tenant)
	require.Equal(t, bus.RunEventSubject(tenant, "students-csv", "succeeded"), subjects[imp.GetId()])
	require.EqualValues(t, 5, events[imp.GetId()].GetRun().GetCounts().GetInserted())
	require.Equal(t, bus.RunEventSubject(tenant, "students-csv", "failed"), subjects[failed.GetId()])
	require.Equal(t, bus.RunEventSubject(tenant, "district-extract", "succeeded"), subjects[exp.GetId()])
	require.NotEmpty(t, events[exp.GetId()].GetRun().GetOutputs(), "an export run's event names its outputs")
	require.EqualValues(t, 5, events[exp.GetId()].GetRun().GetCounts().GetRead())
	require.Equal(t, bus.RunEventSubject(tenant, "on-change", "succeeded"), subjects[changed.GetId()])

	// The change feed: the five inserted rows, after commit, under the
	// tenant's name; nothing of the failed import.
	var feed []*ferryv1.ChangeFeedEvent
	require.Eventually(t, func() bool {
		msgs := streamMsgs(t, js, bus.StreamChanges)
		feed = feed[:0]
		for _, m := range msgs {
			require.Equal(t, bus.ChangeSubject("default", "students"), m.Subject())
			var ev ferryv1.ChangeFeedEvent
			require.NoError(t, proto.Unmarshal(m.Data(), &ev))
			feed = append(feed, &ev)
		}
		return len(feed) >= 5
	}, 30*time.Second, 100*time.Millisecond)
	require.Len(t, feed, 5)
	for i, ev := range feed {
		require.Equal(t, "insert", ev.GetOp())
		require.Equal(t, rows[i][0], ev.GetKey()["student_id"])
		require.Equal(t, strings.TrimSpace(rows[i][1]), strings.TrimSpace(ev.GetFields()["name"]))
		require.Equal(t, imp.GetId(), ev.GetRun())
		require.Equal(t, "students-csv", ev.GetProfile())
	}
}
