package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	libstore "github.com/ferrydata/ferry/libs/store"
)

// MaxShareTTL bounds how long a share link works.
const MaxShareTTL = 90 * 24 * time.Hour

// OutputObject is the object-store name of an export run's file.
func OutputObject(runID, name string) string { return "exports/" + runID + "/" + name }

// Download is a file to serve.
type Download struct {
	TenantID uuid.UUID
	RunID    string
	Output   *ferryv1.RunOutput
	Object   string
}

// RunOutput finds a file of an export run of the caller's tenant: the one
// named, or the first.
func (s *Store) RunOutput(ctx context.Context, p auth.Principal, runID, output string) (*Download, error) {
	run, err := s.GetRun(ctx, p, runID)
	if err != nil {
		return nil, err
	}
	return pickOutput(p.TenantID, run, output)
}

func pickOutput(tenant uuid.UUID, run *ferryv1.Run, output string) (*Download, error) {
	if run.GetKind() != ferryv1.RunKind_RUN_KIND_EXPORT {
		return nil, errs.FailedPrecondition("run %s is not an export run", run.GetId())
	}
	if t := run.GetOutputsDeleteTime(); t != nil {
		return nil, &errs.Error{Kind: errs.KindFailedPrecondition, Err: ErrFilesDeleted,
			Msg: fmt.Sprintf("the files of run %s were deleted at %s", run.GetId(), t.AsTime().UTC().Format(time.RFC3339))}
	}
	for _, o := range run.GetOutputs() {
		if output == "" || o.GetName() == output {
			return &Download{TenantID: tenant, RunID: run.GetId(), Output: o, Object: OutputObject(run.GetId(), o.GetName())}, nil
		}
	}
	if output != "" {
		return nil, errs.NotFound("run %s has no file %q", run.GetId(), output)
	}
	return nil, errs.FailedPrecondition("run %s has no file (it is %s)", run.GetId(), StatusName(run.GetStatus()))
}

func hashToken(token string) []byte { return libstore.HashShareToken(token) }

// CreateShareLink makes a link to a run's file, or to the latest file of an
// export profile. The token is returned once; only its hash is stored.
func (s *Store) CreateShareLink(ctx context.Context, p auth.Principal, runID, profile, output string, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	if ttl > MaxShareTTL {
		return "", time.Time{}, errs.Invalid("a share link works at most 90 days")
	}
	var run *uuid.UUID
	var prof *uuid.UUID
	switch {
	case (runID == "") == (profile == ""):
		return "", time.Time{}, errs.Invalid("name a run or an export profile, not both")
	case runID != "":
		d, err := s.RunOutput(ctx, p, runID, output)
		if err != nil {
			return "", time.Time{}, err
		}
		u := uuid.MustParse(d.RunID)
		run = &u
	default:
		v, err := exportProfilesKind.get(ctx, s.pool, p, profile, 0)
		if err != nil {
			return "", time.Time{}, err
		}
		prof = &v.ID
	}
	return libstore.InsertShareLink(ctx, s.pool, p.TenantID, run, prof, output, ttl)
}

// RevokeShareLink ends a link of the caller's tenant now.
func (s *Store) RevokeShareLink(ctx context.Context, p auth.Principal, token string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE ferry.share_links SET revoked_at = coalesce(revoked_at, now()) WHERE token_hash = $1 AND tenant_id = $2`,
		hashToken(token), p.TenantID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errs.NotFound("share link not found")
	}
	return nil
}

// ErrFilesDeleted says a run's files are gone: their retention ended.
var ErrFilesDeleted = errors.New("their retention period ended")

// ErrLinkGone says a share link expired or was revoked.
var ErrLinkGone = errors.New("this link has expired or was revoked")

// ResolveShareLink finds the file a share link serves now: its run's, or
// the latest successful run of its profile.
func (s *Store) ResolveShareLink(ctx context.Context, token string) (*Download, error) {
	var (
		tenant    uuid.UUID
		run, prof *uuid.UUID
		output    string
		live      bool
	)
	err := s.pool.QueryRow(ctx, `SELECT tenant_id, run_id, export_profile_id, output, revoked_at IS NULL AND expires_at > now()
		FROM ferry.share_links WHERE token_hash = $1`, hashToken(token)).Scan(&tenant, &run, &prof, &output, &live)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.NotFound("no such link")
	}
	if err != nil {
		return nil, err
	}
	if !live {
		return nil, ErrLinkGone
	}
	if run == nil {
		err := s.pool.QueryRow(ctx, `SELECT id FROM ferry.runs WHERE tenant_id = $1 AND export_profile_id = $2 AND status = 'succeeded'
			ORDER BY seq DESC LIMIT 1`, tenant, prof).Scan(&run)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errs.NotFound("the export has no file yet")
		}
		if err != nil {
			return nil, err
		}
	}
	r, err := s.getRun(ctx, *run)
	if err != nil {
		return nil, err
	}
	if r.TenantID != tenant {
		return nil, errs.NotFound("no such link")
	}
	return pickOutput(tenant, r.Run, output)
}
