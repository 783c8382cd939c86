package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// Figure names.
const (
	figCopyIn     = "psql \\copy (floor)"
	figEmpty      = "import, empty dataset"
	figChanged    = "import, 50% changed"
	figUnchanged  = "import, unchanged"
	figCopyOut    = "COPY TO STDOUT (floor)"
	figExportCSV  = "export CSV"
	figXLSXFloor  = "psql \\copy (XLSX rows)"
	figImportXLSX = "import XLSX"
	figExportXLSX = "export XLSX"
)

// columns of the floor table and the dataset, in file order.
var columns = []string{"id", "first_name", "last_name", "email", "born", "balance", "grade", "active", "city", "zip", "joined", "notes"}

const floorTable = `CREATE TABLE %s (
	id text PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL, email text,
	born date, balance numeric, grade integer, active boolean, city text, zip text,
	joined date, notes text)`

// datasetDoc is a dataset of 12 fields, an import profile with 4 computed
// fields (CEL expressions) reading the generated file (format csv or
// xlsx), and an export profile of every field as format out.
func datasetDoc(name, format, out string) string {
	return fmt.Sprintf(`apiVersion: ferry.dev/v1
kind: Dataset
metadata: {name: %[1]s}
spec:
  fields:
    - {name: id, type: string, required: true}
    - {name: first_name, type: string, required: true}
    - {name: last_name, type: string, required: true}
    - {name: email, type: string}
    - {name: born, type: date}
    - {name: balance, type: decimal}
    - {name: grade, type: integer}
    - {name: active, type: boolean}
    - {name: city, type: string}
    - {name: zip, type: string}
    - {name: joined, type: date}
    - {name: notes, type: string}
  key: [id]
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: %[1]s-in}
spec:
  dataset: %[1]s
  format: %[2]s
  writeMode: upsert
  mappings:
    - {field: id, column: ID}
    - {field: first_name, column: First, expr: 'trim(value)'}
    - {field: last_name, column: Last}
    - {field: email, column: Email, expr: 'lower(trim(value))'}
    - {field: born, column: DOB, expr: 'parse_date(value, "DD/MM/YYYY")'}
    - {field: balance, column: Balance}
    - {field: grade, column: Grade}
    - {field: active, column: Active}
    - {field: city, column: City, expr: 'upper(value)'}
    - {field: zip, column: Zip}
    - {field: joined, column: Joined}
    - {field: notes, column: Notes}
---
apiVersion: ferry.dev/v1
kind: ExportProfile
metadata: {name: %[1]s-out}
spec:
  dataset: %[1]s
  format: %[3]s
  fileName: "%[1]s.%[3]s"
`, name, format, out)
}

// bench is one benchmark in progress.
type bench struct {
	cfg   config
	res   *result
	work  string
	figs  map[string]*figure
	order []string
}

// fig returns the figure of name, mode and rows, creating it.
func (b *bench) fig(name, mode string, rows int, bytes int64, t *target) *figure {
	k := fmt.Sprintf("%s|%s|%d", name, mode, rows)
	if f, ok := b.figs[k]; ok {
		return f
	}
	f := &figure{Name: name, Mode: mode, Rows: rows, Bytes: bytes, Target: t}
	b.figs[k] = f
	b.order = append(b.order, k)
	return f
}

func (b *bench) lookup(name, mode string, rows int) *figure {
	return b.figs[fmt.Sprintf("%s|%s|%d", name, mode, rows)]
}

// run measures everything cfg asks for and returns the results, also the
// partial results of a failed benchmark.
func run(ctx context.Context, cfg config) (*result, error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if _, err := os.Stat(cfg.Bin); err != nil {
		return nil, fmt.Errorf("the ferry binary %s: %w (run `make build` first)", cfg.Bin, err)
	}
	if _, err := exec.LookPath("psql"); err != nil {
		return nil, fmt.Errorf("psql is needed for the COPY floor: %w", err)
	}
	work, err := os.MkdirTemp("", "ferry-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	dataDir := cfg.DataDir
	if dataDir == "" {
		dataDir = filepath.Join(work, "data")
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, res: newResult(cfg), work: work, figs: map[string]*figure{}}
	if cfg.PprofDir != "" {
		if err := os.MkdirAll(cfg.PprofDir, 0o755); err != nil {
			return nil, err
		}
		b.res.Notes = append(b.res.Notes, fmt.Sprintf("CPU profiles of every process were taken during the last run of each Ferry figure (in %s; profiling costs a few percent of that run); the summaries list each process's hottest functions", cfg.PprofDir))
	}
	if v, err := psqlOut(ctx, cfg.AdminURL, "SHOW server_version"); err == nil {
		b.res.Machine.Postgres = strings.TrimSpace(v)
	}
	err = b.measure(ctx, dataDir)
	b.finish()
	return b.res, err
}

func (b *bench) measure(ctx context.Context, dataDir string) error {
	for i, n := range b.cfg.Rows {
		xlsxRows := 0
		if i == 0 {
			xlsxRows = b.cfg.XLSXRows
		}
		files, err := generate(dataDir, n, xlsxRows, b.cfg.Logf)
		if err != nil {
			return err
		}
		for mi, mode := range b.cfg.Modes {
			if mode == scaleOut && n > b.cfg.ScaleOutMax {
				continue
			}
			if err := b.measureMode(ctx, files, mode, mi == 0); err != nil {
				return fmt.Errorf("%s, %d rows: %w", mode, n, err)
			}
		}
	}
	return nil
}

// measureMode measures one size in one mode against a fresh database;
// floors says whether PostgreSQL's own figures and the XLSX figures are
// measured too: in the first mode of each size.
func (b *bench) measureMode(ctx context.Context, files *dataFiles, mode string, floors bool) error {
	n := files.rows
	dbName := fmt.Sprintf("ferry_bench_%d_%s_%d", os.Getpid(), strings.ReplaceAll(mode, "-", "_"), n)
	db, err := createDatabase(ctx, b.cfg.AdminURL, dbName)
	if err != nil {
		return err
	}
	defer func() {
		if err := dropDatabase(context.WithoutCancel(ctx), b.cfg.AdminURL, dbName); err != nil {
			b.cfg.Logf("drop database %s: %v", dbName, err)
		}
	}()
	dir := filepath.Join(b.work, dbName)
	b.cfg.Logf("%s, %d rows: starting ferry", mode, n)
	c, err := startCluster(b.cfg.Bin, mode, db, dir, b.cfg.PprofDir != "")
	if err != nil {
		return err
	}
	defer c.stop()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	xlsx := files.xlsxRows > 0 && floors
	runs := b.cfg.Runs
	if n > largeRows {
		runs = b.cfg.RunsLarge
	}
	for r := 1; r <= runs; r++ {
		ds := fmt.Sprintf("people%d", r)
		if err := c.apply(ctx, dir, ds, datasetDoc(ds, "csv", "csv")); err != nil {
			return err
		}
		if floors {
			d, err := copyIn(ctx, db, fmt.Sprintf("floor%d", r), files.base)
			if err != nil {
				return err
			}
			b.fig(figCopyIn, "postgres", n, files.baseSize, nil).add(d, nil, nil)
			b.cfg.Logf("%s run %d: %s %s", mode, r, figCopyIn, d.Round(time.Millisecond))
		}
		steps := []struct {
			name string
			file string
			size int64
			t    *target
			want func(*ferryv1.RunCounts) bool
		}{
			{figEmpty, files.base, files.baseSize, &target{"ratio", 0.8}, func(k *ferryv1.RunCounts) bool {
				return k.GetInserted() == int64(n) && k.GetUpdated() == 0 && k.GetUnchanged() == 0
			}},
			{figChanged, files.changed, files.changeSize, &target{"ratio", 0.5}, func(k *ferryv1.RunCounts) bool {
				return k.GetUpdated() == int64((n+1)/2) && k.GetUnchanged() == int64(n/2) && k.GetInserted() == 0
			}},
			{figUnchanged, files.changed, files.changeSize, &target{"ratio", 1.5}, func(k *ferryv1.RunCounts) bool {
				return k.GetUnchanged() == int64(n) && k.GetInserted() == 0 && k.GetUpdated() == 0
			}},
		}
		last := r == runs
		for _, s := range steps {
			f := b.fig(s.name, mode, n, s.size, s.t)
			if err := b.importRun(ctx, c, conn, f, ds+"-in", s.file, s.want, last); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			b.cfg.Logf("%s run %d: %s %s", mode, r, s.name, f.latest())
		}
		if floors {
			d, size, err := copyOut(ctx, conn, ds)
			if err != nil {
				return err
			}
			b.fig(figCopyOut, "postgres", n, size, nil).add(d, nil, nil)
			b.cfg.Logf("%s run %d: %s %s", mode, r, figCopyOut, d.Round(time.Millisecond))
		}
		f := b.fig(figExportCSV, mode, n, 0, &target{"ratio", 0.8})
		if err := b.exportRun(ctx, c, conn, f, ds+"-out", last); err != nil {
			return fmt.Errorf("%s: %w", figExportCSV, err)
		}
		b.cfg.Logf("%s run %d: %s %s", mode, r, figExportCSV, f.latest())
		if err := dropTables(ctx, conn, fmt.Sprintf("floor%d", r)); err != nil {
			return err
		}

		if !xlsx {
			continue
		}
		xn := files.xlsxRows
		if floors && xn != n {
			// The same rows as CSV, for the XLSX figures' ratio.
			part := filepath.Join(b.work, fmt.Sprintf("xlsx-rows-%d.csv", xn))
			size, err := writeCSV(part, xn, false)
			if err != nil {
				return err
			}
			d, err := copyIn(ctx, db, fmt.Sprintf("floorx%d", r), part)
			if err != nil {
				return err
			}
			b.fig(figXLSXFloor, "postgres", xn, size, nil).add(d, nil, nil)
			if err := dropTables(ctx, conn, fmt.Sprintf("floorx%d", r)); err != nil {
				return err
			}
		}
		xds := fmt.Sprintf("peoplex%d", r)
		if err := c.apply(ctx, dir, xds, datasetDoc(xds, "xlsx", "xlsx")); err != nil {
			return err
		}
		f = b.fig(figImportXLSX, mode, xn, files.xlsxSize, &target{"rows/s", 60_000})
		if err := b.importRun(ctx, c, conn, f, xds+"-in", files.xlsx, func(k *ferryv1.RunCounts) bool {
			return k.GetInserted() == int64(xn) && k.GetRejected() == 0
		}, last); err != nil {
			return fmt.Errorf("%s: %w", figImportXLSX, err)
		}
		b.cfg.Logf("%s run %d: %s %s", mode, r, figImportXLSX, f.latest())
		f = b.fig(figExportXLSX, mode, xn, 0, &target{"rows/s", 70_000})
		if err := b.exportRun(ctx, c, conn, f, xds+"-out", last); err != nil {
			return fmt.Errorf("%s: %w", figExportXLSX, err)
		}
		b.cfg.Logf("%s run %d: %s %s", mode, r, figExportXLSX, f.latest())
	}
	b.memory(c, mode, n)
	return nil
}

// memory records each process's peak RSS over every figure of the mode and size.
func (b *bench) memory(c *cluster, mode string, n int) {
	peak := map[string]int64{}
	for _, k := range b.order {
		f := b.figs[k]
		if f.Mode != mode || (f.Rows != n && !(f.Name == figImportXLSX || f.Name == figExportXLSX)) {
			continue
		}
		for p, v := range f.PeakRSS {
			peak[p] = max(peak[p], v)
		}
	}
	for _, p := range c.procs {
		v := max(peak[p.name], 0)
		b.res.Memory = append(b.res.Memory, memoryRow{Mode: mode, Rows: n, Process: p.name, Bytes: v, Met: v > 0 && v <= rssLimit})
	}
}

// measured is one run timed by timed.
type measured struct {
	id       string
	run      *ferryv1.Run
	start    time.Time
	d        time.Duration
	rss      map[string]int64
	profiles []profileSummary
}

// timed starts a run with startRun and waits for it to end: the time from
// the call to the run's end, each process's peak RSS, and, when profiled,
// CPU profiles of every process over the run.
func (b *bench) timed(ctx context.Context, c *cluster, f *figure, profiled bool, startRun func() (string, error)) (measured, error) {
	var m measured
	c.resetPeaks()
	var prof *profiler
	if profiled {
		prof = b.startProfiles(c, f.Name, f.Mode, f.Rows)
	}
	m.start = time.Now()
	id, err := startRun()
	if err != nil {
		return m, errors.Join(err, prof.abandon())
	}
	m.id = id
	if m.run, err = c.wait(ctx, id, time.Hour); err != nil {
		return m, errors.Join(err, prof.abandon())
	}
	m.d = time.Since(m.start)
	m.rss = c.peaks()
	m.profiles, err = prof.finish(ctx)
	return m, err
}

// importRun uploads file into a new run of profile, waits for it to end,
// checks its counts and adds the run to f: from the upload's first message
// to the run's end. profiled says whether to take CPU profiles of the run.
func (b *bench) importRun(ctx context.Context, c *cluster, conn *pgx.Conn, f *figure, profile, file string, want func(*ferryv1.RunCounts) bool, profiled bool) error {
	m, err := b.timed(ctx, c, f, profiled, func() (string, error) { return c.upload(ctx, profile, file) })
	if err != nil {
		return err
	}
	run := m.run
	if run.GetStatus() != ferryv1.RunStatus_RUN_STATUS_SUCCEEDED {
		return fmt.Errorf("run %s of %s ended %s: %s (counts %v)", m.id, profile, run.GetStatus(), run.GetError(), run.GetCounts())
	}
	if k := run.GetCounts(); k.GetRead() != int64(f.Rows) || k.GetRejected() != 0 || !want(k) {
		return fmt.Errorf("run %s of %s has the wrong counts, the benchmark would measure the wrong thing: read %d, inserted %d, updated %d, unchanged %d, rejected %d, superseded %d",
			m.id, profile, k.GetRead(), k.GetInserted(), k.GetUpdated(), k.GetUnchanged(), k.GetRejected(), k.GetSuperseded())
	}
	st, err := runStages(ctx, conn, c, m.id, "run applied", m.start)
	if err != nil {
		return err
	}
	f.add(m.d, st, m.rss)
	f.Profiles = append(f.Profiles, m.profiles...)
	return nil
}

// exportRun starts an export run of profile, waits for it to succeed with
// f.Rows rows written and adds the run to f: from StartExport to the run's
// end (the file stored in the object store, ready to download).
func (b *bench) exportRun(ctx context.Context, c *cluster, conn *pgx.Conn, f *figure, profile string, profiled bool) error {
	m, err := b.timed(ctx, c, f, profiled, func() (string, error) {
		resp, err := c.export.StartExport(c.ctx(ctx), &ferryv1.StartExportRequest{Name: profile})
		if err != nil {
			return "", fmt.Errorf("start export %s: %w", profile, err)
		}
		return resp.GetRun().GetId(), nil
	})
	if err != nil {
		return err
	}
	run := m.run
	if run.GetStatus() != ferryv1.RunStatus_RUN_STATUS_SUCCEEDED {
		return fmt.Errorf("export run %s of %s ended %s: %s", m.id, profile, run.GetStatus(), run.GetError())
	}
	if len(run.GetOutputs()) != 1 || run.GetOutputs()[0].GetRows() != int64(f.Rows) {
		return fmt.Errorf("export run %s of %s wrote %v, want one file of %d rows", m.id, profile, run.GetOutputs(), f.Rows)
	}
	st, err := runStages(ctx, conn, c, m.id, "export run assembled", m.start)
	if err != nil {
		return err
	}
	f.Bytes = run.GetOutputs()[0].GetSize()
	f.add(m.d, st, m.rss)
	f.Profiles = append(f.Profiles, m.profiles...)
	return nil
}

// copyIn is the floor: psql's \copy of the file into a fresh logged table
// with a primary key, timed around the psql process.
func copyIn(ctx context.Context, db, table, file string) (time.Duration, error) {
	if _, err := psqlOut(ctx, db, fmt.Sprintf("DROP TABLE IF EXISTS %s; "+floorTable, table, table)); err != nil {
		return 0, err
	}
	cmd := fmt.Sprintf(`\copy %s (%s) FROM '%s' WITH (FORMAT csv, HEADER true)`, table, strings.Join(columns, ", "), file)
	start := time.Now()
	out, err := psqlOut(ctx, db, cmd)
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if !strings.Contains(out, "COPY ") {
		return 0, fmt.Errorf("psql \\copy printed %q", out)
	}
	return d, nil
}

// copyOut is the export floor: COPY (SELECT …) TO STDOUT of the dataset's
// live rows in key order, as CSV with a header, counting the bytes. The
// table is scanned once first, untimed: the first read after the imports
// sets the hint bits of every row they wrote (writing pages), which the
// export, measured after the floor, would then not pay.
func copyOut(ctx context.Context, conn *pgx.Conn, dataset string) (time.Duration, int64, error) {
	if _, err := conn.Exec(ctx, fmt.Sprintf(`SELECT count(*) FROM tenant_default.%s WHERE _ferry_deleted_at IS NULL`, pgx.Identifier{dataset}.Sanitize())); err != nil {
		return 0, 0, fmt.Errorf("scan %s: %w", dataset, err)
	}
	var w countingWriter
	start := time.Now()
	_, err := conn.PgConn().CopyTo(ctx, &w, fmt.Sprintf(`COPY (SELECT %s FROM tenant_default.%s WHERE _ferry_deleted_at IS NULL ORDER BY id) TO STDOUT (FORMAT csv, HEADER)`,
		strings.Join(columns, ", "), pgx.Identifier{dataset}.Sanitize()))
	if err != nil {
		return 0, 0, fmt.Errorf("copy %s to stdout: %w", dataset, err)
	}
	return time.Since(start), w.n, nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

func dropTables(ctx context.Context, conn *pgx.Conn, tables ...string) error {
	for _, t := range tables {
		if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{t}.Sanitize()); err != nil {
			return err
		}
	}
	return nil
}

// psqlOut runs one psql command against db; dates are read day first.
func psqlOut(ctx context.Context, db, command string) (string, error) {
	cmd := exec.CommandContext(ctx, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-d", db, "-c", command)
	cmd.Env = append(os.Environ(), "PGOPTIONS=-c datestyle=ISO,DMY")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql -c %q: %v: %s", command, err, errb.String())
	}
	return out.String(), nil
}

// createDatabase creates a fresh database next to admin's and returns its URL.
func createDatabase(ctx context.Context, admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", fmt.Errorf("database URL %q: %w", admin, err)
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", admin, err)
	}
	defer conn.Close(ctx)
	id := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+id); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func dropDatabase(ctx context.Context, admin, name string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// finish computes every figure against its floor and the checks.
func (b *bench) finish() {
	for _, k := range b.order {
		f := b.figs[k]
		var floor *figure
		switch f.Name {
		case figEmpty, figChanged, figUnchanged:
			floor = b.lookup(figCopyIn, "postgres", f.Rows)
		case figExportCSV:
			floor = b.lookup(figCopyOut, "postgres", f.Rows)
		case figImportXLSX, figExportXLSX:
			floor = b.lookup(figXLSXFloor, "postgres", f.Rows)
			if floor == nil {
				floor = b.lookup(figCopyIn, "postgres", f.Rows)
			}
			if f.Name == figExportXLSX {
				floor = b.lookup(figCopyOut, "postgres", f.Rows)
			}
		}
		if floor != nil {
			floor.finish(nil)
		}
		f.finish(floor)
	}
	// Figures in a stable order: by size, floors first, then all-in-one, then scale-out.
	rank := map[string]int{figCopyIn: 0, figEmpty: 1, figChanged: 2, figUnchanged: 3, figCopyOut: 4, figExportCSV: 5, figXLSXFloor: 6, figImportXLSX: 7, figExportXLSX: 8}
	mrank := map[string]int{"postgres": 0, allInOne: 1, scaleOut: 2}
	for _, k := range b.order {
		b.res.Figures = append(b.res.Figures, b.figs[k])
	}
	slices.SortStableFunc(b.res.Figures, func(x, y *figure) int {
		if x.Rows != y.Rows {
			return x.Rows - y.Rows
		}
		if x.Mode != y.Mode {
			return mrank[x.Mode] - mrank[y.Mode]
		}
		return rank[x.Name] - rank[y.Name]
	})
	for _, n := range b.cfg.Rows {
		for _, name := range []string{figEmpty, figChanged, figUnchanged, figExportCSV} {
			a, s := b.lookup(name, allInOne, n), b.lookup(name, scaleOut, n)
			if a == nil || s == nil || a.RowsPerSec == 0 || s.RowsPerSec == 0 {
				continue
			}
			v := s.RowsPerSec / a.RowsPerSec
			b.res.Checks = append(b.res.Checks, check{Name: "scale-out / all-in-one: " + name, Rows: n, Value: v, Target: "≥1.00× (no slower)", Met: v >= 1})
		}
	}
	b.res.Notes = append(b.res.Notes,
		"per-stage timings come from ferry.runs, ferry.run_chunks.applied_at and the processes' logs; transform records no per-chunk timing, so its stage is the span between split and last-staged",
		"export figures end when the run succeeds (file assembled in the object store); the download is not included")
}
