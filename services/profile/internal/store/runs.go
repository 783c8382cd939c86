package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	libstore "github.com/ferrydata/ferry/libs/store"
	"github.com/ferrydata/ferry/libs/telemetry"
)

// APIVersion is the version of the API runs are recorded by.
const APIVersion = "ferry.v1"

// StatusName is the stored name of a run status ("succeeded_with_errors").
func StatusName(s ferryv1.RunStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "RUN_STATUS_"))
}

// ParseStatus is the inverse of StatusName.
func ParseStatus(s string) ferryv1.RunStatus {
	return ferryv1.RunStatus(ferryv1.RunStatus_value["RUN_STATUS_"+strings.ToUpper(s)])
}

func triggerName(t ferryv1.RunTrigger) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "RUN_TRIGGER_"))
}

const runCols = `id, profile_name, profile_version, dataset_name, trigger, status, error, file_name, file_size, file_sha256,
	chunks_total, chunks_done, rows_read, rows_inserted, rows_updated, rows_unchanged, rows_rejected, rows_superseded,
	created_at, started_at, finished_at, seq, tenant_id, dry_run, note, preview::text, coalesce(parent_run::text, ''),
	rows_deleted, rows_held, kind, outputs::text, outputs_deleted_at`

// RunRow is a run with what only the control plane needs of it.
type RunRow struct {
	Run      *ferryv1.Run
	Seq      int64
	TenantID uuid.UUID
}

func scanRun(row pgx.Row) (RunRow, error) {
	var (
		r                 RunRow
		run               ferryv1.Run
		id                uuid.UUID
		trigger, status   string
		file              ferryv1.RunFile
		c                 ferryv1.RunCounts
		total             *int64
		created           time.Time
		started, finished *time.Time
		preview           *string
		kind              string
		outputs           *string
		outputsDeleted    *time.Time
	)
	err := row.Scan(&id, &run.Profile, &run.ProfileVersion, &run.Dataset, &trigger, &status, &run.Error,
		&file.Name, &file.Size, &file.Sha256, &total, &run.ChunksDone,
		&c.Read, &c.Inserted, &c.Updated, &c.Unchanged, &c.Rejected, &c.Superseded,
		&created, &started, &finished, &r.Seq, &r.TenantID, &run.DryRun, &run.Note, &preview, &run.ParentRun,
		&c.Deleted, &c.Held, &kind, &outputs, &outputsDeleted)
	if err != nil {
		return r, err
	}
	if outputsDeleted != nil {
		run.OutputsDeleteTime = timestamppb.New(*outputsDeleted)
	}
	run.Kind = ferryv1.RunKind(ferryv1.RunKind_value["RUN_KIND_"+strings.ToUpper(kind)])
	if outputs != nil {
		var list ferryv1.RunOutputs
		if err := protojson.Unmarshal([]byte(*outputs), &list); err != nil {
			return r, fmt.Errorf("decode outputs: %w", err)
		}
		run.Outputs = list.GetOutputs()
	}
	if preview != nil {
		run.Preview = &ferryv1.Preview{}
		if err := protojson.Unmarshal([]byte(*preview), run.Preview); err != nil {
			return r, fmt.Errorf("decode preview: %w", err)
		}
	}
	run.Id = id.String()
	run.ApiVersion = APIVersion
	run.Trigger = ferryv1.RunTrigger(ferryv1.RunTrigger_value["RUN_TRIGGER_"+strings.ToUpper(trigger)])
	run.Status = ParseStatus(status)
	run.File, run.Counts = &file, &c
	if total != nil {
		run.ChunksTotal = *total
	}
	run.CreateTime = timestamppb.New(created)
	if started != nil {
		run.StartTime = timestamppb.New(*started)
	}
	if finished != nil {
		run.EndTime = timestamppb.New(*finished)
	}
	r.Run = &run
	return r, nil
}

func parseRunID(id string) (uuid.UUID, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return u, errs.NotFound("run %q not found", id)
	}
	return u, nil
}

// tenantByID returns the principal-shaped identity of a tenant for internal callers.
func (s *Store) tenantByID(ctx context.Context, id string) (auth.Principal, error) {
	var p auth.Principal
	tid, err := uuid.Parse(id)
	if err != nil {
		return p, errs.Invalid("tenant id %q is not a uuid", id)
	}
	err = s.pool.QueryRow(ctx, `SELECT id, name, schema_name FROM ferry.tenants WHERE id = $1`, tid).Scan(&p.TenantID, &p.TenantName, &p.Schema)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, errs.NotFound("tenant %s not found", id)
	}
	return p, err
}

// CreateRun creates a queued run of the current version of a profile, for a
// service that authenticated the caller and passes its tenant.
func (s *Store) CreateRun(ctx context.Context, req *ferryv1.RunCreateRequest) (*ferryv1.Run, *ferryv1.RunSnapshot, error) {
	p, err := s.tenantByID(ctx, req.GetTenantId())
	if err != nil {
		return nil, nil, err
	}
	runID, err := uuid.Parse(req.GetRunId())
	if err != nil {
		return nil, nil, errs.Invalid("run id %q is not a uuid", req.GetRunId())
	}
	profID, prof, err := getProfile(ctx, s.pool, p, req.GetProfile(), 0)
	if err != nil {
		return nil, nil, err
	}
	ds, err := s.GetDataset(ctx, p, prof.GetSpec().GetDataset())
	if err != nil {
		return nil, nil, fmt.Errorf("run of profile %s: %w", prof.GetName(), err)
	}
	snap := &ferryv1.RunSnapshot{
		TenantId: p.TenantID.String(), RunId: runID.String(), Profile: prof.GetName(), ProfileVersion: prof.GetVersion(),
		Spec: prof.GetSpec(), Dataset: ds, Schema: p.Schema, Table: ds.GetName(),
		DryRun: req.GetDryRun(), PreviewRows: previewRows(req.GetPreviewRows()),
	}
	return s.insertRun(ctx, p, profID, snap, req.GetTrigger(), req.GetFile(), uuid.Nil)
}

// previewRows bounds how many rows a dry run keeps.
func previewRows(n int32) int32 {
	if n <= 0 {
		return 20
	}
	return min(n, 1000)
}

// insertRun stores a queued run with its snapshot, adding the datasets its
// dataset references.
func (s *Store) insertRun(ctx context.Context, p auth.Principal, profID uuid.UUID, snap *ferryv1.RunSnapshot, trigger ferryv1.RunTrigger,
	file *ferryv1.RunFile, parent uuid.UUID) (*ferryv1.Run, *ferryv1.RunSnapshot, error) {
	runID := uuid.MustParse(snap.GetRunId())
	snap.References = nil
	for _, ref := range snap.GetDataset().GetReferences() {
		rd, err := s.GetDataset(ctx, p, ref.GetDataset())
		if err != nil {
			return nil, nil, fmt.Errorf("dataset %s references %s: %w", snap.GetDataset().GetName(), ref.GetDataset(), err)
		}
		snap.References = append(snap.References, &ferryv1.ReferencedDataset{Dataset: rd, Schema: p.Schema, Table: rd.GetName()})
	}
	var parentRun *uuid.UUID
	if parent != uuid.Nil {
		parentRun = &parent
		snap.ParentRun = parent.String()
	}
	blob, err := proto.Marshal(snap)
	if err != nil {
		return nil, nil, err
	}
	var seq int64
	err = s.pool.QueryRow(ctx, `INSERT INTO ferry.runs (id, tenant_id, profile_id, profile_name, profile_version, dataset_name, trigger, status,
			file_name, file_size, file_sha256, snapshot, dry_run, preview_rows, parent_run, trace_context)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9, $10, $11, $12, $13, $14, $15) RETURNING seq`,
		runID, p.TenantID, profID, snap.GetProfile(), snap.GetProfileVersion(), snap.GetDataset().GetName(), triggerName(trigger),
		file.GetName(), file.GetSize(), file.GetSha256(), blob, snap.GetDryRun(), snap.GetPreviewRows(), parentRun,
		telemetry.TraceContext(ctx)).Scan(&seq)
	if isUnique(err) {
		return nil, nil, errs.Conflict("run %s already exists", runID)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("create run of %s: %w", snap.GetProfile(), err)
	}
	snap.RunSeq = seq
	// The stored snapshot gets its sequence too.
	if blob, err = proto.Marshal(snap); err == nil {
		_, err = s.pool.Exec(ctx, `UPDATE ferry.runs SET snapshot = $2 WHERE id = $1`, runID, blob)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store run snapshot %s: %w", runID, err)
	}
	row, err := s.getRun(ctx, runID)
	if err != nil {
		return nil, nil, err
	}
	return row.Run, snap, nil
}

func (s *Store) getRun(ctx context.Context, id uuid.UUID) (RunRow, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runCols+` FROM ferry.runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, errs.NotFound("run %q not found", id)
	}
	if err != nil {
		return r, fmt.Errorf("get run %s: %w", id, err)
	}
	return r, nil
}

// GetRun returns a run of the caller's tenant; an export run with its
// deliveries and their attempts.
func (s *Store) GetRun(ctx context.Context, p auth.Principal, id string) (*ferryv1.Run, error) {
	u, err := parseRunID(id)
	if err != nil {
		return nil, err
	}
	r, err := s.getRun(ctx, u)
	if err != nil {
		return nil, err
	}
	if r.TenantID != p.TenantID {
		return nil, errs.NotFound("run %q not found", id)
	}
	if r.Run.GetKind() == ferryv1.RunKind_RUN_KIND_EXPORT {
		if r.Run.Deliveries, err = s.deliveries(ctx, s.pool, u); err != nil {
			return nil, err
		}
	}
	return r.Run, nil
}

// ListRuns lists runs newest first, without their deliveries (GetRun has
// them). The page token is the last run's sequence.
func (s *Store) ListRuns(ctx context.Context, p auth.Principal, profile string, status ferryv1.RunStatus, size int32, token string) ([]*ferryv1.Run, string, error) {
	if size <= 0 {
		size = 50
	}
	size = min(size, 1000)
	before := int64(1<<63 - 1)
	if token != "" {
		n, err := strconv.ParseInt(token, 10, 64)
		if err != nil {
			return nil, "", errs.Invalid("page token %q is not valid", token)
		}
		before = n
	}
	sql := `SELECT ` + runCols + ` FROM ferry.runs WHERE tenant_id = $1 AND seq < $2`
	args := []any{p.TenantID, before}
	if profile != "" {
		args = append(args, profile)
		sql += fmt.Sprintf(" AND profile_name = $%d", len(args))
	}
	if status != ferryv1.RunStatus_RUN_STATUS_UNSPECIFIED {
		args = append(args, StatusName(status))
		sql += fmt.Sprintf(" AND status = $%d", len(args))
	}
	args = append(args, size+1)
	sql += fmt.Sprintf(" ORDER BY seq DESC LIMIT $%d", len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var (
		out  []*ferryv1.Run
		last int64
		next string
	)
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list runs: %w", err)
		}
		if int32(len(out)) == size {
			next = strconv.FormatInt(last, 10)
			break
		}
		out = append(out, r.Run)
		last = r.Seq
	}
	return out, next, rows.Err()
}

// CancelRun cancels a run that has not ended.
func (s *Store) CancelRun(ctx context.Context, p auth.Principal, id string) (*ferryv1.Run, error) {
	run, err := s.GetRun(ctx, p, id)
	if err != nil {
		return nil, err
	}
	ended, err := s.endRun(ctx, run.GetId(), "canceled", "canceled by request", "queued", "running", "awaiting_approval")
	if err != nil {
		return nil, fmt.Errorf("cancel run %s: %w", id, err)
	}
	if !ended {
		return nil, errs.FailedPrecondition("run %s has already ended (%s)", id, StatusName(run.GetStatus()))
	}
	return s.GetRun(ctx, p, id)
}

// ListRejects lists a run's rejects by row number; the page token is the last row.
func (s *Store) ListRejects(ctx context.Context, p auth.Principal, id string, size int32, token string) ([]*ferryv1.Reject, string, error) {
	return rowPage(ctx, s, p, id, size, token, "rejects", `SELECT row_number, column_name, value, reason, rule, coalesce(record, '{}')
		FROM ferry.run_rejects WHERE run_id = $1 AND tenant_id = $2 AND row_number > $3 ORDER BY row_number LIMIT $4`,
		func(rows pgx.Rows) (*ferryv1.Reject, int64, error) {
			var r ferryv1.Reject
			err := rows.Scan(&r.Row, &r.Column, &r.Value, &r.Reason, &r.Rule, &r.Record)
			return &r, r.Row, err
		})
}

// rowPage lists rows of a run of the caller's tenant kept by row number
// (rejects, held rows), size at a time (1000 when 0, at most 10000): sql
// takes the run, the tenant, the row to start after and the limit; the
// page token is the last row number of the page.
func rowPage[T any](ctx context.Context, s *Store, p auth.Principal, id string, size int32, token, what, sql string,
	scan func(pgx.Rows) (T, int64, error)) ([]T, string, error) {
	run, err := s.GetRun(ctx, p, id)
	if err != nil {
		return nil, "", err
	}
	if size <= 0 {
		size = 1000
	}
	size = min(size, 10000)
	after := int64(-1)
	if token != "" {
		if after, err = strconv.ParseInt(token, 10, 64); err != nil {
			return nil, "", errs.Invalid("page token %q is not valid", token)
		}
	}
	rows, err := s.pool.Query(ctx, sql, run.GetId(), p.TenantID, after, size+1)
	if err != nil {
		return nil, "", fmt.Errorf("list %s of run %s: %w", what, id, err)
	}
	defer rows.Close()
	var (
		out  []T
		last int64
		next string
	)
	for rows.Next() {
		v, row, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		if int32(len(out)) == size {
			next = strconv.FormatInt(last, 10)
			break
		}
		out, last = append(out, v), row
	}
	return out, next, rows.Err()
}

// MarkStarted moves a queued run to running and records its file.
func (s *Store) MarkStarted(ctx context.Context, runID string, f *ferryv1.RunFile) error {
	// Progress events are folded concurrently: the manifest may have moved
	// the run on already, and the file is recorded all the same.
	_, err := s.pool.Exec(ctx, `UPDATE ferry.runs SET
		status = CASE WHEN status = 'queued' THEN 'running' ELSE status END,
		started_at = coalesce(started_at, now()), file_size = $2, file_sha256 = $3
		WHERE id = $1`, runID, f.GetSize(), f.GetSha256())
	return err
}

// SetManifest records how many chunks a run's file was cut into.
func (s *Store) SetManifest(ctx context.Context, runID string, chunks int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE ferry.runs SET chunks_total = $2,
		status = CASE WHEN status = 'queued' THEN 'running' ELSE status END,
		started_at = coalesce(started_at, now())
		WHERE id = $1`, runID, chunks)
	return err
}

// MarkFailed fails a run that has not ended. It returns the run when it did.
func (s *Store) MarkFailed(ctx context.Context, runID, reason string) (*RunRow, error) {
	ended, err := s.endRun(ctx, runID, "failed", reason, "queued", "running", "awaiting_approval")
	if err != nil || !ended {
		return nil, err
	}
	return s.endedRun(ctx, runID)
}

// endRun moves a run in one of the from statuses to status and drops its
// staging table, under the run's lock, so that no chunk is staged after.
func (s *Store) endRun(ctx context.Context, runID, status, reason string, from ...string) (bool, error) {
	ended := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 1))`, runID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE ferry.runs SET status = $2, error = $3, finished_at = now()
			WHERE id = $1 AND status = ANY($4)`, runID, status, reason, from)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		ended = true
		// An export run's deliveries end with it; one in flight records
		// its attempt and finds the run ended.
		if _, err := tx.Exec(ctx, `UPDATE ferry.deliveries SET status = 'canceled', error = 'the run was ' || $2, updated_at = now()
			WHERE run_id = $1 AND status = 'pending'`, runID, status); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DROP TABLE IF EXISTS "+StageTable(runID))
		return err
	})
	return ended, err
}

// StageTable is the staging table of a run.
func StageTable(runID string) string { return libstore.StageTable(runID) }

func (s *Store) endedRun(ctx context.Context, runID string) (*RunRow, error) {
	u, err := uuid.Parse(runID)
	if err != nil {
		return nil, err
	}
	r, err := s.getRun(ctx, u)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Refresh folds the chunk ledger into the run's counts. When every chunk of
// the manifest is staged it returns the run's snapshot: the run is ready to
// be applied.
//
// Progress events are folded concurrently, and a Refresh that counted the
// ledger before another one's commit may write after it: the counts only
// grow (the ledger only gains chunks while the run is open), so each is
// the greater of what is stored and what this Refresh counted.
func (s *Store) Refresh(ctx context.Context, runID string) (*ferryv1.RunSnapshot, error) {
	var (
		complete bool
		blob     []byte
	)
	err := s.pool.QueryRow(ctx, `
		WITH l AS (
			SELECT count(*) AS n, coalesce(sum(rows_read), 0) AS rd, coalesce(sum(rows_rejected), 0) AS rej,
				coalesce(sum(rows_held), 0) AS held
			FROM ferry.run_chunks WHERE run_id = $1)
		UPDATE ferry.runs r SET chunks_done = greatest(r.chunks_done, l.n), rows_read = greatest(r.rows_read, l.rd),
			rows_rejected = greatest(r.rows_rejected, l.rej), rows_held = greatest(r.rows_held, l.held),
			status = CASE WHEN r.status = 'queued' THEN 'running' ELSE r.status END,
			started_at = coalesce(r.started_at, now()),
			apply_requested = r.apply_requested OR (r.chunks_total IS NOT NULL AND l.n >= r.chunks_total)
		FROM l WHERE r.id = $1 AND r.status IN ('queued', 'running')
		RETURNING r.chunks_total IS NOT NULL AND l.n >= r.chunks_total, r.snapshot`, runID).Scan(&complete, &blob)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil // ended already, or unknown
	}
	if err != nil {
		return nil, fmt.Errorf("refresh run %s: %w", runID, err)
	}
	if !complete {
		return nil, nil
	}
	var snap ferryv1.RunSnapshot
	if err := proto.Unmarshal(blob, &snap); err != nil {
		return nil, fmt.Errorf("decode snapshot of run %s: %w", runID, err)
	}
	return &snap, nil
}

// Announced says whether the lifecycle event of the run's status was
// published already.
func (s *Store) Announced(ctx context.Context, runID, status string) (bool, error) {
	var done bool
	err := s.pool.QueryRow(ctx, `SELECT announced = $2 FROM ferry.runs WHERE id = $1`, runID, status).Scan(&done)
	if err != nil {
		return false, fmt.Errorf("look up the lifecycle event of run %s: %w", runID, err)
	}
	return done, nil
}

// MarkAnnounced records that the lifecycle event of the run's status was
// published.
func (s *Store) MarkAnnounced(ctx context.Context, runID, status string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE ferry.runs SET announced = $2 WHERE id = $1`, runID, status); err != nil {
		return fmt.Errorf("record the lifecycle event of run %s: %w", runID, err)
	}
	return nil
}

// Applied returns a run that delivery has applied (or failed, or held for
// approval), for its lifecycle event; nil while it is still open.
func (s *Store) Applied(ctx context.Context, runID string) (*RunRow, error) {
	r, err := s.endedRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	switch r.Run.GetStatus() {
	case ferryv1.RunStatus_RUN_STATUS_QUEUED, ferryv1.RunStatus_RUN_STATUS_RUNNING:
		return nil, nil
	}
	return r, nil
}

// TenantOfRun returns the tenant id of a run, for internal callers.
func (s *Store) TenantOfRun(ctx context.Context, runID string) (uuid.UUID, error) {
	var t uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT tenant_id FROM ferry.runs WHERE id = $1`, runID).Scan(&t)
	return t, err
}
