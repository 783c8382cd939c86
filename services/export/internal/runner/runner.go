// Package runner runs export runs: it reads the selected rows of a dataset
// in one consistent snapshot (a repeatable-read transaction), formats them
// with the profile's template into CSV, XLSX or JSONL, streams the files into
// the object store, and records the run's outputs and, for incremental
// profiles, the watermark of the snapshot it read.
package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/expr"
	"github.com/ferrydata/ferry/libs/formats/filename"
	"github.com/ferrydata/ferry/libs/formats/outfile"
	"github.com/ferrydata/ferry/libs/selection"
	libstore "github.com/ferrydata/ferry/libs/store"
)

// Runner runs exports.
type Runner struct {
	Pool  *pgxpool.Pool
	Files jetstream.ObjectStore
	// Tables loads a tenant's cross-reference table.
	Tables func(ctx context.Context, tenant, name string) (Reverser, error)
	Log    *slog.Logger
}

// Outcome is what a run did.
type Outcome struct {
	// Skipped is "ended" when the run had ended already.
	Skipped string
	Status  string
	Rows    int64
}

// permanentError is a failure that running again cannot fix: it fails the
// run with its message.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// Run runs an export. A run that ended already is skipped; a redelivered
// command of a run that did not end writes the same file names again.
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
	out, err := r.export(ctx, snap)
	if err != nil {
		var pe *permanentError
		if ctx.Err() != nil || !errors.As(err, &pe) {
			return out, err
		}
		if _, ferr := r.Pool.Exec(context.WithoutCancel(ctx), `UPDATE ferry.runs SET status = 'failed', error = $2, finished_at = now()
			WHERE id = $1 AND status = 'running'`, snap.GetRunId(), pe.msg); ferr != nil {
			return out, ferr
		}
		return Outcome{Status: "failed"}, nil
	}
	return out, nil
}

func permanent(format string, a ...any) error {
	return &permanentError{msg: fmt.Sprintf(format, a...)}
}

// output is one file being written: rows go to w, bytes to the object store.
type output struct {
	meta     *ferryv1.RunOutput
	replaced int64
	w        outfile.Writer
	pw       *io.PipeWriter
	done     chan error
	hash     hashCount
	object   string
}

type hashCount struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (h *hashCount) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	return h.h.Write(p)
}

// openRaw starts an output named name whose bytes (written to its pw)
// stream into the object store.
func (r *Runner) openRaw(ctx context.Context, snap *ferryv1.ExportSnapshot, role, name, contentType, format string) *output {
	pr, pw := io.Pipe()
	out := &output{meta: &ferryv1.RunOutput{Name: name, Role: role, ContentType: contentType, Format: format},
		pw: pw, done: make(chan error, 1), object: "exports/" + snap.GetRunId() + "/" + name}
	out.hash.h = sha256.New()
	go func() {
		_, err := r.Files.Put(ctx, jetstream.ObjectMeta{Name: out.object}, io.TeeReader(pr, &out.hash))
		pr.CloseWithError(err)
		out.done <- err
	}()
	return out
}

// open starts an output of rows formatted as the profile says.
func (r *Runner) open(ctx context.Context, snap *ferryv1.ExportSnapshot, role, name string, cols []outfile.Column, o outfile.Options) (*output, error) {
	out := r.openRaw(ctx, snap, role, name, contentType(snap.GetSpec()), extension(snap.GetSpec()))
	w, err := outfile.New(out.pw, cols, o)
	if err != nil {
		out.pw.CloseWithError(err)
		<-out.done
		return nil, permanent("%v", err)
	}
	out.w = w
	return out, nil
}

// finish ends a raw output after its writer is closed; on failure (err
// set) it discards it.
func (o *output) finish(failed error) error {
	o.pw.CloseWithError(failed)
	perr := <-o.done
	if failed != nil {
		return failed
	}
	if perr != nil {
		return fmt.Errorf("store %s: %w", o.meta.GetName(), perr)
	}
	o.meta.Size = o.hash.n
	o.meta.Sha256 = hex.EncodeToString(o.hash.h.Sum(nil))
	return nil
}

// close finishes an output; on failure (err set) it discards it.
func (o *output) close(failed error) error {
	stats, err := o.w.Close()
	if failed == nil {
		failed = err
	}
	o.meta.Rows, o.replaced = stats.Rows, stats.Replaced
	return o.finish(failed)
}

func contentType(spec *ferryv1.ExportProfileSpec) string {
	switch spec.GetFormat() {
	case ferryv1.ExportFormat_EXPORT_FORMAT_XLSX:
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case ferryv1.ExportFormat_EXPORT_FORMAT_JSONL:
		return "application/x-ndjson"
	}
	return "text/csv; charset=" + spec.GetCsv().GetEncoding()
}

func extension(spec *ferryv1.ExportProfileSpec) string {
	switch spec.GetFormat() {
	case ferryv1.ExportFormat_EXPORT_FORMAT_XLSX:
		return "xlsx"
	case ferryv1.ExportFormat_EXPORT_FORMAT_JSONL:
		return "jsonl"
	}
	return "csv"
}

func fileOptions(spec *ferryv1.ExportProfileSpec) outfile.Options {
	o := outfile.Options{AllowFormulas: spec.GetAllowFormulas(), ReplaceUnencodable: spec.GetUnencodable() == ferryv1.Unencodable_UNENCODABLE_REPLACE}
	switch spec.GetFormat() {
	case ferryv1.ExportFormat_EXPORT_FORMAT_XLSX:
		o.Format = outfile.XLSX
	case ferryv1.ExportFormat_EXPORT_FORMAT_JSONL:
		o.Format = outfile.JSONL
	default:
		c := spec.GetCsv()
		o.Format, o.QuoteAll, o.LF, o.Encoding, o.BOM = outfile.CSV, c.GetQuoteAll(), c.GetLineEnding() == "lf", c.GetEncoding(), c.GetBom()
		if d := c.GetDelimiter(); d != "" {
			o.Delimiter = d[0]
		}
	}
	return o
}

// export reads and writes the run's files and records them.
func (r *Runner) export(ctx context.Context, snap *ferryv1.ExportSnapshot) (Outcome, error) {
	if len(snap.GetParts()) > 0 {
		return r.exportBundle(ctx, snap)
	}
	spec, ds := snap.GetSpec(), snap.GetDataset()
	tables, err := r.loadTables(ctx, snap.GetTenantId(), snap.GetTemplate())
	if err != nil {
		return Outcome{}, err
	}
	cols, err := columns(ds, snap.GetTemplate(), tables)
	if err != nil {
		return Outcome{}, permanent("%v", err)
	}
	sql, args, err := buildQuery(snap, ds, snap.GetTable(), spec.GetSelection(), spec.GetSort(), spec.GetMaxRows())
	if err != nil {
		return Outcome{}, err
	}
	tx, err := r.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Outcome{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var watermark string
	if err := tx.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&watermark); err != nil {
		return Outcome{}, err
	}
	outs, err := r.openOutputs(ctx, snap, cols)
	if err != nil {
		return Outcome{}, err
	}
	rowsRead, werr := r.write(ctx, tx, sql, args, ds, cols, outs, spec)
	var (
		metas    []*ferryv1.RunOutput
		replaced int64
	)
	for _, o := range outs.all() {
		if err := o.close(werr); err != nil && werr == nil {
			werr = err
		}
		metas = append(metas, o.meta)
		replaced += o.replaced
	}
	var objects []string
	for _, o := range outs.all() {
		objects = append(objects, o.object)
	}
	return r.finish(ctx, tx, snap, objects, metas, rowsRead, replaced, watermark, werr)
}

// finish ends an export that wrote objects: on failure (werr set) it
// deletes them; otherwise it ends the read and records the run.
func (r *Runner) finish(ctx context.Context, tx pgx.Tx, snap *ferryv1.ExportSnapshot, objects []string, metas []*ferryv1.RunOutput,
	rows, replaced int64, watermark string, werr error) (Outcome, error) {
	if werr != nil {
		for _, o := range objects {
			_ = r.Files.Delete(context.WithoutCancel(ctx), o)
		}
		var ue *outfile.UnencodableError
		if errors.As(werr, &ue) {
			return Outcome{}, permanent("%v", ue)
		}
		return Outcome{}, werr
	}
	if err := tx.Commit(ctx); err != nil {
		return Outcome{}, err
	}
	note := ""
	if replaced > 0 {
		note = fmt.Sprintf("%d characters that %s cannot hold were replaced", replaced, snap.GetSpec().GetCsv().GetEncoding())
	}
	return Outcome{Status: "succeeded", Rows: rows}, r.record(ctx, snap, metas, rows, watermark, note)
}

// loadTables loads the cross-reference tables a template uses.
func (r *Runner) loadTables(ctx context.Context, tenant string, t *ferryv1.TemplateSpec) (map[string]Reverser, error) {
	tables := map[string]Reverser{}
	for _, c := range t.GetColumns() {
		if x := c.GetCrossReference(); x != "" && tables[x] == nil {
			rt, err := r.Tables(ctx, tenant, x)
			if err != nil {
				return nil, fmt.Errorf("load cross-reference table %s: %w", x, err)
			}
			tables[x] = rt
		}
	}
	return tables, nil
}

// buildQuery is the SELECT of one dataset's rows: every field as text, then
// whether the row is deleted and whether it existed at the watermark.
func buildQuery(snap *ferryv1.ExportSnapshot, ds *ferryv1.Dataset, table, selectionSrc string, sort []*ferryv1.SortKey, maxRows int64) (string, []any, error) {
	spec := snap.GetSpec()
	var args []any
	mode := "_ferry_deleted_at IS NULL"
	incremental := spec.GetMode() == ferryv1.ExportMode_EXPORT_MODE_INCREMENTAL && snap.GetWatermark() != ""
	if incremental {
		args = append(args, snap.GetWatermark())
		mode = "NOT pg_visible_in_snapshot(_ferry_xid, $1::pg_snapshot)"
		if spec.GetDeletions() == ferryv1.Deletions_DELETIONS_OMIT && !spec.GetDeltaFiles() {
			mode += " AND _ferry_deleted_at IS NULL"
		}
	}
	q, err := selection.Compile(selectionSrc, ds.GetFields(), ds.GetKey(), sort, len(args))
	if err != nil {
		return "", nil, permanent("selection: %v", err)
	}
	args = append(args, q.Args...)
	var sel strings.Builder
	sel.WriteString("SELECT ")
	for i, f := range ds.GetFields() {
		if i > 0 {
			sel.WriteString(", ")
		}
		id := libstore.Ident(f.GetName())
		switch f.GetType() {
		case ferryv1.FieldType_FIELD_TYPE_DATE:
			fmt.Fprintf(&sel, "to_char(%s, 'YYYY-MM-DD')", id)
		case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
			fmt.Fprintf(&sel, `to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, id)
		default:
			sel.WriteString(id + "::text")
		}
	}
	prev := "false"
	if incremental {
		prev = "pg_visible_in_snapshot(_ferry_created_xid, $1::pg_snapshot)"
	}
	fmt.Fprintf(&sel, ", (_ferry_deleted_at IS NOT NULL)::text, (%s)::text FROM %s WHERE %s AND (%s) ORDER BY %s", prev,
		libstore.Ident(snap.GetSchema(), table), mode, q.Where, q.OrderBy)
	if maxRows > 0 {
		fmt.Fprintf(&sel, " LIMIT %d", maxRows)
	}
	return sel.String(), args, nil
}

// outputs are a run's files by role.
type outputs struct {
	rows, deleted, added, changed, removed *output
	// tombstones says rows carry a _deleted column.
	tombstones bool
}

func (o *outputs) all() []*output {
	var out []*output
	for _, x := range []*output{o.rows, o.deleted, o.added, o.changed, o.removed} {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}

func (r *Runner) openOutputs(ctx context.Context, snap *ferryv1.ExportSnapshot, cols []*column) (*outputs, error) {
	spec := snap.GetSpec()
	o := fileOptions(spec)
	fcols := fileColumns(cols)
	name := func(role string) (string, error) {
		base, err := fileName(snap)
		if err != nil || role == "rows" {
			return base, err
		}
		if i := strings.LastIndex(base, "."); i > 0 {
			return base[:i] + "_" + role + base[i:], nil
		}
		return base + "_" + role, nil
	}
	outs := &outputs{}
	var err error
	open := func(role string, c []outfile.Column) *output {
		if err != nil {
			return nil
		}
		var n string
		if n, err = name(role); err != nil {
			err = permanent("%v", err)
			return nil
		}
		var out *output
		out, err = r.open(ctx, snap, role, n, c, o)
		return out
	}
	switch {
	case spec.GetDeltaFiles() && snap.GetWatermark() != "":
		outs.added, outs.changed, outs.removed = open("added", fcols), open("changed", fcols), open("removed", fcols)
	default:
		rowCols := fcols
		if spec.GetDeletions() == ferryv1.Deletions_DELETIONS_TOMBSTONES && snap.GetWatermark() != "" {
			rowCols = append(append([]outfile.Column{}, fcols...), outfile.Column{Header: "_deleted", Kind: outfile.Bool})
			outs.tombstones = true
		}
		outs.rows = open("rows", rowCols)
		if spec.GetDeletions() == ferryv1.Deletions_DELETIONS_SEPARATE_FILE && snap.GetWatermark() != "" {
			outs.deleted = open("deleted", fcols)
		}
	}
	if err != nil {
		for _, x := range outs.all() {
			_ = x.close(err)
		}
		return nil, err
	}
	return outs, nil
}

// write streams the rows of the query into the outputs.
func (r *Runner) write(ctx context.Context, tx pgx.Tx, sql string, args []any, ds *ferryv1.Dataset, cols []*column, outs *outputs, spec *ferryv1.ExportProfileSpec) (int64, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", ds.GetName(), err)
	}
	defer rows.Close()
	fields := ds.GetFields()
	typed := make(map[string]any, len(fields))
	vals := make([]outfile.Value, len(fields))
	line := make([]outfile.Value, len(cols), len(cols)+1)
	in := &expr.Input{Fields: typed}
	var n int64
	for rows.Next() {
		raw := rows.RawValues()
		for i, f := range fields {
			v, t, err := cell(f.GetType(), raw[i])
			if err != nil {
				return n, fmt.Errorf("read field %s: %w", f.GetName(), err)
			}
			vals[i], typed[f.GetName()] = v, t
		}
		deleted := string(raw[len(fields)]) == "true"
		createdBefore := string(raw[len(fields)+1]) == "true"
		n++
		for i, c := range cols {
			var v outfile.Value
			if c.field >= 0 {
				v = vals[c.field]
			} else {
				res, err := c.prog.Eval(in)
				if err != nil {
					return n, permanent("row %d, column %q: %v", n, c.out.Header, err)
				}
				v = exprValue(res)
			}
			if c.xref != nil && v.Kind != outfile.Null {
				ext, ok, err := c.xref.Reverse(text(v))
				switch {
				case err != nil:
					return n, permanent("row %d, column %q: %v", n, c.out.Header, err)
				case !ok:
					return n, permanent("row %d, column %q: value %q is not an internal value of cross-reference table %q", n, c.out.Header, text(v), c.xname)
				}
				v = outfile.Value{Kind: outfile.String, Text: ext}
			}
			line[i] = v
		}
		var err error
		switch {
		case outs.added != nil && deleted:
			if createdBefore {
				err = outs.removed.w.WriteRow(n, line)
			}
		case outs.added != nil && createdBefore:
			err = outs.changed.w.WriteRow(n, line)
		case outs.added != nil:
			err = outs.added.w.WriteRow(n, line)
		case deleted && outs.deleted != nil:
			err = outs.deleted.w.WriteRow(n, line)
		case outs.tombstones:
			err = outs.rows.w.WriteRow(n, append(line, outfile.Value{Kind: outfile.Bool, Bool: deleted}))
		default:
			err = outs.rows.w.WriteRow(n, line)
		}
		var ue *outfile.UnencodableError
		if err != nil && !errors.As(err, &ue) {
			// The writers refuse only what the runner got wrong: running
			// again cannot help.
			return n, permanent("row %d: %v", n, err)
		}
		if err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read %s: %w", ds.GetName(), err)
	}
	return n, nil
}

// record ends the run with its outputs and, for an incremental profile,
// moves the watermark to the snapshot this run read: only after success.
func (r *Runner) record(ctx context.Context, snap *ferryv1.ExportSnapshot, metas []*ferryv1.RunOutput, rows int64, watermark, note string) error {
	blob, err := protojson.Marshal(&ferryv1.RunOutputs{Outputs: metas})
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, r.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE ferry.runs SET status = 'succeeded', outputs = $2, rows_read = $3, watermark = $4, note = $5,
			finished_at = now() WHERE id = $1 AND status = 'running'`, snap.GetRunId(), blob, rows, watermark, note)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if snap.GetSpec().GetMode() != ferryv1.ExportMode_EXPORT_MODE_INCREMENTAL {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE ferry.export_profiles SET watermark = $2 WHERE id = (SELECT export_profile_id FROM ferry.runs WHERE id = $1)`,
			snap.GetRunId(), watermark)
		return err
	})
}

// fileName is the run's file name from the profile's template.
func fileName(snap *ferryv1.ExportSnapshot) (string, error) {
	return filename.Fill(snap.GetSpec().GetFileName(), snap.GetProfile(), snap.GetDataset().GetName(), snap.GetRunId(),
		snap.GetProfileVersion(), snap.GetCreateTime().AsTime(), extension(snap.GetSpec()))
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
			if err := r.Files.Delete(ctx, "exports/"+e.id+"/"+o.GetName()); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				return 0, fmt.Errorf("delete %s of run %s: %w", o.GetName(), e.id, err)
			}
		}
		if _, err := r.Pool.Exec(ctx, `UPDATE ferry.runs SET outputs_deleted_at = now() WHERE id = $1 AND outputs_deleted_at IS NULL`, e.id); err != nil {
			return 0, err
		}
	}
	return len(list), nil
}
