package apply

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/store"
	"github.com/ferrydata/ferry/libs/testkit"
)

// fixture is a tenant with a dataset `people (id text key, name text)` and
// runs of an import profile, in a database of the test's own.
type fixture struct {
	pool    *pgxpool.Pool
	tenant  uuid.UUID
	profile uuid.UUID
	ds      *ferryv1.Dataset
}

func newFixture(t *testing.T) *fixture {
	ctx := context.Background()
	pool, err := store.Open(ctx, testkit.Database(t, true), testkit.Log(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, store.Migrate(ctx, pool, testkit.Log(t)))
	f := &fixture{pool: pool, tenant: uuid.New(), profile: uuid.New(), ds: &ferryv1.Dataset{
		Name: "people", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING}, {Name: "name", Type: ferryv1.FieldType_FIELD_TYPE_STRING}},
	}}
	for _, sql := range []string{
		fmt.Sprintf(`INSERT INTO ferry.tenants (id, name, schema_name) VALUES ('%s', 't', 'tenant_t')`, f.tenant),
		`CREATE SCHEMA tenant_t`,
		`CREATE TABLE tenant_t.people (id text NOT NULL PRIMARY KEY, name text,
			_ferry_created_at timestamptz NOT NULL DEFAULT now(), _ferry_updated_at timestamptz NOT NULL DEFAULT now(),
			_ferry_run uuid NOT NULL, _ferry_run_seq bigint NOT NULL, _ferry_row bigint NOT NULL,
			_ferry_xid xid8 NOT NULL DEFAULT pg_current_xact_id())`,
		fmt.Sprintf(`INSERT INTO ferry.import_profiles (id, tenant_id, name, current_version) VALUES ('%s', '%s', 'p', 1)`, f.profile, f.tenant),
	} {
		_, err := pool.Exec(ctx, sql)
		require.NoError(t, err)
	}
	return f
}

// run creates a running run and returns its snapshot.
func (f *fixture) run(t *testing.T) *ferryv1.RunSnapshot {
	id := uuid.New()
	var seq int64
	require.NoError(t, f.pool.QueryRow(context.Background(), `INSERT INTO ferry.runs (id, tenant_id, profile_id, profile_name, profile_version,
		dataset_name, trigger, status, snapshot) VALUES ($1, $2, $3, 'p', 1, 'people', 'upload', 'running', '') RETURNING seq`,
		id, f.tenant, f.profile).Scan(&seq))
	return &ferryv1.RunSnapshot{TenantId: f.tenant.String(), RunId: id.String(), RunSeq: seq, Dataset: f.ds, Schema: "tenant_t", Table: "people"}
}

// batch builds a record batch of rows "row:id:name".
func batch(snap *ferryv1.RunSnapshot, seq int64, rows ...string) *ferryv1.RecordBatch {
	b := &ferryv1.RecordBatch{Run: snap, Seq: seq, Columns: []string{"id", "name", "_ferry_row"}, Read: int64(len(rows))}
	var data strings.Builder
	for _, r := range rows {
		p := strings.SplitN(r, ":", 3)
		fmt.Fprintf(&data, "%q,%q,%s\n", p[1], p[2], p[0])
		b.Keys = append(b.Keys, p[1])
		var n int64
		fmt.Sscan(p[0], &n)
		b.Rows = append(b.Rows, n)
	}
	b.CopyData = []byte(data.String())
	return b
}

func (f *fixture) names(t *testing.T) map[string]string {
	rows, err := f.pool.Query(context.Background(), `SELECT id, name FROM tenant_t.people`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, name string
		require.NoError(t, rows.Scan(&id, &name))
		out[id] = name
	}
	return out
}

func counts(r Result) [5]int64 {
	c := r.Counts
	return [5]int64{c.GetInserted(), c.GetUpdated(), c.GetUnchanged(), c.GetSuperseded(), c.GetRejected()}
}

// TestHighestRowWinsInAnyOrder applies the chunks of a file whose keys repeat
// across chunks, in every order: the row with the highest row number wins.
func TestHighestRowWinsInAnyOrder(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	// A first run stores k1=B, the value the file's last k1 row has.
	first := f.run(t)
	_, err := a.Apply(ctx, batch(first, 1, "2:k1:B", "3:k2:x"))
	require.NoError(t, err)

	orders := [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}}
	for i, order := range orders {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			snap := f.run(t)
			chunks := []*ferryv1.RecordBatch{
				batch(snap, 1, "2:k1:A", "3:k2:x", fmt.Sprintf("4:k3:v%d", i)),
				batch(snap, 2, "10:k2:y", "11:k1:C"),
				batch(snap, 3, "20:k1:B", "21:k4:z"),
			}
			for _, c := range order {
				_, err := a.Apply(ctx, chunks[c])
				require.NoError(t, err)
			}
			got := f.names(t)
			require.Equal(t, "B", got["k1"], "row 20 is the last k1 of the file")
			require.Equal(t, "y", got["k2"], "row 10 is the last k2 of the file")
			require.Equal(t, fmt.Sprintf("v%d", i), got["k3"])
			require.Equal(t, "z", got["k4"])
		})
	}
}

// TestRedeliveryChangesNothing applies a batch twice: the second time the
// ledger answers with the first counts, and the dataset is untouched.
func TestRedeliveryChangesNothing(t *testing.T) {
	f := newFixture(t)
	committed := 0
	a := &Applier{Pool: f.pool, AfterCommit: func(*ferryv1.RecordBatch) { committed++ }}
	ctx := context.Background()
	snap := f.run(t)
	b := batch(snap, 1, "2:k1:A", "3:k2:B")
	res, err := a.Apply(ctx, b)
	require.NoError(t, err)
	require.Equal(t, [5]int64{2, 0, 0, 0, 0}, counts(res))
	var xid string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT _ferry_xid::text FROM tenant_t.people WHERE id = 'k1'`).Scan(&xid))

	again, err := a.Apply(ctx, b)
	require.NoError(t, err)
	require.Equal(t, "duplicate", again.Skipped)
	require.Equal(t, counts(res), counts(again), "the ledger's counts, not new ones")
	require.Equal(t, 1, committed)
	var xid2 string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT _ferry_xid::text FROM tenant_t.people WHERE id = 'k1'`).Scan(&xid2))
	require.Equal(t, xid, xid2, "the row was not written again")
	var n int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM ferry.run_chunks WHERE run_id = $1`, snap.GetRunId()).Scan(&n))
	require.Equal(t, 1, n)
}

// TestUnchangedRowsAreNotWritten: a later run with the same values counts
// them unchanged and leaves the rows' versions alone; changed rows update.
func TestUnchangedRowsAreNotWritten(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	_, err := a.Apply(ctx, batch(f.run(t), 1, "2:k1:A", "3:k2:B", "4:k3:C"))
	require.NoError(t, err)
	var before string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT string_agg(_ferry_xid::text, ',' ORDER BY id) FROM tenant_t.people WHERE id <> 'k2'`).Scan(&before))

	res, err := a.Apply(ctx, batch(f.run(t), 1, "2:k1:A", "3:k2:changed", "4:k3:C", "5:k4:new"))
	require.NoError(t, err)
	require.Equal(t, [5]int64{1, 1, 2, 0, 0}, counts(res))
	var after string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT string_agg(_ferry_xid::text, ',' ORDER BY id) FROM tenant_t.people WHERE id IN ('k1', 'k3')`).Scan(&after))
	require.Equal(t, before, after)
}

// TestOlderRunLoses: a batch of an earlier run arriving after a later run's
// never overwrites the later run's rows.
func TestOlderRunLoses(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	older, newer := f.run(t), f.run(t)
	_, err := a.Apply(ctx, batch(newer, 1, "2:k1:new"))
	require.NoError(t, err)
	res, err := a.Apply(ctx, batch(older, 1, "9:k1:old"))
	require.NoError(t, err)
	require.Equal(t, [5]int64{0, 0, 1, 0, 0}, counts(res))
	require.Equal(t, "new", f.names(t)["k1"])
}

// TestEndedRunAppliesNothing: chunks of a canceled run are dropped.
func TestEndedRunAppliesNothing(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	snap := f.run(t)
	_, err := f.pool.Exec(ctx, `UPDATE ferry.runs SET status = 'canceled' WHERE id = $1`, snap.GetRunId())
	require.NoError(t, err)
	res, err := a.Apply(ctx, batch(snap, 1, "2:k1:A"))
	require.NoError(t, err)
	require.Equal(t, "ended", res.Skipped)
	require.Empty(t, f.names(t))
}

// TestRejectsAreStored: a batch's rejects are written with the chunk.
func TestRejectsAreStored(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	snap := f.run(t)
	b := batch(snap, 1, "2:k1:A")
	b.Read = 2
	b.Rejects = []*ferryv1.Reject{{Row: 3, Column: "Grade", Value: "x", Reason: "not an integer"}}
	res, err := a.Apply(ctx, b)
	require.NoError(t, err)
	require.Equal(t, [5]int64{1, 0, 0, 0, 1}, counts(res))
	var col, val, reason string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT column_name, value, reason FROM ferry.run_rejects WHERE run_id = $1 AND row_number = 3`, snap.GetRunId()).Scan(&col, &val, &reason))
	require.Equal(t, []string{"Grade", "x", "not an integer"}, []string{col, val, reason})
}
