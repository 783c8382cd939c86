package apply

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// outbox lists the change feed's outbox as "op key fields" in seq order.
func (f *fixture) outbox(t *testing.T) []string {
	rows, err := f.pool.Query(context.Background(), `SELECT format('%s %s %s %s %s', op, key->>'id', fields::text, tenant_name, dataset)
		FROM ferry.change_outbox ORDER BY seq`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func (f *fixture) changes(t *testing.T) int {
	var n int
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM ferry.dataset_changes WHERE tenant_id = $1 AND dataset = 'people'`, f.tenant).Scan(&n))
	return n
}

// TestChangesRecordedWithTheApply: an applied run that changes rows records
// a dataset change and, when its profile publishes changes, one outbox row
// per changed row with its op and the row after the change; a run that
// changes nothing, a dry run and a run that fails record nothing.
func TestChangesRecordedWithTheApply(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.pool.Exec(ctx, `ALTER TABLE tenant_t.people ADD COLUMN _ferry_created_xid xid8 NOT NULL DEFAULT pg_current_xact_id()`)
	require.NoError(t, err)
	a := &Applier{Pool: f.pool}
	publish := &ferryv1.ImportProfileSpec{PublishChanges: true}
	mirror := &ferryv1.ImportProfileSpec{PublishChanges: true, WriteMode: ferryv1.WriteMode_WRITE_MODE_MIRROR}

	// Without publish_changes: the change is recorded, nothing is fed.
	stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k0:Zed"))
	require.Equal(t, 1, f.changes(t))
	require.Empty(t, f.outbox(t))

	out := stageAll(t, a, batch(f.run(t, publish, 1), 1, "2:k1:Ada", "3:k2:Bob", "4:k0:Zed"))
	require.Equal(t, [6]int64{2, 0, 1, 0, 0, 0}, counts(out))
	require.Equal(t, 2, f.changes(t))
	require.Equal(t, []string{
		`insert k1 {"id": "k1", "name": "Ada"} t people`,
		`insert k2 {"id": "k2", "name": "Bob"} t people`,
	}, f.outbox(t))

	// A run that changes nothing records nothing.
	stageAll(t, a, batch(f.run(t, publish, 1), 1, "2:k1:Ada"))
	require.Equal(t, 2, f.changes(t))
	require.Len(t, f.outbox(t), 2)

	// A dry run and a run that fails its error policy record nothing.
	dry := f.run(t, publish, 1)
	dry.DryRun = true
	stageAll(t, a, batch(dry, 1, "2:k9:Dry"))
	failing := &ferryv1.ImportProfileSpec{PublishChanges: true, ErrorPolicy: &ferryv1.ErrorPolicy{MaxRejectedRows: 1}}
	snap := f.run(t, failing, 1)
	b := rowsBatch(snap, 1, []string{"id", "name"}, []string{"k8", "x", "2"})
	b.Read = 3
	b.Rejects = []*ferryv1.Reject{{Row: 3, Reason: "bad", Rule: "type"}, {Row: 4, Reason: "bad", Rule: "type"}}
	_, err = a.Stage(ctx, b)
	require.NoError(t, err)
	out, err = a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: snap})
	require.NoError(t, err)
	require.Equal(t, "failed", out.Status)
	require.Equal(t, 2, f.changes(t))
	require.Len(t, f.outbox(t), 2)

	// A mirror run: k1 updated, k3 inserted, k2 and k0 deleted.
	out = stageAll(t, a, batch(f.run(t, mirror, 1), 1, "2:k1:Ada L.", "3:k3:Cy"))
	require.Equal(t, [6]int64{1, 1, 0, 0, 0, 2}, counts(out))
	require.Equal(t, 3, f.changes(t))
	got := f.outbox(t)[2:]
	require.Equal(t, []string{
		`delete k0 {} t people`,
		`update k1 {"id": "k1", "name": "Ada L."} t people`,
		`delete k2 {} t people`,
		`insert k3 {"id": "k3", "name": "Cy"} t people`,
	}, got, fmt.Sprint(got))
}
