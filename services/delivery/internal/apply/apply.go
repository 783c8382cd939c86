// Package apply writes record batches to datasets: one PostgreSQL
// transaction per chunk that stages the rows with COPY, upserts only rows
// that changed, and records the chunk in the run's ledger, so that a chunk
// delivered twice is applied once.
package apply

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/mapping"
	libstore "github.com/ferrydata/ferry/libs/store"
)

// Result is what applying a batch did.
type Result struct {
	// Skipped says why nothing was applied: "duplicate" for a chunk already
	// in the ledger, "ended" for a run that was canceled or failed.
	Skipped string
	Counts  *ferryv1.RunCounts
}

// Applier applies batches.
type Applier struct {
	Pool *pgxpool.Pool
	// AfterCommit, when set, runs after a batch's transaction committed and
	// before the caller acknowledges it; tests use it to crash there.
	AfterCommit func(b *ferryv1.RecordBatch)
}

// Apply applies b in one transaction.
func (a *Applier) Apply(ctx context.Context, b *ferryv1.RecordBatch) (Result, error) {
	var res Result
	snap := b.GetRun()
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		// The chunks of one run apply one at a time, so that each sees the
		// keys of the chunks applied before it.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 1))`, snap.GetRunId()); err != nil {
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
		err := tx.QueryRow(ctx, `SELECT rows_read, rows_inserted, rows_updated, rows_unchanged, rows_rejected, rows_superseded
			FROM ferry.run_chunks WHERE run_id = $1 AND seq = $2`, snap.GetRunId(), b.GetSeq()).
			Scan(&counts.Read, &counts.Inserted, &counts.Updated, &counts.Unchanged, &counts.Rejected, &counts.Superseded)
		if err == nil {
			res.Skipped, res.Counts = "duplicate", &counts
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("look up ledger: %w", err)
		}
		res.Counts, err = a.apply(ctx, tx, b)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("apply run %s chunk %d: %w", snap.GetRunId(), b.GetSeq(), err)
	}
	if res.Skipped == "" && a.AfterCommit != nil {
		a.AfterCommit(b)
	}
	return res, nil
}

func (a *Applier) apply(ctx context.Context, tx pgx.Tx, b *ferryv1.RecordBatch) (*ferryv1.RunCounts, error) {
	snap := b.GetRun()
	counts := &ferryv1.RunCounts{Read: b.GetRead(), Rejected: int64(len(b.GetRejects())), Superseded: b.GetSuperseded()}

	// Rows of this chunk whose key a later chunk of the file has already
	// applied lose to that later row: drop them.
	drop, err := supersededRows(ctx, tx, b)
	if err != nil {
		return nil, err
	}
	counts.Superseded += int64(len(drop))

	if staged := len(b.GetRows()) - len(drop); staged > 0 {
		stage, err := ensureStage(ctx, tx, snap.GetDataset(), b.GetColumns())
		if err != nil {
			return nil, err
		}
		cols := quoteAll(b.GetColumns())
		if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(b.GetCopyData()),
			fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT csv)", stage, cols)); err != nil {
			return nil, fmt.Errorf("stage rows: %w", err)
		}
		if len(drop) > 0 {
			if _, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = ANY($1)", stage, mapping.RowColumn), drop); err != nil {
				return nil, fmt.Errorf("drop superseded rows: %w", err)
			}
		}
		if err := tx.QueryRow(ctx, upsertSQL(snap, stage, b.GetColumns()), snap.GetRunId(), snap.GetRunSeq()).
			Scan(&counts.Inserted, &counts.Updated); err != nil {
			return nil, fmt.Errorf("upsert into %s.%s: %w", snap.GetSchema(), snap.GetTable(), err)
		}
		counts.Unchanged = int64(staged) - counts.Inserted - counts.Updated
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ferry.run_chunks (run_id, seq, tenant_id, rows_read, rows_inserted, rows_updated,
			rows_unchanged, rows_rejected, rows_superseded, keys) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		snap.GetRunId(), b.GetSeq(), snap.GetTenantId(), counts.Read, counts.Inserted, counts.Updated,
		counts.Unchanged, counts.Rejected, counts.Superseded, b.GetKeys()); err != nil {
		return nil, fmt.Errorf("write ledger: %w", err)
	}
	if len(b.GetRejects()) > 0 {
		rows := make([][]any, len(b.GetRejects()))
		for i, r := range b.GetRejects() {
			rows[i] = []any{snap.GetRunId(), r.GetRow(), snap.GetTenantId(), r.GetColumn(), r.GetValue(), r.GetReason()}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ferry", "run_rejects"},
			[]string{"run_id", "row_number", "tenant_id", "column_name", "value", "reason"}, pgx.CopyFromRows(rows)); err != nil {
			return nil, fmt.Errorf("write rejects: %w", err)
		}
	}
	return counts, nil
}

// supersededRows returns the row numbers of b whose key appears in a later
// chunk of the same run that is already applied. PostgreSQL intersects the
// keys, so memory stays bounded by the chunk, however many chunks came first.
func supersededRows(ctx context.Context, tx pgx.Tx, b *ferryv1.RecordBatch) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT k FROM ferry.run_chunks c, unnest(c.keys) AS k
		WHERE c.run_id = $1 AND c.seq > $2 AND c.keys IS NOT NULL AND k = ANY($3)`,
		b.GetRun().GetRunId(), b.GetSeq(), b.GetKeys())
	if err != nil {
		return nil, fmt.Errorf("load later keys: %w", err)
	}
	later, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(later) == 0 {
		return nil, err
	}
	lost := make(map[string]bool, len(later))
	for _, k := range later {
		lost[k] = true
	}
	var drop []int64
	for i, k := range b.GetKeys() {
		if lost[k] {
			drop = append(drop, b.GetRows()[i])
		}
	}
	return drop, nil
}

// ensureStage creates (once per connection) a temporary staging table for a
// dataset's columns, emptied at every commit.
func ensureStage(ctx context.Context, tx pgx.Tx, ds *ferryv1.Dataset, columns []string) (string, error) {
	types := map[string]string{mapping.RowColumn: "bigint"}
	for _, f := range ds.GetFields() {
		types[f.GetName()] = mapping.ColumnType(f.GetType())
	}
	var def strings.Builder
	for i, c := range columns {
		if i > 0 {
			def.WriteString(", ")
		}
		t, ok := types[c]
		if !ok {
			return "", fmt.Errorf("column %q is not a field of dataset %s", c, ds.GetName())
		}
		def.WriteString(libstore.Ident(c) + " " + t)
	}
	sum := sha256.Sum256([]byte(ds.GetTable() + "\x00" + def.String()))
	name := "ferry_stage_" + hex.EncodeToString(sum[:8])
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE IF NOT EXISTS %s (%s) ON COMMIT DELETE ROWS", name, def.String())); err != nil {
		return "", fmt.Errorf("create staging table: %w", err)
	}
	return name, nil
}

// upsertSQL inserts new keys and updates changed rows, where the staged row
// is newer: a later run, or a later row of the same run. It returns the
// counts of inserted and updated rows.
func upsertSQL(snap *ferryv1.RunSnapshot, stage string, columns []string) string {
	fields := columns[:len(columns)-1] // the last column is the row number
	isKey := map[string]bool{}
	for _, k := range snap.GetDataset().GetKey() {
		isKey[k] = true
	}
	var set, cmpT, cmpE []string
	for _, f := range fields {
		q := libstore.Ident(f)
		if !isKey[f] {
			set = append(set, q+" = EXCLUDED."+q)
			cmpT = append(cmpT, "t."+q)
			cmpE = append(cmpE, "EXCLUDED."+q)
		}
	}
	set = append(set, "_ferry_run = EXCLUDED._ferry_run", "_ferry_run_seq = EXCLUDED._ferry_run_seq",
		"_ferry_row = EXCLUDED._ferry_row", "_ferry_updated_at = now()", "_ferry_xid = pg_current_xact_id()")
	// With every field in the key, an existing row cannot differ.
	changed := "false"
	if len(cmpT) > 0 {
		changed = fmt.Sprintf("ROW(%s) IS DISTINCT FROM ROW(%s)", strings.Join(cmpT, ", "), strings.Join(cmpE, ", "))
	}
	cols := quoteAll(fields)
	return fmt.Sprintf(`WITH up AS (
	INSERT INTO %s AS t (%s, _ferry_run, _ferry_run_seq, _ferry_row)
	SELECT %s, $1::uuid, $2::bigint, %s FROM %s
	ON CONFLICT (%s) DO UPDATE SET %s
	WHERE (t._ferry_run_seq < EXCLUDED._ferry_run_seq OR (t._ferry_run_seq = EXCLUDED._ferry_run_seq AND t._ferry_row < EXCLUDED._ferry_row))
	  AND %s
	RETURNING (xmax = 0) AS inserted)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up`,
		libstore.Ident(snap.GetSchema(), snap.GetTable()), cols, cols, mapping.RowColumn, stage,
		quoteAll(snap.GetDataset().GetKey()), strings.Join(set, ", "), changed)
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
