// Package runner reads export runs. It takes one consistent snapshot of the
// database (pg_export_snapshot), splits each dataset it reads into key
// ranges, and runs parallel readers that share that snapshot and publish the
// rows in batches for transform to format; delivery assembles the parts
// into the run's files once the manifest (batches per range) is out.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/encoding/protojson"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/exportfmt"
	"github.com/ferrydata/ferry/libs/selection"
	libstore "github.com/ferrydata/ferry/libs/store"
)

// Defaults of the Runner's tuning fields.
const (
	DefaultReaders       = 4
	DefaultBatchRows     = 10_000
	DefaultBatchBytes    = 1 << 20
	DefaultRangeMinPages = 128
	DefaultMaxPending    = 64
)

// Runner reads exports.
type Runner struct {
	Pool *pgxpool.Pool
	JS   jetstream.JetStream
	// Files is the object store of export files (for Expire).
	Files jetstream.ObjectStore
	// Tables loads a tenant's cross-reference table, to check a template
	// before anything is read.
	Tables func(ctx context.Context, tenant, name string) (exportfmt.Reverser, error)
	Log    *slog.Logger
	// Readers is how many readers read one run at once; a dataset is split
	// into that many key ranges.
	Readers int
	// BatchRows and BatchBytes bound a batch.
	BatchRows, BatchBytes int
	// RangeMinPages: a dataset smaller than this many 8 KiB pages is read
	// by one reader.
	RangeMinPages int64
	// MaxPending bounds the batches published and not yet formatted: the
	// readers wait above it, so a fast database cannot fill the stream.
	MaxPending int
	// AfterSnapshot is a test hook: it runs after the snapshot is taken and
	// before the readers start, with the number of key ranges of each query.
	AfterSnapshot func(snap *ferryv1.ExportSnapshot, ranges []int)

	published atomic.Int64
}

// Outcome is what a run did.
type Outcome struct {
	// Skipped is "ended" when the run had ended already, "read" when its
	// read was done already.
	Skipped string
	// Status is "read" (delivery assembles the files) or "failed".
	Status string
	Rows   int64
}

// permanentError is a failure that running again cannot fix: it fails the
// run with its message.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func permanent(format string, a ...any) error {
	return &permanentError{msg: fmt.Sprintf(format, a...)}
}

// Run reads an export. A run that ended, or whose read is done, is skipped;
// a redelivered command of a run whose read did not finish reads again, as
// a new attempt.
func (r *Runner) Run(ctx context.Context, snap *ferryv1.ExportSnapshot) (Outcome, error) {
	tag, err := r.Pool.Exec(ctx, `UPDATE ferry.runs SET status = 'running', started_at = coalesce(started_at, now())
		WHERE id = $1 AND status IN ('queued', 'running')`, snap.GetRunId())
	if err != nil {
		return Outcome{}, fmt.Errorf("start run: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var status string
		_ = r.Pool.QueryRow(ctx, `SELECT status FROM ferry.runs WHERE id = $1`, snap.GetRunId()).Scan(&status)
		return Outcome{Skipped: "ended", Status: status}, nil
	}
	var read bool
	if err := r.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ferry.export_manifests WHERE run_id = $1)`, snap.GetRunId()).Scan(&read); err != nil {
		return Outcome{}, err
	}
	if read {
		return Outcome{Skipped: "read", Status: "read"}, nil
	}
	n, err := r.read(ctx, snap)
	if err != nil {
		var pe *permanentError
		if ctx.Err() != nil || !errors.As(err, &pe) {
			return Outcome{}, err
		}
		if _, ferr := r.Pool.Exec(context.WithoutCancel(ctx), `UPDATE ferry.runs SET status = 'failed', error = $2, finished_at = now()
			WHERE id = $1 AND status = 'running'`, snap.GetRunId(), pe.msg); ferr != nil {
			return Outcome{}, ferr
		}
		// Batches formatted before the failure wait in delivery's ledger and
		// the object store: this tells delivery to find the run ended and
		// delete them.
		if err := bus.Publish(ctx, r.JS, bus.ExportPartsSubject(snap.GetTenantId(), snap.GetRunId()), "xmanifest/"+snap.GetRunId()+"/failed",
			&ferryv1.ExportAssembly{Event: &ferryv1.ExportAssembly_Manifest{Manifest: &ferryv1.ExportManifest{Run: snap, Attempt: "failed"}}}); err != nil {
			return Outcome{}, err
		}
		return Outcome{Status: "failed"}, nil
	}
	return Outcome{Status: "read", Rows: n}, nil
}

// query is the SQL of one dataset read: every field in its text form, then
// whether the row is deleted and whether it existed at the watermark.
type query struct {
	list, from, where, orderBy string
	limit                      int64
	args                       []any
	// ranged says the rows are in key order, so that key ranges may split them.
	ranged bool
	key    string // the first key field, quoted
	table  exportfmt.Query
}

// sql is the query's SELECT with an extra condition on its rows.
func (q *query) sql(cond string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s WHERE %s", q.list, q.from, q.where)
	if cond != "" {
		fmt.Fprintf(&b, " AND (%s)", cond)
	}
	fmt.Fprintf(&b, " ORDER BY %s", q.orderBy)
	if q.limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", q.limit)
	}
	return b.String()
}

func buildQuery(snap *ferryv1.ExportSnapshot, eq exportfmt.Query) (*query, error) {
	spec, ds := snap.GetSpec(), eq.Dataset
	q := &query{table: eq, limit: eq.MaxRows}
	mode := "_ferry_deleted_at IS NULL"
	incremental := spec.GetMode() == ferryv1.ExportMode_EXPORT_MODE_INCREMENTAL && snap.GetWatermark() != ""
	if incremental {
		q.args = append(q.args, snap.GetWatermark())
		mode = "NOT pg_visible_in_snapshot(_ferry_xid, $1::pg_snapshot)"
		if spec.GetDeletions() == ferryv1.Deletions_DELETIONS_OMIT && !spec.GetDeltaFiles() {
			mode += " AND _ferry_deleted_at IS NULL"
		}
	}
	sel, err := selection.Compile(eq.Selection, ds.GetFields(), ds.GetKey(), eq.Sort, len(q.args))
	if err != nil {
		return nil, permanent("selection: %v", err)
	}
	q.args = append(q.args, sel.Args...)
	var list strings.Builder
	for i, f := range ds.GetFields() {
		if i > 0 {
			list.WriteString(", ")
		}
		id := libstore.Ident(f.GetName())
		// Every value is read in its type's own text form (dates in the ISO
		// DateStyle the readers set): to_char and casts to text cost the
		// database more than reading the rows.
		if f.GetType() == ferryv1.FieldType_FIELD_TYPE_TIMESTAMP {
			fmt.Fprintf(&list, `to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, id)
		} else {
			list.WriteString(id)
		}
	}
	prev := "false"
	if incremental {
		prev = "pg_visible_in_snapshot(_ferry_created_xid, $1::pg_snapshot)"
	}
	fmt.Fprintf(&list, ", _ferry_deleted_at IS NOT NULL, %s", prev)
	q.list = list.String()
	q.from = libstore.Ident(snap.GetSchema(), eq.Table)
	q.where = fmt.Sprintf("%s AND (%s)", mode, sel.Where)
	q.orderBy = sel.OrderBy
	q.ranged = len(eq.Sort) == 0 && eq.MaxRows == 0 && len(ds.GetKey()) > 0
	if q.ranged {
		q.key = libstore.Ident(ds.GetKey()[0])
	}
	return q, nil
}

// job is one reader's work: one key range of one query.
type job struct {
	query, rng int
	name       string
	sql        string
	args       []any
}

// snapshotID is what pg_export_snapshot returns; SET TRANSACTION SNAPSHOT
// takes no parameters, so it is checked before it is written into SQL.
var snapshotID = regexp.MustCompile(`^[0-9A-Fa-f-]+$`)

// read reads every query of the run in one snapshot and publishes the
// batches and then the manifest; it returns the rows read.
func (r *Runner) read(ctx context.Context, snap *ferryv1.ExportSnapshot) (int64, error) {
	if _, err := exportfmt.NewPlan(snap); err != nil {
		return 0, permanent("%v", err)
	}
	var queries []*query
	for _, eq := range exportfmt.Queries(snap) {
		// A template that names a missing field or cross-reference table
		// fails the run now, before anything is read.
		tables, err := exportfmt.LoadTables(ctx, snap.GetTenantId(), eq.Template, r.Tables)
		if err != nil {
			return 0, err
		}
		if _, err := exportfmt.Columns(eq.Dataset, eq.Template, tables); err != nil {
			if len(snap.GetParts()) > 0 {
				return 0, permanent("%s: %v", eq.Dataset.GetName(), err)
			}
			return 0, permanent("%v", err)
		}
		q, err := buildQuery(snap, eq)
		if err != nil {
			return 0, err
		}
		queries = append(queries, q)
	}
	tx, err := r.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, err
	}
	// The snapshot stays importable while this transaction is open: until
	// every reader is done.
	defer tx.Rollback(context.WithoutCancel(ctx))
	var watermark, snapID string
	if err := tx.QueryRow(ctx, `SELECT pg_current_snapshot()::text, pg_export_snapshot()`).Scan(&watermark, &snapID); err != nil {
		return 0, err
	}
	if !snapshotID.MatchString(snapID) {
		return 0, fmt.Errorf("unexpected snapshot id %q", snapID)
	}
	var jobs []job
	batches := make([][]int64, len(queries))
	for qi, q := range queries {
		conds, args, err := r.ranges(ctx, tx, q)
		if err != nil {
			return 0, fmt.Errorf("split %s into ranges: %w", q.table.Dataset.GetName(), err)
		}
		batches[qi] = make([]int64, len(conds))
		for ri, c := range conds {
			jobs = append(jobs, job{query: qi, rng: ri, name: q.table.Dataset.GetName(), sql: q.sql(c), args: append(append([]any{}, q.args...), args[ri]...)})
		}
	}
	if r.AfterSnapshot != nil {
		ranges := make([]int, len(batches))
		for i, b := range batches {
			ranges[i] = len(b)
		}
		r.AfterSnapshot(snap, ranges)
	}
	attempt := uuid.NewString()
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(r.Readers, 1))
	for _, j := range jobs {
		g.Go(func() error {
			rows, n, err := r.readRange(gctx, snap, attempt, snapID, j)
			batches[j.query][j.rng] = n
			total.Add(rows)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	m := &ferryv1.ExportManifest{Run: snap, Watermark: watermark, Attempt: attempt}
	for _, b := range batches {
		m.Queries = append(m.Queries, &ferryv1.ExportQueryBatches{RangeBatches: b})
	}
	err = bus.Publish(ctx, r.JS, bus.ExportPartsSubject(snap.GetTenantId(), snap.GetRunId()), "xmanifest/"+snap.GetRunId()+"/"+attempt,
		&ferryv1.ExportAssembly{Event: &ferryv1.ExportAssembly_Manifest{Manifest: m}})
	return total.Load(), err
}

// ranges splits a query into key ranges: conditions on its first key
// field, with their arguments. The boundaries are percentiles of a sample
// of the table; ranges need not be equal, only disjoint and complete.
func (r *Runner) ranges(ctx context.Context, tx pgx.Tx, q *query) ([]string, [][]any, error) {
	one := []string{""}
	oneArgs := [][]any{nil}
	if !q.ranged || r.Readers < 2 {
		return one, oneArgs, nil
	}
	var pages int64
	var typ string
	if err := tx.QueryRow(ctx, `SELECT pg_relation_size($1::regclass) / 8192,
		(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attname = $2)`,
		q.from, q.table.Dataset.GetKey()[0]).Scan(&pages, &typ); err != nil {
		return nil, nil, err
	}
	minPages := r.RangeMinPages
	if minPages <= 0 {
		minPages = DefaultRangeMinPages
	}
	if pages < minPages {
		return one, oneArgs, nil
	}
	fractions := make([]float64, r.Readers-1)
	for i := range fractions {
		fractions[i] = float64(i+1) / float64(r.Readers)
	}
	// About 64 sampled pages: enough for boundaries, cheap for any size.
	pct := min(100, 100*64/float64(pages))
	n := len(q.args)
	var bounds []*string
	sql := fmt.Sprintf(`SELECT (percentile_disc($%d::float8[]) WITHIN GROUP (ORDER BY %s))::text[] FROM %s TABLESAMPLE SYSTEM (($%d::float8)::real) WHERE %s`,
		n+1, q.key, q.from, n+2, q.where)
	if err := tx.QueryRow(ctx, sql, append(append([]any{}, q.args...), fractions, pct)...).Scan(&bounds); err != nil {
		return nil, nil, err
	}
	var distinct []string
	for _, b := range bounds {
		if b != nil && (len(distinct) == 0 || distinct[len(distinct)-1] != *b) {
			distinct = append(distinct, *b)
		}
	}
	if len(distinct) == 0 {
		return one, oneArgs, nil
	}
	var conds []string
	var args [][]any
	at := func(i int) string { return fmt.Sprintf("CAST($%d AS %s)", n+i, typ) }
	conds, args = append(conds, fmt.Sprintf("%s < %s", q.key, at(1))), append(args, []any{distinct[0]})
	for i := 1; i < len(distinct); i++ {
		conds = append(conds, fmt.Sprintf("%s >= %s AND %s < %s", q.key, at(1), q.key, at(2)))
		args = append(args, []any{distinct[i-1], distinct[i]})
	}
	conds, args = append(conds, fmt.Sprintf("%s >= %s", q.key, at(1))), append(args, []any{distinct[len(distinct)-1]})
	return conds, args, nil
}

// readRange reads one range in the run's snapshot and publishes its
// batches; it returns the rows and the batches.
func (r *Runner) readRange(ctx context.Context, snap *ferryv1.ExportSnapshot, attempt, snapID string, j job) (int64, int64, error) {
	conn, err := r.Pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+snapID+"'"); err != nil {
		return 0, 0, fmt.Errorf("share the snapshot: %w", err)
	}
	if _, err := tx.Exec(ctx, "SET LOCAL DateStyle = 'ISO, YMD'"); err != nil {
		return 0, 0, fmt.Errorf("set the date style: %w", err)
	}
	// Text results for every column: pgx would ask for the binary form of
	// the types it knows, and the batches carry text.
	rows, err := tx.Query(ctx, j.sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, j.args...)...)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", j.name, err)
	}
	defer rows.Close()
	batchRows, batchBytes := r.BatchRows, r.BatchBytes
	if batchRows <= 0 {
		batchRows = DefaultBatchRows
	}
	if batchBytes <= 0 {
		batchBytes = DefaultBatchBytes
	}
	var (
		buf      []byte
		n, total int64
		seq      int64
		flush    = func() error {
			b := &ferryv1.ExportBatch{Run: snap, Query: int32(j.query), Range: int32(j.rng), Seq: seq, Rows: n, Data: buf, Attempt: attempt}
			if err := r.wait(ctx); err != nil {
				return err
			}
			id := fmt.Sprintf("xrows/%s/%s/%d-%d-%d", snap.GetRunId(), attempt, j.query, j.rng, seq)
			if err := bus.Publish(ctx, r.JS, bus.ExportRowsSubject(snap.GetTenantId(), snap.GetRunId()), id, b); err != nil {
				return err
			}
			seq, n, buf = seq+1, 0, buf[:0]
			return nil
		}
	)
	for rows.Next() {
		buf = exportfmt.AppendRow(buf, rows.RawValues())
		n++
		total++
		if n >= int64(batchRows) || len(buf) >= batchBytes {
			if err := flush(); err != nil {
				return total, seq, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return total, seq, fmt.Errorf("read %s: %w", j.name, err)
	}
	if n > 0 {
		if err := flush(); err != nil {
			return total, seq, err
		}
	}
	return total, seq, nil
}

// wait holds a reader while too many batches wait to be formatted.
func (r *Runner) wait(ctx context.Context) error {
	limit := r.MaxPending
	if limit <= 0 {
		limit = DefaultMaxPending
	}
	if r.published.Add(1)%8 != 0 {
		return nil
	}
	for {
		c, err := r.JS.Consumer(ctx, bus.StreamExport, bus.ConsumerExportFormat)
		if err != nil {
			// No transform has started yet: nothing to measure.
			return nil
		}
		info, err := c.Info(ctx)
		if err != nil {
			return nil
		}
		if info.NumPending+uint64(info.NumAckPending) < uint64(limit) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Expire deletes the files of export runs that ended longer than retention
// ago and records when; it returns how many runs it cleared.
func (r *Runner) Expire(ctx context.Context, retention time.Duration) (int, error) {
	rows, err := r.Pool.Query(ctx, `SELECT id::text, outputs::text FROM ferry.runs
		WHERE kind = 'export' AND outputs IS NOT NULL AND outputs_deleted_at IS NULL AND finished_at < now() - $1::interval
		ORDER BY finished_at LIMIT 1000`, fmt.Sprintf("%d milliseconds", retention.Milliseconds()))
	if err != nil {
		return 0, err
	}
	type expired struct{ id, outputs string }
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (expired, error) {
		var e expired
		return e, row.Scan(&e.id, &e.outputs)
	})
	if err != nil {
		return 0, err
	}
	for _, e := range list {
		var outs ferryv1.RunOutputs
		if err := protojson.Unmarshal([]byte(e.outputs), &outs); err != nil {
			return 0, err
		}
		for _, o := range outs.GetOutputs() {
			if err := r.Files.Delete(ctx, exportfmt.OutputObject(e.id, o.GetName())); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				return 0, fmt.Errorf("delete %s of run %s: %w", o.GetName(), e.id, err)
			}
		}
		if _, err := r.Pool.Exec(ctx, `UPDATE ferry.runs SET outputs_deleted_at = now() WHERE id = $1 AND outputs_deleted_at IS NULL`, e.id); err != nil {
			return 0, err
		}
	}
	return len(list), nil
}
