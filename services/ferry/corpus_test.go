package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/testkit"
)

// corpusDir holds the file corpus: one folder per case with input.*,
// case.yaml (dataset and profile) and expected.json.
const corpusDir = "testdata/corpus"

type corpusCase struct {
	Description string         `json:"description"`
	Dataset     map[string]any `json:"dataset"`
	Profile     map[string]any `json:"profile"`
}

type corpusExpect struct {
	Status  string               `json:"status"`
	Error   string               `json:"error"`
	Counts  map[string]int64     `json:"counts"`
	Rows    []map[string]*string `json:"rows"`
	Rejects []struct {
		Row    int64  `json:"row"`
		Column string `json:"column"`
		Reason string `json:"reason"`
	} `json:"rejects"`
}

// TestCorpus runs every file of the corpus through the real import path,
// upload to rows in PostgreSQL, and compares rows, rejects and status.
func TestCorpus(t *testing.T) {
	entries, err := os.ReadDir(corpusDir)
	require.NoError(t, err)
	var cases []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "gen" {
			cases = append(cases, e.Name())
		}
	}
	require.GreaterOrEqual(t, len(cases), 40, "the corpus has at least 40 files")

	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir(), "--ingest-chunk-size", "4096")
	c := dial(t, srv.GRPCAddr, srv.Key)
	conn, err := pgx.Connect(context.Background(), db)
	require.NoError(t, err)
	defer conn.Close(context.Background())

	for i, name := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(corpusDir, name)
			var cc corpusCase
			raw, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
			require.NoError(t, err)
			require.NoError(t, yaml.UnmarshalStrict(raw, &cc), "case.yaml")
			var want corpusExpect
			raw, err = os.ReadFile(filepath.Join(dir, "expected.json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(raw, &want), "expected.json")
			inputs, err := filepath.Glob(filepath.Join(dir, "input.*"))
			require.NoError(t, err)
			require.Len(t, inputs, 1, "one input file")

			ds := fmt.Sprintf("c%03d", i+1)
			cc.Profile["dataset"] = ds
			docs := []map[string]any{
				{"apiVersion": "ferry.dev/v1", "kind": "Dataset", "metadata": map[string]any{"name": ds}, "spec": cc.Dataset},
				{"apiVersion": "ferry.dev/v1", "kind": "ImportProfile", "metadata": map[string]any{"name": ds}, "spec": cc.Profile},
			}
			var text strings.Builder
			for _, d := range docs {
				b, err := yaml.Marshal(d)
				require.NoError(t, err)
				text.WriteString("---\n")
				text.Write(b)
			}
			res := filepath.Join(t.TempDir(), "case.yaml")
			require.NoError(t, os.WriteFile(res, []byte(text.String()), 0o600))
			_, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", res)
			require.Zero(t, code, errOut)

			out, errOut, _ := runCLI(t, srv.GRPCAddr, srv.Key, "import", ds, inputs[0])
			runID := strings.TrimSpace(out)
			require.NotEmpty(t, runID, errOut)
			run := c.waitRun(t, runID, 3*time.Minute)
			status := strings.ToLower(strings.TrimPrefix(run.GetStatus().String(), "RUN_STATUS_"))
			require.Equal(t, want.Status, status, "%s: run error %q", cc.Description, run.GetError())
			if want.Error != "" {
				require.Contains(t, run.GetError(), want.Error)
			}
			counts := map[string]int64{"read": run.GetCounts().GetRead(), "inserted": run.GetCounts().GetInserted(),
				"updated": run.GetCounts().GetUpdated(), "unchanged": run.GetCounts().GetUnchanged(),
				"rejected": run.GetCounts().GetRejected(), "superseded": run.GetCounts().GetSuperseded()}
			for k, v := range want.Counts {
				require.Equal(t, v, counts[k], "count %s", k)
			}

			rejects := listRejects(t, c, runID)
			require.Len(t, rejects, len(want.Rejects), "rejects: %v", rejects)
			for j, w := range want.Rejects {
				got := rejects[j]
				require.Equal(t, w.Row, got.GetRow(), "reject %d row (%v)", j, got)
				require.Equal(t, w.Column, got.GetColumn(), "reject %d column (%v)", j, got)
				require.Contains(t, got.GetReason(), w.Reason, "reject %d reason", j)
			}
			requireCorpusRows(t, conn, ds, cc.Dataset, want.Rows)
		})
	}
}

func listRejects(t *testing.T, c *client, runID string) []*ferryv1.Reject {
	var out []*ferryv1.Reject
	token := ""
	for {
		r, err := c.Runs.ListRunRejects(c.ctx(t), &ferryv1.ListRunRejectsRequest{Id: runID, PageToken: token})
		require.NoError(t, err)
		out = append(out, r.GetRejects()...)
		if token = r.GetNextPageToken(); token == "" {
			return out
		}
	}
}

// requireCorpusRows compares the dataset's rows, as text, with want.
func requireCorpusRows(t *testing.T, conn *pgx.Conn, table string, dataset map[string]any, want []map[string]*string) {
	var fields []string
	for _, f := range dataset["fields"].([]any) {
		fields = append(fields, f.(map[string]any)["name"].(string))
	}
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = fmt.Sprintf("%q::text", f)
	}
	rows, err := conn.Query(context.Background(), fmt.Sprintf("SELECT %s FROM tenant_default.%s", strings.Join(cols, ", "), table))
	require.NoError(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		vals := make([]*string, len(fields))
		ptrs := make([]any, len(fields))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		got = append(got, rowText(fields, func(i int) *string { return vals[i] }))
	}
	require.NoError(t, rows.Err())
	var exp []string
	for _, w := range want {
		for k := range w {
			require.Contains(t, fields, k, "expected.json names a field the dataset does not have")
		}
		exp = append(exp, rowText(fields, func(i int) *string { return w[fields[i]] }))
	}
	sort.Strings(got)
	sort.Strings(exp)
	require.Equal(t, exp, got)
}

func rowText(fields []string, val func(int) *string) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		v := "NULL"
		if p := val(i); p != nil {
			v = fmt.Sprintf("%q", *p)
		}
		parts[i] = f + "=" + v
	}
	return strings.Join(parts, " ")
}
