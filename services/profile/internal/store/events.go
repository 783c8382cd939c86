package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
)

// checkEvents checks an event import profile: it takes no files from an
// SFTP source, writes by upsert (an event says itself whether it deletes),
// and is the only active event import profile of its dataset, so that each
// event has exactly one profile to apply it.
func (s *Store) checkEvents(ctx context.Context, p auth.Principal, name string, spec *ferryv1.ImportProfileSpec) error {
	ev := spec.GetEvents()
	if ev == nil {
		return nil
	}
	if spec.GetSftpSource() != nil {
		return errs.Invalid("import profile %q: events and sftpSource cannot be combined; an event import profile applies change events only", name)
	}
	switch spec.GetWriteMode() {
	case ferryv1.WriteMode_WRITE_MODE_UNSPECIFIED, ferryv1.WriteMode_WRITE_MODE_UPSERT:
	default:
		return errs.Invalid("import profile %q: an event import profile upserts (each event says whether it deletes); writeMode %s cannot be used with events",
			name, spec.GetWriteMode())
	}
	if ev.GetBatchSize() < 0 || ev.GetBatchWindowMs() < 0 {
		return errs.Invalid("import profile %q: events.batchSize and events.batchWindowMs cannot be negative", name)
	}
	if spec.GetStatus() != ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE {
		return nil
	}
	rows, err := s.pool.Query(ctx, `SELECT p.name FROM ferry.import_profiles p
		JOIN ferry.import_profile_versions v ON v.profile_id = p.id AND v.version = p.current_version
		WHERE p.tenant_id = $1 AND p.name <> $2 AND v.spec->>'dataset' = $3 AND v.spec ? 'events'
		AND v.spec->>'status' = 'PROFILE_STATUS_ACTIVE' ORDER BY p.name`, p.TenantID, name, spec.GetDataset())
	if err != nil {
		return fmt.Errorf("look up event import profiles of dataset %s: %w", spec.GetDataset(), err)
	}
	others, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("look up event import profiles of dataset %s: %w", spec.GetDataset(), err)
	}
	if len(others) > 0 {
		return errs.Conflict("import profile %q: dataset %q already has the active event import profile %q; set that one to draft first",
			name, spec.GetDataset(), others[0])
	}
	return nil
}
