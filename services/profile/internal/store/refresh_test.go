package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/store/storetest"
)

// TestRefreshCountsNeverGoBack: a Refresh that counted the ledger before
// another Refresh's commit, and writes after it, leaves the greater count.
// (Seen in the end-to-end test: a run applied with 241 of its 242 chunks
// counted.)
func TestRefreshCountsNeverGoBack(t *testing.T) {
	ctx := context.Background()
	pool := storetest.Open(t)
	p := storetest.Tenant(t, pool, "acme")
	s := New(pool)
	profile, run := uuid.New(), uuid.New()
	_, err := pool.Exec(ctx, `INSERT INTO ferry.import_profiles (id, tenant_id, name, current_version) VALUES ($1, $2, 'students', 1)`, profile, p.TenantID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO ferry.runs (id, tenant_id, profile_id, profile_name, profile_version, dataset_name, trigger, status, snapshot, chunks_total)
		VALUES ($1, $2, $3, 'students', 1, 'students', 'upload', 'running', '', 3)`, run, p.TenantID, profile)
	require.NoError(t, err)
	stage := func(seq int) {
		t.Helper()
		_, err := pool.Exec(ctx, `INSERT INTO ferry.run_chunks (run_id, seq, tenant_id, rows_read, rows_inserted, rows_updated, rows_unchanged, rows_rejected, rows_superseded)
			VALUES ($1, $2, $3, 10, 0, 0, 0, 0, 0)`, run, seq, p.TenantID)
		require.NoError(t, err)
	}
	stage(0)

	// Another Refresh holds the run's row while this one counts one chunk.
	other, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer other.Rollback(ctx)
	_, err = other.Exec(ctx, `SELECT 1 FROM ferry.runs WHERE id = $1 FOR NO KEY UPDATE`, run)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := s.Refresh(ctx, run.String())
		done <- err
	}()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%WITH l AS%'`).Scan(&n))
		return n == 1
	}, 10*time.Second, 5*time.Millisecond, "the Refresh waits for the row, its count taken")
	// The other one counted two chunks and commits first.
	stage(1)
	_, err = other.Exec(ctx, `UPDATE ferry.runs SET chunks_done = 2, rows_read = 20 WHERE id = $1`, run)
	require.NoError(t, err)
	require.NoError(t, other.Commit(ctx))
	require.NoError(t, <-done)

	var chunks, read int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT chunks_done, rows_read FROM ferry.runs WHERE id = $1`, run).Scan(&chunks, &read))
	require.EqualValues(t, 2, chunks, "the later count stays")
	require.EqualValues(t, 20, read)
}
