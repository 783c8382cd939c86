// Package apply writes import runs to datasets in two steps. Stage: each
// chunk's mapped rows are copied into the run's staging table, with a row in
// the chunk ledger, in one transaction, so that a chunk delivered twice is
// staged once. Apply: once every chunk is staged, one transaction decides
// (cross-chunk checks, the error policy, the mirror guard) and then writes
// the dataset, so a run that fails its error policy applies nothing.
package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/formats/textenc"
	"github.com/ferrydata/ferry/libs/mapping"
	libstore "github.com/ferrydata/ferry/libs/store"
)

// Result is what staging a batch did.
type Result struct {
	// Skipped says why nothing was staged: "duplicate" for a chunk already
	// in the ledger, "ended" for a run that is no longer open.
	Skipped string
	Counts  *ferryv1.RunCounts
}

// Applier stages batches and applies runs.
type Applier struct {
	Pool *pgxpool.Pool
	// AfterCommit, when set, runs after a batch's transaction committed and
	// before the caller acknowledges it; tests use it to crash there.
	AfterCommit func(b *ferryv1.RecordBatch)
}

// StageTable is the staging table of a run, schema-qualified and quoted.
func StageTable(runID string) string { return libstore.StageTable(runID) }

// lockRun takes the run's lock for applying or ending it (the profile
// service takes the same lock to cancel): it waits for every chunk being
// staged, and chunks staged after it see the run ended.
func lockRun(ctx context.Context, tx pgx.Tx, runID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 1))`, runID)
	return err
}

// lockRunShared takes the run's lock for staging a chunk: chunks of one run
// stage in parallel, never while the run is applied or ended.
func lockRunShared(ctx context.Context, tx pgx.Tx, runID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 1))`, runID)
	return err
}

// errStagedMeanwhile says a chunk was staged by another delivery while this
// one staged it too: the ledger's key refused the second.
var errStagedMeanwhile = errors.New("chunk staged meanwhile by another delivery")

// Stage stages b in one transaction.
func (a *Applier) Stage(ctx context.Context, b *ferryv1.RecordBatch) (Result, error) {
	var res Result
	snap := b.GetRun()
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		if err := lockRunShared(ctx, tx, snap.GetRunId()); err != nil {
			return err
		}
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM ferry.runs WHERE id = $1`, snap.GetRunId()).Scan(&status); err != nil {
			return fmt.Errorf("load run: %w", err)
		}
		if status != "queued" && status != "running" {
			res.Skipped = "ended"
			return nil
		}
		var counts ferryv1.RunCounts
		err := tx.QueryRow(ctx, `SELECT rows_read, rows_rejected, rows_held FROM ferry.run_chunks WHERE run_id = $1 AND seq = $2`,
			snap.GetRunId(), b.GetSeq()).Scan(&counts.Read, &counts.Rejected, &counts.Held)
		if err == nil {
			res.Skipped, res.Counts = "duplicate", &counts
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("look up ledger: %w", err)
		}
		res.Counts, err = a.stage(ctx, tx, b)
		return err
	})
	if errors.Is(err, errStagedMeanwhile) {
		// Rolled back; the other delivery's ledger row is committed.
		var counts ferryv1.RunCounts
		if err := a.Pool.QueryRow(ctx, `SELECT rows_read, rows_rejected, rows_held FROM ferry.run_chunks WHERE run_id = $1 AND seq = $2`,
			snap.GetRunId(), b.GetSeq()).Scan(&counts.Read, &counts.Rejected, &counts.Held); err != nil {
			return res, fmt.Errorf("stage run %s chunk %d: look up ledger: %w", snap.GetRunId(), b.GetSeq(), err)
		}
		return Result{Skipped: "duplicate", Counts: &counts}, nil
	}
	if err != nil {
		return res, fmt.Errorf("stage run %s chunk %d: %w", snap.GetRunId(), b.GetSeq(), err)
	}
	if res.Skipped == "" && a.AfterCommit != nil {
		a.AfterCommit(b)
	}
	return res, nil
}

func (a *Applier) stage(ctx context.Context, tx pgx.Tx, b *ferryv1.RecordBatch) (*ferryv1.RunCounts, error) {
	snap := b.GetRun()
	counts := &ferryv1.RunCounts{Read: b.GetRead(), Rejected: int64(len(b.GetRejects())), Held: int64(len(b.GetHeld()))}
	if b.GetStaged() > 0 {
		stage, err := ensureStage(ctx, tx, snap, b.GetColumns())
		if err != nil {
			return nil, err
		}
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(b.GetCopyData()),
			fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT csv)", stage, quoteAll(b.GetColumns())))
		if err != nil {
			return nil, fmt.Errorf("stage rows: %w", err)
		}
		if tag.RowsAffected() != b.GetStaged() {
			return nil, fmt.Errorf("staged %d rows, the batch says %d", tag.RowsAffected(), b.GetStaged())
		}
	}
	if len(b.GetHeader()) > 0 {
		cols := map[string]string{}
		for f, c := range b.GetFieldColumns() {
			cols[f] = textenc.Storable(c)
		}
		if _, err := tx.Exec(ctx, `UPDATE ferry.runs SET header = $2, field_columns = $3 WHERE id = $1 AND header IS NULL`,
			snap.GetRunId(), textenc.StorableAll(b.GetHeader()), cols); err != nil {
			return nil, fmt.Errorf("record header: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ferry.run_chunks (run_id, seq, tenant_id, rows_read, rows_inserted, rows_updated,
			rows_unchanged, rows_rejected, rows_superseded, rows_staged, rows_held) VALUES ($1, $2, $3, $4, 0, 0, 0, $5, 0, $6, $7)`,
		snap.GetRunId(), b.GetSeq(), snap.GetTenantId(), counts.Read, counts.Rejected, b.GetStaged(), counts.Held); err != nil {
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "23505" { // unique_violation
			return nil, errStagedMeanwhile
		}
		return nil, fmt.Errorf("write ledger: %w", err)
	}
	if len(b.GetRejects()) > 0 {
		rows := make([][]any, len(b.GetRejects()))
		for i, r := range b.GetRejects() {
			var record []string
			if r.GetRecord() != nil {
				record = textenc.StorableAll(r.GetRecord())
			}
			rows[i] = []any{snap.GetRunId(), r.GetRow(), snap.GetTenantId(), textenc.Storable(r.GetColumn()), textenc.Storable(r.GetValue()),
				textenc.Storable(r.GetReason()), r.GetRule(), record}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ferry", "run_rejects"},
			[]string{"run_id", "row_number", "tenant_id", "column_name", "value", "reason", "rule", "record"}, pgx.CopyFromRows(rows)); err != nil {
			return nil, fmt.Errorf("write rejects: %w", err)
		}
	}
	if len(b.GetHeld()) > 0 {
		rows := make([][]any, len(b.GetHeld()))
		for i, h := range b.GetHeld() {
			r := h.GetRow()
			rows[i] = []any{snap.GetRunId(), r.GetRow(), snap.GetTenantId(), textenc.Storable(r.GetColumn()), textenc.Storable(r.GetValue()),
				r.GetTable(), textenc.Storable(r.GetReason()), textenc.StorableAll(h.GetRecord())}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ferry", "run_held"},
			[]string{"run_id", "row_number", "tenant_id", "column_name", "value", "table_name", "reason", "record"}, pgx.CopyFromRows(rows)); err != nil {
			return nil, fmt.Errorf("write held rows: %w", err)
		}
	}
	return counts, nil
}

// ensureStage creates the run's staging table. It is unlogged: staging is
// written once and read once, and the apply step checks that it still holds
// every staged row (a database crash empties unlogged tables).
func ensureStage(ctx context.Context, tx pgx.Tx, snap *ferryv1.RunSnapshot, columns []string) (string, error) {
	types := map[string]string{mapping.RowColumn: "bigint", mapping.SourceColumn: "text"}
	for _, f := range snap.GetDataset().GetFields() {
		types[f.GetName()] = mapping.ColumnType(f.GetType())
	}
	var def strings.Builder
	for i, c := range columns {
		if i > 0 {
			def.WriteString(", ")
		}
		t, ok := types[c]
		if !ok {
			return "", fmt.Errorf("column %q is not a field of dataset %s", c, snap.GetDataset().GetName())
		}
		def.WriteString(libstore.Ident(c) + " " + t)
	}
	name := StageTable(snap.GetRunId())
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up staging table: %w", err)
	}
	if exists {
		return name, nil
	}
	// Chunks stage in parallel: the first to find no table creates it and
	// holds this lock until it commits; the others wait, then find it. Two
	// uncommitted CREATE TABLEs of one name would fail on the catalog's keys.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 3))`, snap.GetRunId()); err != nil {
		return "", fmt.Errorf("lock staging table: %w", err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE UNLOGGED TABLE IF NOT EXISTS %s (%s)", name, def.String())); err != nil {
		return "", fmt.Errorf("create staging table: %w", err)
	}
	return name, nil
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = libstore.Ident(n)
	}
	return strings.Join(q, ", ")
}

// Permanent reports whether err is one that applying again cannot fix: bad
// data (class 22), a violated constraint (23) or a missing or changed table
// (42).
func Permanent(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "42":
		return true
	}
	return false
}
