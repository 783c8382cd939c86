package cli

import (
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func at(minute int) *timestamppb.Timestamp {
	return timestamppb.New(time.Date(2026, 3, 4, 5, minute, 0, 0, time.UTC))
}

// seedRuns stores three runs, their rejects and what watching them shows.
func seedRuns(srv *fakeServer) {
	srv.runs.runs["r1"] = &ferryv1.Run{
		Id: "r1", Profile: "users-csv", ProfileVersion: 1, Dataset: "users", Trigger: ferryv1.RunTrigger_RUN_TRIGGER_UPLOAD,
		Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, File: &ferryv1.RunFile{Name: "users.csv", Size: 2048, Sha256: "abc123"},
		Counts:      &ferryv1.RunCounts{Read: 1200, Inserted: 1000, Updated: 150, Unchanged: 50},
		ChunksTotal: 2, ChunksDone: 2, CreateTime: at(1), StartTime: at(1), EndTime: at(2),
	}
	srv.runs.runs["r2"] = &ferryv1.Run{
		Id: "r2", Profile: "users-csv", ProfileVersion: 2, Dataset: "users", Trigger: ferryv1.RunTrigger_RUN_TRIGGER_UPLOAD,
		Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS, File: &ferryv1.RunFile{Name: "users2.csv", Size: 4096, Sha256: "def456"},
		Counts:      &ferryv1.RunCounts{Read: 10, Inserted: 7, Superseded: 1, Rejected: 2},
		ChunksTotal: 1, ChunksDone: 1, CreateTime: at(10), StartTime: at(10), EndTime: timestamppb.New(at(10).AsTime().Add(1500 * time.Millisecond)),
	}
	srv.runs.runs["r3"] = &ferryv1.Run{
		Id: "r3", Profile: "groups-csv", ProfileVersion: 1, Dataset: "groups", Kind: ferryv1.RunKind_RUN_KIND_IMPORT, Trigger: ferryv1.RunTrigger_RUN_TRIGGER_UPLOAD,
		Status: ferryv1.RunStatus_RUN_STATUS_FAILED, Error: "row 1: no column \"code\" in the header",
		File: &ferryv1.RunFile{Name: "groups.csv", Size: 10}, Counts: &ferryv1.RunCounts{}, CreateTime: at(20),
	}
	srv.runs.rejects["r2"] = []*ferryv1.Reject{
		{Row: 3, Column: "E-mail", Value: "not-an-email", Reason: "not an e-mail address"},
		{Row: 9, Column: "ID", Value: "", Reason: "required field id is empty"},
	}
}

func TestRunsGet(t *testing.T) {
	srv := startServer(t)
	seedRuns(srv)
	res := srv.run(t, "", "runs", "get", "r3")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, `ID:          r3
Kind:        import
Profile:     groups-csv (version 1)
Dataset:     groups
Trigger:     upload
Status:      failed
Error:       row 1: no column "code" in the header
File:        groups.csv
Size:        10 bytes (10 B)
SHA-256:     -
Chunks:      0 done, total not known yet
Created:     2026-03-04T05:20:00Z
Started:     -
Ended:       -
Read:        0
Inserted:    0
Updated:     0
Unchanged:   0
Superseded:  0
Rejected:    0
Deleted:     0
Held:        0
`, res.stdout)

	res = srv.run(t, "", "runs", "get", "r9")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: get run r9: run r9 not found\n", res.stderr)
}

func TestRunsCancel(t *testing.T) {
	srv := startServer(t)
	seedRuns(srv)
	res := srv.run(t, "", "runs", "cancel", "r1")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "run r1 canceled\n", res.stdout)
	require.Equal(t, []string{"r1"}, srv.runs.canceled)
}

func TestRunsRejects(t *testing.T) {
	srv := startServer(t)
	rejects := manyRejects(2500)
	rejects[7] = &ferryv1.Reject{Row: 9, Column: "name, full", Value: "say \"hi\"\nthere", Reason: "too long"}
	rejects[8] = &ferryv1.Reject{Row: 10, Value: "", Reason: "row has 3 columns, the header 4"}
	srv.runs.rejects["r2"] = rejects

	res := srv.run(t, "", "runs", "rejects", "r2", "--csv")
	require.Equal(t, 0, res.code, res.stderr)
	records, err := csv.NewReader(strings.NewReader(res.stdout)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"row", "column", "value", "reason"}, records[0])
	require.Len(t, records, 2501)
	for i, r := range rejects {
		require.Equal(t, []string{strconv.FormatInt(r.GetRow(), 10), r.GetColumn(), r.GetValue(), r.GetReason()}, records[i+1])
	}
	require.Contains(t, res.stdout, "9,\"name, full\",\"say \"\"hi\"\"\nthere\",too long\n")
	// Three pages of 1000.
	require.Len(t, srv.runs.rejectReqs, 3)
	require.Equal(t, []string{"", "1000", "2000"}, []string{srv.runs.rejectReqs[0].GetPageToken(), srv.runs.rejectReqs[1].GetPageToken(), srv.runs.rejectReqs[2].GetPageToken()})

	srv.runs.rejects["r2"] = rejects[7:9]
	res = srv.run(t, "", "runs", "rejects", "r2", "--table")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, `ROW   COLUMN       VALUE                 REASON
9     name, full   "say \"hi\"\nthere"   too long
10    -            ""                    row has 3 columns, the header 4
`, res.stdout)

	srv.runs.rejects["r2"] = nil
	res = srv.run(t, "", "runs", "rejects", "r2", "--table")
	require.Equal(t, 0, res.code, res.stderr)
	require.Empty(t, res.stdout)
	require.Equal(t, "Run r2 rejected no rows.\n", res.stderr)

	// Without a flag the report file is written as the server streams it.
	srv.runs.report["r2"] = []string{"\xEF\xBB\xBFid,name,_row,_column,_value,_error\r\n", "k1,,2,name,,required field \"name\" is empty\r\n"}
	res = srv.run(t, "", "runs", "rejects", "r2")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "\xEF\xBB\xBFid,name,_row,_column,_value,_error\r\nk1,,2,name,,required field \"name\" is empty\r\n", res.stdout)
	res = srv.run(t, "", "runs", "rejects", "nope")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "download rejects of run nope")
}
