package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/testkit"
)

const resources = `apiVersion: ferry.dev/v1
kind: Dataset
metadata:
  name: students
spec:
  fields:
    - {name: student_id, type: string, required: true}
    - {name: name, type: string, required: true}
    - {name: email, type: string}
    - {name: grade, type: integer}
    - {name: balance, type: decimal}
    - {name: active, type: boolean}
    - {name: born, type: date}
    - {name: notes, type: string}
  key: [student_id]
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata:
  name: students-csv
spec:
  dataset: students
  mappings:
    - {field: student_id, column: "Student ID"}
    - {field: name, column: "Full Name"}
    - {field: email, column: "E-mail"}
    - {field: grade, column: "Grade"}
    - {field: balance, column: "Balance"}
    - {field: active, column: "Active"}
    - {field: born, column: "Birth Date"}
    - {field: notes, column: "Notes"}
`

var header = []string{"Student ID", "Full Name", "E-mail", "Grade", "Balance", "Active", "Birth Date", "Notes"}

// student is one source row, as written in the file.
type student [8]string

var (
	firstNames = []string{"Zoë", "José", "Łukasz", "Siobhán", "Ann", "O'Brien", "Nguyễn", "李", "Ærøskøbing", "Bob"}
	lastNames  = []string{"Smith, Jr.", `Say "Hi"`, "Müller", "van der Berg", "Ødegård", "Ли", "D'Arcy", "Plain"}
)

// genStudents returns n students with ids 0000001...; every value class the
// importer must keep exactly: leading zeros, quoted commas, quotes, quoted
// newlines, unicode, empty (NULL) cells.
func genStudents(n int, seed int64) []student {
	r := rand.New(rand.NewSource(seed))
	out := make([]student, n)
	for i := range out {
		s := student{
			fmt.Sprintf("%07d", i+1),
			firstNames[r.Intn(len(firstNames))] + " " + lastNames[r.Intn(len(lastNames))],
			fmt.Sprintf("s%d@school.example", i+1),
			fmt.Sprint(r.Intn(12) + 1),
			fmt.Sprintf("%d.%02d", r.Intn(100000)-50000, r.Intn(100)),
			[]string{"true", "false"}[r.Intn(2)],
			fmt.Sprintf("%04d-%02d-%02d", 2005+r.Intn(10), 1+r.Intn(12), 1+r.Intn(28)),
			"",
		}
		switch i % 7 {
		case 0:
			s[7] = "line one\nline two, with comma"
		case 1:
			s[7] = `quote "inside"`
		case 2:
			s[2], s[3], s[4], s[6] = "", "", "", "" // NULLs
		case 3:
			s[7] = "crlf\r\ninside"
		}
		out[i] = s
	}
	return out
}

func writeCSV(t testing.TB, rows []student) string {
	path := filepath.Join(t.TempDir(), "students.csv")
	f, err := os.Create(path)
	require.NoError(t, err)
	// UseCRLF would also rewrite the newlines inside fields; LF files with
	// CRLF inside some quoted values test both.
	w := csv.NewWriter(f)
	require.NoError(t, w.Write(header))
	for _, r := range rows {
		require.NoError(t, w.Write(r[:]))
	}
	w.Flush()
	require.NoError(t, w.Error())
	require.NoError(t, f.Close())
	return path
}

// readStudents returns the dataset's rows as text, keyed by student id.
func readStudents(t testing.TB, dbURL, schema string) map[string]student {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT student_id, name, coalesce(email, ''), coalesce(grade::text, ''), coalesce(balance::text, ''),
		coalesce(active::text, ''), coalesce(born::text, ''), coalesce(notes, '') FROM %s.students`, schema))
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]student{}
	for rows.Next() {
		var s student
		require.NoError(t, rows.Scan(&s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6], &s[7]))
		out[s[0]] = s
	}
	require.NoError(t, rows.Err())
	return out
}

// requireSameStudents compares every row in PostgreSQL with the source.
func requireSameStudents(t testing.TB, want []student, got map[string]student) {
	t.Helper()
	require.Len(t, got, len(want))
	bad := 0
	for _, w := range want {
		if g := got[w[0]]; g != w {
			bad++
			if bad <= 5 {
				t.Errorf("row %s: got %q, want %q", w[0], g, w)
			}
		}
	}
	require.Zero(t, bad, "rows that differ from the source")
}

// importFile imports path with the CLI and waits; it returns the ended run.
func importFile(t testing.TB, c *client, addr, key, profile, path string) *ferryv1.Run {
	t.Helper()
	stdout, stderr, code := runCLI(t, addr, key, "import", profile, path, "--wait")
	runID := strings.TrimSpace(strings.SplitN(stdout, "\n", 2)[0])
	require.NotEmpty(t, runID, "stdout %q stderr %q", stdout, stderr)
	run := c.waitRun(t, runID, 5*time.Minute)
	if run.GetStatus() == ferryv1.RunStatus_RUN_STATUS_FAILED {
		require.NotZero(t, code)
	} else {
		require.Zero(t, code, "stdout %q stderr %q", stdout, stderr)
	}
	return run
}

func requireCounts(t testing.TB, run *ferryv1.Run, read, inserted, updated, unchanged, rejected int64) {
	t.Helper()
	c := run.GetCounts()
	require.Equal(t, [5]int64{read, inserted, updated, unchanged, rejected},
		[5]int64{c.GetRead(), c.GetInserted(), c.GetUpdated(), c.GetUnchanged(), c.GetRejected()},
		"read, inserted, updated, unchanged, rejected of run %s (%s)", run.GetId(), run.GetError())
}

func applyResources(t testing.TB, addr, key string) {
	path := filepath.Join(t.TempDir(), "resources.yaml")
	require.NoError(t, os.WriteFile(path, []byte(resources), 0o600))
	out, errOut, code := runCLI(t, addr, key, "apply", "-f", path)
	require.Zero(t, code, errOut)
	require.Contains(t, out, "dataset/students")
}

// TestImportEndToEnd imports a generated 200 000-row file through the built
// binary and compares every row; then the same file again (nothing changes)
// and a file with some rows changed and added (exact counts).
func TestImportEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a 200 000-row file three times (make test-heavy runs it)")
	}
	db := testkit.Database(t, false) // the server creates it
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir(), "--ingest-chunk-size", "65536")
	require.NotEmpty(t, srv.Key, "bootstrap key printed")
	c := dial(t, srv.GRPCAddr, srv.Key)
	applyResources(t, srv.GRPCAddr, srv.Key)

	const n = 200_000
	rows := genStudents(n, 1)
	path := writeCSV(t, rows)

	run := importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", path)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	requireCounts(t, run, n, n, 0, 0, 0)
	require.Greater(t, run.GetChunksTotal(), int64(100), "the file flowed as many chunks")
	require.Equal(t, run.GetChunksTotal(), run.GetChunksDone())
	require.Len(t, run.GetFile().GetSha256(), 64)
	require.EqualValues(t, 1, run.GetProfileVersion())
	requireSameStudents(t, rows, readStudents(t, db, "tenant_default"))

	// The same file again: nothing changes, nothing is written.
	run = importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", path)
	requireCounts(t, run, n, 0, 0, n, 0)

	// Change every 200th name, add 500 rows.
	changed := append([]student{}, rows...)
	for i := 0; i < n; i += 200 {
		changed[i][1] = "Renamed " + changed[i][1]
	}
	changed = append(changed, genStudents(n+500, 2)[n:]...)
	run = importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, changed))
	requireCounts(t, run, n+500, 500, n/200, n-n/200, 0)
	requireSameStudents(t, changed, readStudents(t, db, "tenant_default"))

	// Runs are listed newest first, with the version they used.
	list, err := c.Runs.ListRuns(c.ctx(t), &ferryv1.ListRunsRequest{Profile: "students-csv", PageSize: 2})
	require.NoError(t, err)
	require.Len(t, list.GetRuns(), 2)
	require.Equal(t, run.GetId(), list.GetRuns()[0].GetId())
	require.NotEmpty(t, list.GetNextPageToken())
	next, err := c.Runs.ListRuns(c.ctx(t), &ferryv1.ListRunsRequest{Profile: "students-csv", PageSize: 2, PageToken: list.GetNextPageToken()})
	require.NoError(t, err)
	require.Len(t, next.GetRuns(), 1)
	require.Empty(t, next.GetNextPageToken())

	succeeded, err := c.Runs.ListRuns(c.ctx(t), &ferryv1.ListRunsRequest{Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED})
	require.NoError(t, err)
	require.Len(t, succeeded.GetRuns(), 3)
	failed, err := c.Runs.ListRuns(c.ctx(t), &ferryv1.ListRunsRequest{Status: ferryv1.RunStatus_RUN_STATUS_FAILED})
	require.NoError(t, err)
	require.Empty(t, failed.GetRuns())

	out, _, code := runCLI(t, srv.GRPCAddr, srv.Key, "get", "runs")
	require.Zero(t, code)
	require.Contains(t, out, run.GetId())
	out, _, code = runCLI(t, srv.GRPCAddr, srv.Key, "runs", "watch", run.GetId())
	require.Zero(t, code)
	require.Contains(t, out, "succeeded")
}
