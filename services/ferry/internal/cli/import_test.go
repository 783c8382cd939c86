package cli

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestImportStreamsTheFile(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{name: "empty", size: 0},
		{name: "small", size: 100},
		{name: "several messages", size: 3*uploadChunkSize + 123},
		{name: "exact multiple", size: 2 * uploadChunkSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t)
			data := randomBytes(tt.size)
			path := writeFile(t, "users.csv", string(data))

			res := srv.run(t, "", "import", "users-csv", path)
			require.Equal(t, 0, res.code, res.stderr)
			require.Equal(t, "run-1\n", res.stdout)

			msgs := srv.ingest.messages
			require.NotEmpty(t, msgs)
			require.Equal(t, &ferryv1.UploadHeader{Profile: "users-csv", FileName: "users.csv", Size: int64(tt.size)}, msgs[0].GetHeader())
			var got bytes.Buffer
			for i, m := range msgs[1:] {
				data, ok := m.GetPart().(*ferryv1.UploadRequest_Data)
				require.True(t, ok, "message %d is not data", i+1)
				require.LessOrEqual(t, len(data.Data), 1<<20)
				if i < len(msgs)-2 {
					require.GreaterOrEqual(t, len(data.Data), 64<<10)
				}
				got.Write(data.Data)
			}
			require.True(t, bytes.Equal(data, got.Bytes()), "the bytes received differ from the file")
			require.Equal(t, (tt.size+uploadChunkSize-1)/uploadChunkSize, len(msgs)-1)
			srv.requireAuth(t, testKey)
		})
	}
}

func TestImportFromStdin(t *testing.T) {
	srv := startServer(t)
	res := srv.run(t, "id,email\n1,a@example.com\n", "import", "users-csv", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, &ferryv1.UploadHeader{Profile: "users-csv", FileName: "stdin"}, srv.ingest.messages[0].GetHeader())
	require.Equal(t, []byte("id,email\n1,a@example.com\n"), srv.ingest.messages[1].GetData())
}

func TestImportErrors(t *testing.T) {
	srv := startServer(t)
	// Large enough that the server answers while the file is still being sent.
	path := writeFile(t, "users.csv", string(randomBytes(8*uploadChunkSize)))
	res := srv.run(t, "", "import", "missing", path, "--wait")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: upload users.csv to missing: import profile missing not found\n", res.stderr)
	require.Empty(t, res.stdout)
	require.NotContains(t, srv.methods(), "WatchRun")

	res = srv.run(t, "", "import", "users-csv", "/no/such/file.csv")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: import /no/such/file.csv: open /no/such/file.csv: no such file or directory\n", res.stderr)
}

// runStates is what watching run-1 shows before it ends as final.
func runStates(final *ferryv1.Run) []*ferryv1.Run {
	final.Id, final.Profile = "run-1", "users-csv"
	final.StartTime = timestamppb.New(time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC))
	final.EndTime = timestamppb.New(final.StartTime.AsTime().Add(2 * time.Second))
	return []*ferryv1.Run{
		{Id: "run-1", Profile: "users-csv", Status: ferryv1.RunStatus_RUN_STATUS_QUEUED},
		{Id: "run-1", Profile: "users-csv", Status: ferryv1.RunStatus_RUN_STATUS_RUNNING},
		{Id: "run-1", Profile: "users-csv", Status: ferryv1.RunStatus_RUN_STATUS_RUNNING, ChunksTotal: 2, ChunksDone: 1, Counts: &ferryv1.RunCounts{Read: 50}},
		final,
	}
}

func manyRejects(n int) []*ferryv1.Reject {
	var out []*ferryv1.Reject
	for i := range n {
		out = append(out, &ferryv1.Reject{Row: int64(i + 2), Column: "email", Value: fmt.Sprintf("bad%d", i), Reason: "not an e-mail address"})
	}
	return out
}

func TestImportWait(t *testing.T) {
	counts := &ferryv1.RunCounts{Read: 100, Inserted: 90, Updated: 5, Unchanged: 3, Superseded: 2}
	withRejects := &ferryv1.RunCounts{Read: 100, Inserted: 70, Updated: 5, Unchanged: 0, Superseded: 0, Rejected: 25}
	tests := []struct {
		name       string
		final      *ferryv1.Run
		code       int
		stdout     string
		stderrTail string
	}{
		{
			name:  "succeeded",
			final: &ferryv1.Run{Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, Counts: counts},
			code:  0,
			stdout: "run-1\nrun run-1 succeeded in 2s\n" +
				"read 100, inserted 90, updated 5, unchanged 3, superseded 2, rejected 0\n",
			stderrTail: "run run-1 running\n",
		},
		{
			name:  "succeeded with errors",
			final: &ferryv1.Run{Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS, Counts: withRejects},
			code:  0,
			stdout: "run-1\nrun run-1 succeeded_with_errors in 2s\n" +
				"read 100, inserted 70, updated 5, unchanged 0, superseded 0, rejected 25\n\n" +
				"first 20 of 25 rejects (all of them: ferry runs rejects run-1 --table):\n" +
				"ROW   COLUMN   VALUE   REASON\n" +
				"2     email    bad0    not an e-mail address\n",
			stderrTail: "run run-1 running\n",
		},
		{
			name:       "failed",
			final:      &ferryv1.Run{Status: ferryv1.RunStatus_RUN_STATUS_FAILED, Error: `no column "id" in the header`, Counts: &ferryv1.RunCounts{}},
			code:       1,
			stdout:     "run-1\nrun run-1 failed in 2s\nread 0, inserted 0, updated 0, unchanged 0, superseded 0, rejected 0\n",
			stderrTail: "ferry: run run-1 failed: no column \"id\" in the header\n",
		},
		{
			name:       "canceled",
			final:      &ferryv1.Run{Status: ferryv1.RunStatus_RUN_STATUS_CANCELED, Error: "canceled by key ci", Counts: &ferryv1.RunCounts{Read: 50}},
			code:       1,
			stdout:     "run-1\nrun run-1 canceled in 2s\nread 50, inserted 0, updated 0, unchanged 0, superseded 0, rejected 0\n",
			stderrTail: "run run-1 running\nferry: run run-1 canceled: canceled by key ci\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t)
			srv.runs.watch["run-1"] = runStates(tt.final)
			srv.runs.rejects["run-1"] = manyRejects(25)
			path := writeFile(t, "users.csv", "id,email\n")

			res := srv.run(t, "", "import", "users-csv", path, "--wait")
			require.Equal(t, tt.code, res.code, res.stderr)
			require.True(t, strings.HasPrefix(res.stdout, tt.stdout), res.stdout)
			// Not a terminal: one line per status, the first being queued.
			require.True(t, strings.HasPrefix(res.stderr, "run run-1 queued\nrun run-1 running\n"), res.stderr)
			require.True(t, strings.HasSuffix(res.stderr, tt.stderrTail), res.stderr)
			if tt.final.GetCounts().GetRejected() > 0 {
				require.Equal(t, 20, strings.Count(res.stdout, "not an e-mail address\n"))
				require.Equal(t, int32(shownRejects), srv.runs.rejectReqs[0].GetPageSize())
			} else {
				require.Empty(t, srv.runs.rejectReqs)
			}
			srv.requireAuth(t, testKey)
		})
	}
}

func TestWatchReconnects(t *testing.T) {
	srv := startServer(t)
	srv.runs.watch["run-1"] = runStates(&ferryv1.Run{Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, Counts: &ferryv1.RunCounts{Read: 3, Inserted: 3}})
	srv.runs.breakAfter = 2

	res := srv.run(t, "", "runs", "watch", "run-1")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "run run-1 succeeded in 2s\nread 3, inserted 3, updated 0, unchanged 0, superseded 0, rejected 0\n", res.stdout)
	require.Equal(t, "run run-1 queued\nrun run-1 running\n"+
		"run run-1: watch interrupted (server is shutting down); reconnecting in 250ms\n", res.stderr)
	require.Equal(t, 2, srv.runs.watchCalls)
}

func TestWatchUnknownRun(t *testing.T) {
	srv := startServer(t)
	res := srv.run(t, "", "runs", "watch", "nope")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: watch run nope: run nope not found\n", res.stderr)
	require.Equal(t, 1, srv.runs.watchCalls)
}
