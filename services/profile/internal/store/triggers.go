package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/schedule"
)

// shownFireTimes is how many next fire times a profile shows.
const shownFireTimes = 5

// maxIdempotencyKey bounds the length of an idempotency key.
const maxIdempotencyKey = 256

// nextFireTimes are the instants an active profile's schedule fires next;
// a draft fires never, so it shows none.
func nextFireTimes(status ferryv1.ProfileStatus, t *ferryv1.Triggers) []*timestamppb.Timestamp {
	if status != ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE {
		return nil
	}
	return schedule.NextFireTimes(t, time.Now(), shownFireTimes)
}

// keyTaken is what the idempotency claim returns when another run holds
// the key.
var keyTaken = errors.New("idempotency key taken")

// CreateExportRunKeyed is CreateExportRun with an idempotency key: the same
// key (per tenant, for seven days) returns the run it first created, and
// created is false. Concurrent calls with one key create one run: the key's
// row is written in the run's transaction, and its primary key makes the
// second writer wait for the first and then find the key taken.
func (s *Store) CreateExportRunKeyed(ctx context.Context, p auth.Principal, name string, trigger ferryv1.RunTrigger, key string) (run *ferryv1.Run, snap *ferryv1.ExportSnapshot, created bool, err error) {
	if key == "" {
		run, snap, err = s.CreateExportRun(ctx, p, name, trigger)
		return run, snap, err == nil, err
	}
	if len(key) > maxIdempotencyKey {
		return nil, nil, false, errs.Invalid("idempotency key: %d characters, want at most %d", len(key), maxIdempotencyKey)
	}
	if run, err := s.keyedRun(ctx, p, name, key); run != nil || err != nil {
		return run, nil, false, err
	}
	run, snap, err = s.CreateExportRunClaimed(ctx, p, name, trigger, func(ctx context.Context, tx pgx.Tx, runID uuid.UUID, _ int64) error {
		// Expired keys go opportunistically, a few at a time.
		if _, err := tx.Exec(ctx, `DELETE FROM ferry.idempotency_keys WHERE ctid IN (
				SELECT ctid FROM ferry.idempotency_keys WHERE created_at < now() - interval '7 days' LIMIT 100)`); err != nil {
			return fmt.Errorf("delete expired idempotency keys: %w", err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO ferry.idempotency_keys (tenant_id, key, run_id) VALUES ($1, $2, $3)
				ON CONFLICT (tenant_id, key) DO NOTHING`, p.TenantID, key, runID)
		if err != nil {
			return fmt.Errorf("store idempotency key: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return keyTaken
		}
		return nil
	})
	if errors.Is(err, keyTaken) {
		run, err := s.keyedRun(ctx, p, name, key)
		if run == nil && err == nil {
			err = errs.Unavailable(keyTaken, "idempotency key %q: its run is gone", key)
		}
		return run, nil, false, err
	}
	return run, snap, err == nil, err
}

// keyedRun returns the run an idempotency key holds, or nil when no
// unexpired key exists. A key used for another profile is refused.
func (s *Store) keyedRun(ctx context.Context, p auth.Principal, name, key string) (*ferryv1.Run, error) {
	var runID uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT run_id FROM ferry.idempotency_keys WHERE tenant_id = $1 AND key = $2 AND created_at >= now() - interval '7 days'`,
		p.TenantID, key).Scan(&runID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	run, err := s.GetRun(ctx, p, runID.String())
	if err != nil {
		return nil, err
	}
	if run.GetProfile() != name {
		return nil, errs.FailedPrecondition("idempotency key %q started a run of profile %q, not %q: use another key", key, run.GetProfile(), name)
	}
	return run, nil
}
