// Command bench measures Ferry end to end against PostgreSQL's own COPY on
// the same machine in the same run: imports of generated CSV files (into
// an empty dataset, with half the rows changed, unchanged), a CSV export,
// an XLSX import and export, each process's peak memory and the per-stage
// timings the server records. `make bench` runs it; docs/performance.md
// says what each figure means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// largeRows is the size above which figures run RunsLarge times.
const largeRows = 1_000_000

// config is what one benchmark measures.
type config struct {
	Bin         string
	AdminURL    string
	Rows        []int
	Runs        int
	RunsLarge   int // runs at sizes above largeRows
	Modes       []string
	ScaleOutMax int // scale-out runs only at sizes up to this
	XLSXRows    int // rows of the XLSX figures, at the smallest size; 0 skips them
	Out         string
	DataDir     string // generated files; kept when set
	PprofDir    string
	Logf        func(string, ...any)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func parseConfig(args []string) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c config
	var rows, mode string
	fs.StringVar(&c.Bin, "ferry", env("BENCH_FERRY", "bin/ferry"), "the ferry binary (BENCH_FERRY)")
	fs.StringVar(&c.AdminURL, "database-url", env("BENCH_DATABASE_URL", env("FERRY_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")),
		"PostgreSQL URL to create the benchmark's databases from (BENCH_DATABASE_URL)")
	fs.StringVar(&rows, "rows", env("BENCH_ROWS", "1000000,5000000"), "comma-separated sizes in rows (BENCH_ROWS)")
	runs := env("BENCH_RUNS", "3")
	fs.StringVar(&runs, "runs", runs, "runs of each figure; the median is reported (BENCH_RUNS)")
	runsLarge := env("BENCH_RUNS_LARGE", "1")
	fs.StringVar(&runsLarge, "runs-large", runsLarge, "runs of each figure at sizes above 1 000 000 rows (BENCH_RUNS_LARGE)")
	fs.StringVar(&mode, "mode", env("BENCH_MODE", "both"), "all-in-one, scale-out or both (BENCH_MODE)")
	scaleMax := env("BENCH_SCALEOUT_MAX_ROWS", "1000000")
	fs.StringVar(&scaleMax, "scale-out-max-rows", scaleMax, "with both modes, scale out only sizes up to this many rows (BENCH_SCALEOUT_MAX_ROWS)")
	xlsxRows := env("BENCH_XLSX_ROWS", "1000000")
	fs.StringVar(&xlsxRows, "xlsx-rows", xlsxRows, "rows of the XLSX figures, at most the smallest size; 0 skips them (BENCH_XLSX_ROWS)")
	fs.StringVar(&c.Out, "out", env("BENCH_OUT", "bench-results.json"), "where the JSON results go (BENCH_OUT)")
	fs.StringVar(&c.DataDir, "data", env("BENCH_DATA", ""), "keep generated files in this directory and reuse them (BENCH_DATA); a temporary directory when empty")
	fs.StringVar(&c.PprofDir, "pprof", env("BENCH_PPROF", ""), "CPU profiles of the ferry processes go here, when they serve /debug/pprof (BENCH_PPROF)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, s := range strings.Split(rows, ",") {
		s = strings.ReplaceAll(strings.TrimSpace(s), "_", "")
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			return c, fmt.Errorf("BENCH_ROWS: %q is not a size of at least 10 rows", s)
		}
		c.Rows = append(c.Rows, n)
	}
	if len(c.Rows) == 0 {
		return c, errors.New("BENCH_ROWS names no size")
	}
	slices.Sort(c.Rows)
	var err error
	if c.Runs, err = strconv.Atoi(runs); err != nil || c.Runs < 1 {
		return c, fmt.Errorf("BENCH_RUNS: %q is not a positive number", runs)
	}
	if c.RunsLarge, err = strconv.Atoi(runsLarge); err != nil || c.RunsLarge < 1 {
		return c, fmt.Errorf("BENCH_RUNS_LARGE: %q is not a positive number", runsLarge)
	}
	if c.ScaleOutMax, err = strconv.Atoi(strings.ReplaceAll(scaleMax, "_", "")); err != nil {
		return c, fmt.Errorf("BENCH_SCALEOUT_MAX_ROWS: %q is not a number", scaleMax)
	}
	if c.XLSXRows, err = strconv.Atoi(strings.ReplaceAll(xlsxRows, "_", "")); err != nil || c.XLSXRows < 0 {
		return c, fmt.Errorf("BENCH_XLSX_ROWS: %q is not a number", xlsxRows)
	}
	c.XLSXRows = min(c.XLSXRows, c.Rows[0], 1_048_575)
	switch mode {
	case allInOne, scaleOut:
		c.Modes = []string{mode}
		c.ScaleOutMax = c.Rows[len(c.Rows)-1]
	case "both":
		c.Modes = []string{allInOne, scaleOut}
	default:
		return c, fmt.Errorf("BENCH_MODE: %q is not all-in-one, scale-out or both", mode)
	}
	return c, nil
}

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	cfg.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg)
	if res != nil {
		res.print(os.Stdout)
		if werr := res.writeJSON(cfg.Out); werr != nil {
			fmt.Fprintln(os.Stderr, "bench: write results:", werr)
		} else {
			fmt.Fprintln(os.Stderr, "bench: results in", cfg.Out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// newResult starts the results of cfg.
func newResult(cfg config) *result {
	var so []int
	for _, n := range cfg.Rows {
		if slices.Contains(cfg.Modes, scaleOut) && n <= cfg.ScaleOutMax {
			so = append(so, n)
		}
	}
	return &result{Started: time.Now().UTC(),
		Settings: settings{Rows: cfg.Rows, Runs: cfg.Runs, RunsLarge: cfg.RunsLarge, Modes: cfg.Modes, ScaleOutRows: so, XLSXRows: cfg.XLSXRows},
		Machine:  machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}}
}
