package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSelf runs the whole benchmark at 5 000 rows in both modes, once, with
// CPU profiles, and checks that every figure was measured and profiled. It asserts nothing about speed,
// and runs only with FERRY_BENCH_SELFTEST=1, so that `make test` stays fast
// and free of timings.
func TestSelf(t *testing.T) {
	if os.Getenv("FERRY_BENCH_SELFTEST") != "1" {
		t.Skip("set FERRY_BENCH_SELFTEST=1 to run the benchmark at 5 000 rows")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ferry")
	build := exec.Command("go", "build", "-o", bin, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	require.NoError(t, build.Run())

	out := filepath.Join(dir, "results.json")
	cfg, err := parseConfig([]string{"-ferry", bin, "-rows", "5000", "-runs", "1", "-mode", "both", "-out", out, "-pprof", filepath.Join(dir, "pprof")})
	require.NoError(t, err)
	cfg.Logf = t.Logf
	res, err := run(context.Background(), cfg)
	require.NoError(t, err)
	var table strings.Builder
	res.print(&table)
	t.Log("\n" + table.String())
	require.NoError(t, res.writeJSON(out))

	want := map[string]bool{}
	for _, name := range []string{figEmpty, figChanged, figUnchanged, figExportCSV} {
		want[name+"|"+allInOne] = true
		want[name+"|"+scaleOut] = true
	}
	want[figImportXLSX+"|"+allInOne] = true
	want[figExportXLSX+"|"+allInOne] = true
	want[figCopyIn+"|postgres"] = true
	want[figCopyOut+"|postgres"] = true
	got := map[string]bool{}
	for _, f := range res.Figures {
		got[f.Name+"|"+f.Mode] = true
		require.Len(t, f.Seconds, 1, f.Name)
		require.Positive(t, f.RowsPerSec, f.Name)
		if f.Mode != "postgres" {
			require.Positive(t, f.Ratio, "%s %s has no ratio to its floor", f.Name, f.Mode)
			require.NotNil(t, f.Stages, f.Name)
			require.NotEmpty(t, f.PeakRSS, f.Name)
			// a CPU profile of every process, summarised
			procs := 1
			if f.Mode == scaleOut {
				procs = 5
			}
			require.Len(t, f.Profiles, procs, "%s %s", f.Name, f.Mode)
			for _, p := range f.Profiles {
				require.NotEmpty(t, p.Files, p.Process)
				require.NotEmpty(t, p.Top, "%s %s: %s", f.Name, f.Mode, p.Process)
			}
		}
		if f.Mode != "postgres" && strings.HasPrefix(f.Name, "import") {
			require.Positive(t, f.Stages.Chunks, "%s %s: no chunk staged", f.Name, f.Mode)
			require.Positive(t, f.Stages.Applied, "%s %s: no apply seen", f.Name, f.Mode)
		}
	}
	require.Equal(t, want, got)
	require.Len(t, res.Checks, 4)
	// one process all-in-one, five scaled out
	require.Len(t, res.Memory, 6)
	for _, m := range res.Memory {
		require.Positive(t, m.Bytes, m.Process)
	}
}
