package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// ErrNotReady says a run's chunks are not all staged yet; the apply command
// is retried.
var ErrNotReady = errors.New("the run's chunks are not all staged yet")

// Outcome is what applying a run did.
type Outcome struct {
	// Skipped is "ended" when the run was no longer waiting to be applied.
	Skipped string
	// Status is the run's status afterwards.
	Status string
	Counts *ferryv1.RunCounts
}

// ledger is what the chunk ledger says about a run.
type ledger struct {
	chunks, read, rejected, staged, held int64
}

// ApplyRun decides and applies a run whose chunks are all staged, in one
// transaction: apply-time checks (unique values, duplicate keys, write-mode
// rules, references), then the error policy (fail, applying nothing), then
// the mirror guard (hold for approval), then the writes. A dry run computes
// the same and rolls the writes back.
func (a *Applier) ApplyRun(ctx context.Context, cmd *ferryv1.ApplyCommand) (Outcome, error) {
	var out Outcome
	snap := cmd.GetRun()
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		if err := lockRun(ctx, tx, snap.GetRunId()); err != nil {
			return err
		}
		// The checks and the writes join the whole run with the dataset:
		// room to hash and sort it in memory, for this transaction only.
		if _, err := tx.Exec(ctx, "SET LOCAL work_mem = '64MB'"); err != nil {
			return err
		}
		var (
			status   string
			total    *int64
			approved bool
		)
		if err := tx.QueryRow(ctx, `SELECT status, chunks_total, approved FROM ferry.runs WHERE id = $1`, snap.GetRunId()).
			Scan(&status, &total, &approved); err != nil {
			return fmt.Errorf("load run: %w", err)
		}
		if status != "running" {
			out.Skipped, out.Status = "ended", status
			return nil
		}
		var l ledger
		if err := tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_rejected), 0),
				coalesce(sum(rows_staged), 0), coalesce(sum(rows_held), 0) FROM ferry.run_chunks WHERE run_id = $1`, snap.GetRunId()).
			Scan(&l.chunks, &l.read, &l.rejected, &l.staged, &l.held); err != nil {
			return fmt.Errorf("sum ledger: %w", err)
		}
		if total == nil || l.chunks < *total {
			return ErrNotReady
		}
		r := &runApply{tx: tx, snap: snap, spec: snap.GetSpec(), ledger: l, approved: approved || cmd.GetApproved(),
			counts: &ferryv1.RunCounts{Read: l.read, Rejected: l.rejected, Held: l.held}}
		var err error
		out.Status, err = r.run(ctx)
		out.Counts = r.counts
		return err
	})
	if err != nil {
		return out, fmt.Errorf("apply run %s: %w", snap.GetRunId(), err)
	}
	return out, nil
}

// runApply is one run's apply transaction.
type runApply struct {
	tx       pgx.Tx
	snap     *ferryv1.RunSnapshot
	spec     *ferryv1.ImportProfileSpec
	ledger   ledger
	approved bool
	counts   *ferryv1.RunCounts
	// fields are the staged dataset fields; empty when nothing was staged.
	fields []string
	source bool // the stage has the original records
	stage  string
	// columns are the header names of fields read from a column.
	columns map[string]string
	note    string
	preview *ferryv1.Preview
	// direct says the rows go straight from the stage into the dataset,
	// which was empty: no work table is needed to tell new rows from
	// existing ones (see direct).
	direct bool
	// uniqueRejected counts the rows the file's unique rules rejected.
	uniqueRejected int64
}

func (r *runApply) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := r.tx.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

func (r *runApply) run(ctx context.Context) (string, error) {
	if err := r.loadStage(ctx); err != nil {
		if errors.Is(err, errStagingLost) {
			return r.end(ctx, "failed", err.Error())
		}
		return "", err
	}
	if len(r.fields) > 0 {
		// Other writers of the dataset (another run, change events) wait
		// until this run is applied, so the rows it finds new when it
		// decides are still new when it inserts them; readers do not wait.
		if _, err := r.exec(ctx, "LOCK TABLE "+r.target()+" IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return "", fmt.Errorf("lock dataset: %w", err)
		}
	}
	if _, err := r.exec(ctx, "SAVEPOINT before_checks"); err != nil {
		return "", err
	}
	if len(r.fields) > 0 {
		if err := r.check(ctx); err != nil {
			return "", err
		}
	}
	if reason := r.errorPolicy(); reason != "" {
		if r.snap.GetDryRun() {
			// A dry run still shows the rows it read and the rejects.
			if err := r.loadPreview(ctx); err != nil {
				return "", err
			}
		}
		return r.end(ctx, "failed", reason)
	}
	mirrorDeletes := r.mirrorDeletes()
	if len(r.fields) > 0 {
		hold, err := r.mirrorGuard(ctx, mirrorDeletes)
		if err != nil {
			return "", err
		}
		if hold != "" && !r.snap.GetDryRun() {
			// Nothing of the checks is kept: approving runs them again.
			if _, err := r.exec(ctx, "ROLLBACK TO SAVEPOINT before_checks"); err != nil {
				return "", err
			}
			r.counts = &ferryv1.RunCounts{Read: r.ledger.read, Rejected: r.ledger.rejected, Held: r.ledger.held}
			r.note = hold
			return r.hold(ctx)
		}
		if hold != "" {
			r.note = "a real run would be held for approval: " + hold
		}
	}
	if _, err := r.exec(ctx, "SAVEPOINT before_writes"); err != nil {
		return "", err
	}
	if r.snap.GetDryRun() {
		if err := r.loadPreview(ctx); err != nil {
			return "", err
		}
	}
	if len(r.fields) > 0 {
		if err := r.write(ctx, mirrorDeletes); err != nil {
			return "", err
		}
	}
	if r.snap.GetDryRun() {
		if _, err := r.exec(ctx, "ROLLBACK TO SAVEPOINT before_writes"); err != nil {
			return "", err
		}
	}
	if err := r.recordChanges(ctx); err != nil {
		return "", err
	}
	status := "succeeded"
	if r.counts.Rejected > 0 || r.counts.Held > 0 {
		status = "succeeded_with_errors"
	}
	return r.end(ctx, status, "")
}

var errStagingLost = errors.New("the staged rows of this run are gone (the database restarted while the run was open); import the file again")

// loadStage finds the staging table's columns and checks that it holds every
// staged row.
func (r *runApply) loadStage(ctx context.Context) error {
	r.stage = StageTable(r.snap.GetRunId())
	if err := r.tx.QueryRow(ctx, `SELECT coalesce(field_columns, '{}') FROM ferry.runs WHERE id = $1`, r.snap.GetRunId()).Scan(&r.columns); err != nil {
		return err
	}
	if r.ledger.staged == 0 {
		return nil
	}
	var exists bool
	if err := r.tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, r.stage).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return errStagingLost
	}
	rows, err := r.tx.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, r.stage)
	if err != nil {
		return err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, c := range cols {
		switch {
		case c == "_ferry_source":
			r.source = true
		case !strings.HasPrefix(c, "_ferry_"):
			r.fields = append(r.fields, c)
		}
	}
	var n int64
	if err := r.tx.QueryRow(ctx, "SELECT count(*) FROM "+r.stage).Scan(&n); err != nil {
		return err
	}
	if n != r.ledger.staged {
		return errStagingLost
	}
	return nil
}

// errorPolicy returns why the run fails its error policy, or "".
func (r *runApply) errorPolicy() string {
	p := r.spec.GetErrorPolicy()
	rej, read := r.counts.Rejected, r.counts.Read
	if n := p.GetMaxRejectedRows(); n > 0 && rej > n {
		return fmt.Sprintf("%d of %d rows were rejected; the profile allows at most %d, so nothing was applied", rej, read, n)
	}
	if pct := p.GetMaxRejectedPercent(); pct > 0 && read > 0 && float64(rej)*100/float64(read) > pct {
		return fmt.Sprintf("%d of %d rows (%.1f%%) were rejected; the profile allows at most %g%%, so nothing was applied",
			rej, read, float64(rej)*100/float64(read), pct)
	}
	return ""
}

// mirrorDeletes says whether a mirror run deletes the keys absent from its
// file, and notes why not: only a file read without a rejected or held row
// says which keys are absent.
func (r *runApply) mirrorDeletes() bool {
	if r.spec.GetWriteMode() != ferryv1.WriteMode_WRITE_MODE_MIRROR {
		return false
	}
	switch {
	case r.counts.Read == 0:
		r.note = "mirror deletions skipped: the file has no rows"
	case r.counts.Rejected > 0 || r.counts.Held > 0:
		r.note = fmt.Sprintf("mirror deletions skipped: %d rows were rejected and %d held; fix them and import the whole file again",
			r.counts.Rejected, r.counts.Held)
	default:
		return true
	}
	return false
}

// end records the run's outcome and drops its staging table.
func (r *runApply) end(ctx context.Context, status, reason string) (string, error) {
	var preview []byte
	if r.preview != nil {
		var err error
		if preview, err = protojson.Marshal(r.preview); err != nil {
			return "", err
		}
	}
	c := r.counts
	if _, err := r.exec(ctx, `UPDATE ferry.runs SET status = $2, error = $3, note = $4, preview = $5,
		rows_read = $6, rows_inserted = $7, rows_updated = $8, rows_unchanged = $9, rows_rejected = $10,
		rows_superseded = $11, rows_deleted = $12, rows_held = $13, finished_at = now() WHERE id = $1`,
		r.snap.GetRunId(), status, reason, r.note, preview, c.Read, c.Inserted, c.Updated, c.Unchanged, c.Rejected,
		c.Superseded, c.Deleted, c.Held); err != nil {
		return "", fmt.Errorf("record outcome: %w", err)
	}
	if _, err := r.exec(ctx, "DROP TABLE IF EXISTS "+r.stage); err != nil {
		return "", fmt.Errorf("drop staging table: %w", err)
	}
	return status, nil
}

// hold leaves the run waiting for approval, its staging table kept.
func (r *runApply) hold(ctx context.Context) (string, error) {
	if _, err := r.exec(ctx, `UPDATE ferry.runs SET status = 'awaiting_approval', note = $2 WHERE id = $1`,
		r.snap.GetRunId(), r.note); err != nil {
		return "", fmt.Errorf("hold run: %w", err)
	}
	return "awaiting_approval", nil
}
