// Package eventimport reads what the delivery service records about event
// import profiles, for the control plane to show.
package eventimport

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Querier is what EventCounts reads with: a pool, a connection or a
// transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// EventCounts returns how many change events an event import profile has
// applied, rejected (dead-lettered) and ignored (older than the stored row,
// or a repeated event id). A profile that has seen no event has zeros.
func EventCounts(ctx context.Context, q Querier, profileID uuid.UUID) (applied, rejected, ignored int64, err error) {
	err = q.QueryRow(ctx, `SELECT applied, rejected, ignored FROM ferry.event_import_counts WHERE profile_id = $1`, profileID).
		Scan(&applied, &rejected, &ignored)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, 0, nil
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read event counts of profile %s: %w", profileID, err)
	}
	return applied, rejected, ignored, nil
}
