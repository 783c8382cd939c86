package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
)

// ApproveRun moves a run held by the mirror guard back to running and
// returns its snapshot, for the apply command. Approving an approved run
// that has not been applied yet returns it again, so a lost command can be
// sent again.
func (s *Store) ApproveRun(ctx context.Context, p auth.Principal, id string) (*ferryv1.Run, *ferryv1.RunSnapshot, error) {
	run, err := s.GetRun(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	var blob []byte
	err = s.pool.QueryRow(ctx, `UPDATE ferry.runs SET status = 'running', approved = true, note = ''
		WHERE id = $1 AND tenant_id = $2 AND (status = 'awaiting_approval' OR (status = 'running' AND approved))
		RETURNING snapshot`, run.GetId(), p.TenantID).Scan(&blob)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, errs.FailedPrecondition("run %s is not awaiting approval (it is %s)", id, StatusName(run.GetStatus()))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("approve run %s: %w", id, err)
	}
	var snap ferryv1.RunSnapshot
	if err := proto.Unmarshal(blob, &snap); err != nil {
		return nil, nil, err
	}
	run, err = s.GetRun(ctx, p, id)
	return run, &snap, err
}

// ListHeld lists a run's held rows by row number; the page token is the last row.
func (s *Store) ListHeld(ctx context.Context, p auth.Principal, id string, size int32, token string) ([]*ferryv1.HeldRow, string, error) {
	return rowPage(ctx, s, p, id, size, token, "held rows", `SELECT row_number, column_name, value, table_name, reason, coalesce(reapplied_by::text, '')
		FROM ferry.run_held WHERE run_id = $1 AND tenant_id = $2 AND row_number > $3 ORDER BY row_number LIMIT $4`,
		func(rows pgx.Rows) (*ferryv1.HeldRow, int64, error) {
			var h ferryv1.HeldRow
			err := rows.Scan(&h.Row, &h.Column, &h.Value, &h.Table, &h.Reason, &h.ReappliedBy)
			return &h, h.Row, err
		})
}

// ReportSource is what a run's reject report is written from.
type ReportSource struct {
	Run    *ferryv1.Run
	Header []string
	Spec   *ferryv1.ImportProfileSpec
}

// RejectReportSource returns a run's header and profile spec.
func (s *Store) RejectReportSource(ctx context.Context, p auth.Principal, id string) (*ReportSource, error) {
	run, err := s.GetRun(ctx, p, id)
	if err != nil {
		return nil, err
	}
	var (
		header []string
		blob   []byte
	)
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(header, '{}'), snapshot FROM ferry.runs WHERE id = $1`, run.GetId()).Scan(&header, &blob); err != nil {
		return nil, err
	}
	var snap ferryv1.RunSnapshot
	if err := proto.Unmarshal(blob, &snap); err != nil {
		return nil, err
	}
	return &ReportSource{Run: run, Header: header, Spec: snap.GetSpec()}, nil
}

// CreateReapplyRun creates a run of the held rows of run id that no run has
// re-applied yet, through the same profile version, and marks them as
// re-applied by it. It returns the run, its snapshot, and the header of the
// file the caller writes from HeldRecords (nil when the profile reads files
// without a header); the snapshot reads that file as standard CSV in UTF-8.
func (s *Store) CreateReapplyRun(ctx context.Context, p auth.Principal, id string) (*ferryv1.Run, *ferryv1.RunSnapshot, []string, error) {
	parent, err := s.GetRun(ctx, p, id)
	if err != nil {
		return nil, nil, nil, err
	}
	switch {
	case !settledStatus(parent.GetStatus()):
		return nil, nil, nil, errs.FailedPrecondition("run %s has not ended yet (%s)", id, StatusName(parent.GetStatus()))
	case parent.GetDryRun():
		return nil, nil, nil, errs.FailedPrecondition("run %s is a dry run: import the file to hold its rows", id)
	}
	var (
		profID uuid.UUID
		blob   []byte
		header []string
		held   int64
	)
	if err := s.pool.QueryRow(ctx, `SELECT profile_id, snapshot, coalesce(header, '{}'),
			(SELECT count(*) FROM ferry.run_held WHERE run_id = r.id AND reapplied_by IS NULL) FROM ferry.runs r WHERE id = $1`, parent.GetId()).
		Scan(&profID, &blob, &header, &held); err != nil {
		return nil, nil, nil, err
	}
	if held == 0 {
		return nil, nil, nil, errs.FailedPrecondition("run %s has no held rows left to re-apply", id)
	}
	var parentSnap ferryv1.RunSnapshot
	if err := proto.Unmarshal(blob, &parentSnap); err != nil {
		return nil, nil, nil, err
	}
	snap := proto.Clone(&parentSnap).(*ferryv1.RunSnapshot)
	snap.RunId, snap.DryRun, snap.PreviewRows = uuid.NewString(), false, 0
	spec := snap.GetSpec()
	noHeader := spec.GetCsv().GetNoHeader() || spec.GetSpreadsheet().GetNoHeader()
	spec.Format, spec.Spreadsheet = ferryv1.FileFormat_FILE_FORMAT_CSV, nil
	spec.Csv = &ferryv1.CSVFormat{Delimiter: ",", Quote: `"`, Escape: ferryv1.CSVEscape_CSV_ESCAPE_DOUBLED, HeaderRow: 1, NoHeader: noHeader, Encoding: "utf-8"}
	if noHeader {
		header = nil
	}
	run, snap, err := s.insertRun(ctx, p, profID, snap, ferryv1.RunTrigger_RUN_TRIGGER_REAPPLY,
		&ferryv1.RunFile{Name: fmt.Sprintf("held-rows-of-%s.csv", parent.GetId())}, uuid.MustParse(parent.GetId()))
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := s.pool.Exec(ctx, `UPDATE ferry.run_held SET reapplied_by = $2 WHERE run_id = $1 AND reapplied_by IS NULL`,
		parent.GetId(), run.GetId()); err != nil {
		return nil, nil, nil, err
	}
	return run, snap, header, nil
}

// HeldRecords calls fn with the original record of every held row that run
// child re-applies, by row number, reading them as a stream.
func (s *Store) HeldRecords(ctx context.Context, child string, fn func(record []string) error) error {
	rows, err := s.pool.Query(ctx, `SELECT record FROM ferry.run_held WHERE reapplied_by = $1 ORDER BY run_id, row_number`, child)
	if err != nil {
		return err
	}
	defer rows.Close()
	var record []string
	for rows.Next() {
		if err := rows.Scan(&record); err != nil {
			return err
		}
		if err := fn(record); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ReleaseHeld undoes CreateReapplyRun's marks when its run could not start.
func (s *Store) ReleaseHeld(ctx context.Context, runID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE ferry.run_held SET reapplied_by = NULL WHERE reapplied_by = $1`, runID)
	return err
}

// settledStatus says a run will change no more without a request.
func settledStatus(s ferryv1.RunStatus) bool {
	switch s {
	case ferryv1.RunStatus_RUN_STATUS_QUEUED, ferryv1.RunStatus_RUN_STATUS_RUNNING:
		return false
	}
	return true
}
