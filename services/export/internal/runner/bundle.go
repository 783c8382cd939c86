package runner

import (
	"archive/zip"
	"context"
	"io"

	"github.com/jackc/pgx/v5"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/formats/filename"
	"github.com/ferrydata/ferry/libs/formats/outfile"
)

// part is one file of a database export, ready to read.
type part struct {
	ds   *ferryv1.Dataset
	cols []*column
	sql  string
	args []any
	name string
}

// exportBundle writes a database export: one file per dataset, all read
// from one snapshot, as separate outputs or as one zip archive.
func (r *Runner) exportBundle(ctx context.Context, snap *ferryv1.ExportSnapshot) (Outcome, error) {
	spec := snap.GetSpec()
	var parts []part
	for _, p := range snap.GetParts() {
		tables, err := r.loadTables(ctx, snap.GetTenantId(), p.GetTemplate())
		if err != nil {
			return Outcome{}, err
		}
		cols, err := columns(p.GetDataset(), p.GetTemplate(), tables)
		if err != nil {
			return Outcome{}, permanent("%s: %v", p.GetDataset().GetName(), err)
		}
		e := p.GetEntry()
		sql, args, err := buildQuery(snap, p.GetDataset(), p.GetTable(), e.GetSelection(), e.GetSort(), e.GetMaxRows())
		if err != nil {
			return Outcome{}, err
		}
		name, err := filename.Fill(e.GetFileName(), snap.GetProfile(), p.GetDataset().GetName(), snap.GetRunId(),
			snap.GetProfileVersion(), snap.GetCreateTime().AsTime(), extension(spec))
		if err != nil {
			return Outcome{}, permanent("%s: %v", p.GetDataset().GetName(), err)
		}
		parts = append(parts, part{ds: p.GetDataset(), cols: cols, sql: sql, args: args, name: name})
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
	opts := fileOptions(spec)
	var (
		metas    []*ferryv1.RunOutput
		objects  []string
		total    int64
		replaced int64
		werr     error
	)
	if spec.GetZip() {
		name, err := filename.Fill(spec.GetFileName(), snap.GetProfile(), "bundle", snap.GetRunId(), snap.GetProfileVersion(),
			snap.GetCreateTime().AsTime(), "zip")
		if err != nil {
			return Outcome{}, permanent("%v", err)
		}
		archive := r.openRaw(ctx, snap, "archive", name, "application/zip", "zip")
		objects = append(objects, archive.object)
		zw := zip.NewWriter(archive.pw)
		for _, p := range parts {
			entry, err := zw.Create(p.name)
			if err != nil {
				werr = err
				break
			}
			n, stats, err := r.writePart(ctx, tx, p, entry, opts, spec)
			total, replaced = total+n, replaced+stats.Replaced
			if err != nil {
				werr = err
				break
			}
		}
		if werr == nil {
			werr = zw.Close()
		}
		archive.meta.Rows = total
		if err := archive.finish(werr); err != nil && werr == nil {
			werr = err
		}
		metas = append(metas, archive.meta)
	} else {
		for _, p := range parts {
			out, err := r.open(ctx, snap, p.ds.GetName(), p.name, fileColumns(p.cols), opts)
			if err != nil {
				werr = err
				break
			}
			objects = append(objects, out.object)
			n, err := r.write(ctx, tx, p.sql, p.args, p.ds, p.cols, &outputs{rows: out}, spec)
			total += n
			if err := out.close(err); err != nil {
				werr = err
				break
			}
			replaced += out.replaced
			metas = append(metas, out.meta)
		}
	}
	return r.finish(ctx, tx, snap, objects, metas, total, replaced, watermark, werr)
}

// writePart writes one dataset's rows as one file of an archive.
func (r *Runner) writePart(ctx context.Context, tx pgx.Tx, p part, dst io.Writer, opts outfile.Options, spec *ferryv1.ExportProfileSpec) (int64, outfile.Stats, error) {
	w, err := outfile.New(dst, fileColumns(p.cols), opts)
	if err != nil {
		return 0, outfile.Stats{}, permanent("%s: %v", p.ds.GetName(), err)
	}
	n, werr := r.write(ctx, tx, p.sql, p.args, p.ds, p.cols, &outputs{rows: &output{w: w}}, spec)
	stats, cerr := w.Close()
	if werr == nil {
		werr = cerr
	}
	return n, stats, werr
}

// fileColumns are the file's columns of compiled columns.
func fileColumns(cols []*column) []outfile.Column {
	out := make([]outfile.Column, len(cols))
	for i, c := range cols {
		out[i] = c.out
	}
	return out
}
