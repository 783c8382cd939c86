package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/store/storetest"
)

// fixture is a tenant with datasets `people (id text key, name text)`,
// `groups (id text key)` and the relationship dataset `members (group_id,
// person_id)` whose fields reference the other two, in a database of the
// test's own.
type fixture struct {
	pool    *pgxpool.Pool
	tenant  uuid.UUID
	profile uuid.UUID
	people  *ferryv1.Dataset
	groups  *ferryv1.Dataset
	members *ferryv1.Dataset
}

const system = `_ferry_created_at timestamptz NOT NULL DEFAULT now(), _ferry_updated_at timestamptz NOT NULL DEFAULT now(),
	_ferry_run uuid NOT NULL, _ferry_run_seq bigint NOT NULL, _ferry_row bigint NOT NULL,
	_ferry_xid xid8 NOT NULL DEFAULT pg_current_xact_id(), _ferry_deleted_at timestamptz`

func text(name string) *ferryv1.Field {
	return &ferryv1.Field{Name: name, Type: ferryv1.FieldType_FIELD_TYPE_STRING}
}

func newFixture(t testing.TB) *fixture {
	ctx := context.Background()
	pool := storetest.Open(t)
	f := &fixture{pool: pool, tenant: uuid.New(), profile: uuid.New(),
		people: &ferryv1.Dataset{Name: "people", Key: []string{"id"}, Fields: []*ferryv1.Field{text("id"), text("name")}},
		groups: &ferryv1.Dataset{Name: "groups", Key: []string{"id"}, Fields: []*ferryv1.Field{text("id")}},
		members: &ferryv1.Dataset{Name: "members", Key: []string{"group_id", "person_id"}, Fields: []*ferryv1.Field{text("group_id"), text("person_id")},
			References: []*ferryv1.Reference{{Fields: []string{"group_id"}, Dataset: "groups"}, {Fields: []string{"person_id"}, Dataset: "people"}}},
	}
	for _, sql := range []string{
		fmt.Sprintf(`INSERT INTO ferry.tenants (id, name, schema_name) VALUES ('%s', 't', 'tenant_t')`, f.tenant),
		`CREATE SCHEMA tenant_t`,
		`CREATE TABLE tenant_t.people (id text NOT NULL PRIMARY KEY, name text, ` + system + `)`,
		`CREATE TABLE tenant_t.groups (id text NOT NULL PRIMARY KEY, ` + system + `)`,
		`CREATE TABLE tenant_t.members (group_id text NOT NULL, person_id text NOT NULL, ` + system + `, PRIMARY KEY (group_id, person_id))`,
		fmt.Sprintf(`INSERT INTO ferry.import_profiles (id, tenant_id, name, current_version) VALUES ('%s', '%s', 'p', 1)`, f.profile, f.tenant),
	} {
		_, err := pool.Exec(ctx, sql)
		require.NoError(t, err)
	}
	return f
}

// run creates a running run of the people dataset whose file has chunks
// chunks, and returns its snapshot.
func (f *fixture) run(t testing.TB, spec *ferryv1.ImportProfileSpec, chunks int) *ferryv1.RunSnapshot {
	return f.runOf(t, f.people, spec, chunks)
}

func (f *fixture) runOf(t testing.TB, ds *ferryv1.Dataset, spec *ferryv1.ImportProfileSpec, chunks int) *ferryv1.RunSnapshot {
	if spec == nil {
		spec = &ferryv1.ImportProfileSpec{}
	}
	id := uuid.New()
	snap := &ferryv1.RunSnapshot{TenantId: f.tenant.String(), RunId: id.String(), Dataset: ds, Schema: "tenant_t", Table: ds.GetName(), Spec: spec}
	for _, ref := range ds.GetReferences() {
		for _, d := range []*ferryv1.Dataset{f.people, f.groups} {
			if d.GetName() == ref.GetDataset() {
				snap.References = append(snap.References, &ferryv1.ReferencedDataset{Dataset: d, Schema: "tenant_t", Table: d.GetName()})
			}
		}
	}
	blob, err := proto.Marshal(snap)
	require.NoError(t, err)
	require.NoError(t, f.pool.QueryRow(context.Background(), `INSERT INTO ferry.runs (id, tenant_id, profile_id, profile_name, profile_version,
		dataset_name, trigger, status, snapshot, chunks_total) VALUES ($1, $2, $3, 'p', 1, $4, 'upload', 'running', $5, $6) RETURNING seq`,
		id, f.tenant, f.profile, ds.GetName(), blob, chunks).Scan(&snap.RunSeq))
	return snap
}

// batch builds a record batch of people rows "row:id:name"; a name "NULL"
// is NULL.
func batch(snap *ferryv1.RunSnapshot, seq int64, rows ...string) *ferryv1.RecordBatch {
	var recs [][]string
	for _, r := range rows {
		p := strings.SplitN(r, ":", 3)
		recs = append(recs, []string{p[1], p[2], p[0]})
	}
	return rowsBatch(snap, seq, []string{"id", "name"}, recs...)
}

// rowsBatch builds a record batch of rows whose last value is the row
// number; "NULL" is NULL. When the profile keeps sources, the record is the
// row's values.
func rowsBatch(snap *ferryv1.RunSnapshot, seq int64, fields []string, rows ...[]string) *ferryv1.RecordBatch {
	cols := append(append([]string{}, fields...), "_ferry_row")
	keep := snap.GetSpec().GetWriteMode() == ferryv1.WriteMode_WRITE_MODE_INSERT_ONLY || snap.GetSpec().GetWriteMode() == ferryv1.WriteMode_WRITE_MODE_UPDATE_ONLY ||
		len(snap.GetDataset().GetReferences()) > 0
	for _, m := range snap.GetSpec().GetMappings() {
		keep = keep || m.GetRules().GetUnique()
	}
	if keep {
		cols = append(cols, "_ferry_source")
	}
	b := &ferryv1.RecordBatch{Run: snap, Seq: seq, Columns: cols, Read: int64(len(rows)), Staged: int64(len(rows)), Header: fields}
	var data strings.Builder
	for _, r := range rows {
		for i, v := range r[:len(r)-1] {
			if i > 0 {
				data.WriteByte(',')
			}
			if v != "NULL" {
				fmt.Fprintf(&data, "%q", v)
			}
		}
		fmt.Fprintf(&data, ",%s", r[len(r)-1])
		if keep {
			src, _ := json.Marshal(r[:len(r)-1])
			data.WriteString(`,"` + csvQuote(string(src)) + `"`)
		}
		data.WriteByte('\n')
	}
	b.CopyData = []byte(data.String())
	return b
}

func csvQuote(s string) string { return strings.ReplaceAll(s, `"`, `""`) }

func (f *fixture) names(t *testing.T) map[string]string {
	rows, err := f.pool.Query(context.Background(), `SELECT id, coalesce(name, 'NULL') FROM tenant_t.people WHERE _ferry_deleted_at IS NULL`)
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

// stageAll stages batches and applies the run.
func stageAll(t *testing.T, a *Applier, batches ...*ferryv1.RecordBatch) Outcome {
	ctx := context.Background()
	for _, b := range batches {
		_, err := a.Stage(ctx, b)
		require.NoError(t, err)
	}
	out, err := a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: batches[0].GetRun()})
	require.NoError(t, err)
	return out
}

// counts are inserted, updated, unchanged, superseded, rejected, deleted.
func counts(o Outcome) [6]int64 {
	c := o.Counts
	return [6]int64{c.GetInserted(), c.GetUpdated(), c.GetUnchanged(), c.GetSuperseded(), c.GetRejected(), c.GetDeleted()}
}

func (f *fixture) rejects(t *testing.T, snap *ferryv1.RunSnapshot) []string {
	rows, err := f.pool.Query(context.Background(), `SELECT format('%s|%s|%s|%s|%s|%s', row_number, column_name, value, rule, reason, coalesce(array_to_string(record, ';'), '-'))
		FROM ferry.run_rejects WHERE run_id = $1 ORDER BY row_number`, snap.GetRunId())
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	return out
}

func (f *fixture) status(t *testing.T, snap *ferryv1.RunSnapshot) (string, string, string) {
	var status, reason, note string
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT status, error, note FROM ferry.runs WHERE id = $1`, snap.GetRunId()).Scan(&status, &reason, &note))
	return status, reason, note
}

// TestHighestRowWinsInAnyOrder stages the chunks of a file whose keys repeat
// across chunks, in every order: the row with the highest row number wins.
func TestHighestRowWinsInAnyOrder(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k1:B", "3:k2:x"))

	orders := [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}}
	for i, order := range orders {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			snap := f.run(t, nil, 3)
			chunks := []*ferryv1.RecordBatch{
				batch(snap, 1, "2:k1:A", "3:k2:x", fmt.Sprintf("4:k3:v%d", i)),
				batch(snap, 2, "10:k2:y", "11:k1:C"),
				batch(snap, 3, "20:k1:B", "21:k4:z"),
			}
			var ordered []*ferryv1.RecordBatch
			for _, c := range order {
				ordered = append(ordered, chunks[c])
			}
			out := stageAll(t, a, ordered...)
			got := f.names(t)
			require.Equal(t, "B", got["k1"], "row 20 is the last k1 of the file")
			require.Equal(t, "y", got["k2"], "row 10 is the last k2 of the file")
			require.Equal(t, fmt.Sprintf("v%d", i), got["k3"])
			require.Equal(t, "z", got["k4"])
			require.EqualValues(t, 3, out.Counts.GetSuperseded(), "k1 twice, k2 once")
			require.EqualValues(t, 7, out.Counts.GetRead())
		})
	}
}

// TestRedeliveryStagesOnce stages a batch twice: the second time the ledger
// answers, and the run applies its rows once.
func TestRedeliveryStagesOnce(t *testing.T) {
	f := newFixture(t)
	committed := 0
	a := &Applier{Pool: f.pool, AfterCommit: func(*ferryv1.RecordBatch) { committed++ }}
	ctx := context.Background()
	snap := f.run(t, nil, 1)
	b := batch(snap, 1, "2:k1:A", "3:k2:B")
	_, err := a.Stage(ctx, b)
	require.NoError(t, err)
	again, err := a.Stage(ctx, b)
	require.NoError(t, err)
	require.Equal(t, "duplicate", again.Skipped)
	require.Equal(t, 1, committed)
	out, err := a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: snap})
	require.NoError(t, err)
	require.Equal(t, [6]int64{2, 0, 0, 0, 0, 0}, counts(out))
	// An apply command delivered again finds the run ended.
	out, err = a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: snap})
	require.NoError(t, err)
	require.Equal(t, "ended", out.Skipped)
	require.Equal(t, "succeeded", out.Status)
	var staged bool
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, StageTable(snap.GetRunId())).Scan(&staged))
	require.False(t, staged, "the staging table is dropped with the run")
}

// TestApplyWaitsForEveryChunk: a run is applied only once every chunk of
// its manifest is staged.
func TestApplyWaitsForEveryChunk(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	snap := f.run(t, nil, 2)
	_, err := a.Stage(ctx, batch(snap, 1, "2:k1:A"))
	require.NoError(t, err)
	_, err = a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: snap})
	require.ErrorIs(t, err, ErrNotReady)
	require.Empty(t, f.names(t))
}

// TestUnchangedRowsAreNotWritten: a later run with the same values counts
// them unchanged and leaves the rows' versions alone; changed rows update.
func TestUnchangedRowsAreNotWritten(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	s1 := f.run(t, nil, 1)
	stageAll(t, a, batch(s1, 1, "2:k1:A", "3:k2:B", "4:k3:C"))
	var before string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT string_agg(_ferry_xid::text, ',' ORDER BY id) FROM tenant_t.people WHERE id <> 'k2'`).Scan(&before))
	out := stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k1:A", "3:k2:changed", "4:k3:C", "5:k4:new"))
	require.Equal(t, [6]int64{1, 1, 2, 0, 0, 0}, counts(out))
	var after string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT string_agg(_ferry_xid::text, ',' ORDER BY id) FROM tenant_t.people WHERE id IN ('k1', 'k3')`).Scan(&after))
	require.Equal(t, before, after)
}

// TestOlderRunLoses: a run created earlier but applied after a later run
// never overwrites the later run's rows.
func TestOlderRunLoses(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	older, newer := f.run(t, nil, 1), f.run(t, nil, 1)
	stageAll(t, a, batch(newer, 1, "2:k1:new"))
	out := stageAll(t, a, batch(older, 1, "9:k1:old"))
	require.Equal(t, [6]int64{0, 0, 1, 0, 0, 0}, counts(out))
	require.Equal(t, "new", f.names(t)["k1"])
}

// TestEndedRunStagesNothing: chunks of a canceled run are dropped.
func TestEndedRunStagesNothing(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	snap := f.run(t, nil, 1)
	_, err := f.pool.Exec(ctx, `UPDATE ferry.runs SET status = 'canceled' WHERE id = $1`, snap.GetRunId())
	require.NoError(t, err)
	res, err := a.Stage(ctx, batch(snap, 1, "2:k1:A"))
	require.NoError(t, err)
	require.Equal(t, "ended", res.Skipped)
	out, err := a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: snap})
	require.NoError(t, err)
	require.Equal(t, "ended", out.Skipped)
	require.Empty(t, f.names(t))
}

// TestRejectsAreStored: a batch's rejects are written with the chunk, with
// their rule and original record.
func TestRejectsAreStored(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	snap := f.run(t, nil, 1)
	b := batch(snap, 1, "2:k1:A")
	b.Read = 2
	b.Rejects = []*ferryv1.Reject{{Row: 3, Column: "Grade", Value: "x\x00", Reason: "not an integer", Rule: "type", Record: []string{"k2", "x\x00"}}}
	out := stageAll(t, a, b)
	require.Equal(t, [6]int64{1, 0, 0, 0, 1, 0}, counts(out))
	require.Equal(t, "succeeded_with_errors", out.Status)
	require.Equal(t, []string{"3|Grade|x\u2400|type|not an integer|k2;x\u2400"}, f.rejects(t, snap))
}

func spec(mode ferryv1.WriteMode, mappings ...*ferryv1.FieldMapping) *ferryv1.ImportProfileSpec {
	return &ferryv1.ImportProfileSpec{WriteMode: mode, Mappings: mappings}
}

// TestWriteModes is a golden test per write mode: the same stored rows, one
// file, and what each mode makes of them.
func TestWriteModes(t *testing.T) {
	file := []string{"2:k1:A2", "3:k2:B", "4:k4:D"} // k1 changed, k2 unchanged, k3 absent, k4 new
	tests := []struct {
		mode    ferryv1.WriteMode
		want    map[string]string
		counts  [6]int64
		rejects []string
	}{
		{ferryv1.WriteMode_WRITE_MODE_UPSERT, map[string]string{"k1": "A2", "k2": "B", "k3": "C", "k4": "D"}, [6]int64{1, 1, 1, 0, 0, 0}, nil},
		{ferryv1.WriteMode_WRITE_MODE_INSERT_ONLY, map[string]string{"k1": "A", "k2": "B", "k3": "C", "k4": "D"}, [6]int64{1, 0, 0, 0, 2, 0}, []string{
			"2|id|k1|duplicate_key|a row with this key exists already; the profile only inserts new rows|k1;A2",
			"3|id|k2|duplicate_key|a row with this key exists already; the profile only inserts new rows|k2;B"}},
		{ferryv1.WriteMode_WRITE_MODE_UPDATE_ONLY, map[string]string{"k1": "A2", "k2": "B", "k3": "C"}, [6]int64{0, 1, 1, 0, 1, 0}, []string{
			"4|id|k4|not_found|no row has this key; the profile only updates existing rows|k4;D"}},
		{ferryv1.WriteMode_WRITE_MODE_MIRROR, map[string]string{"k1": "A2", "k2": "B", "k4": "D"}, [6]int64{1, 1, 1, 0, 0, 1}, nil},
		{ferryv1.WriteMode_WRITE_MODE_DELETE, map[string]string{"k3": "C"}, [6]int64{0, 0, 1, 0, 0, 2}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			f := newFixture(t)
			a := &Applier{Pool: f.pool}
			stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k1:A", "3:k2:B", "4:k3:C"))
			snap := f.run(t, spec(tt.mode), 1)
			out := stageAll(t, a, batch(snap, 1, file...))
			require.Equal(t, tt.want, f.names(t))
			require.Equal(t, tt.counts, counts(out))
			require.Equal(t, tt.rejects, f.rejects(t, snap))
		})
	}
}

// TestSoftDeletedRowsComeBack: a deleted key in a later file is inserted again.
func TestSoftDeletedRowsComeBack(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k1:A", "3:k2:B"))
	stageAll(t, a, batch(f.run(t, spec(ferryv1.WriteMode_WRITE_MODE_DELETE), 1), 1, "2:k1:x"))
	require.Equal(t, map[string]string{"k2": "B"}, f.names(t))
	out := stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k1:A", "3:k2:B"))
	require.Equal(t, [6]int64{1, 0, 1, 0, 0, 0}, counts(out))
	require.Equal(t, map[string]string{"k1": "A", "k2": "B"}, f.names(t))
}

// TestMirrorSkipsDeletesAfterRejects: rows a file could not deliver are not
// taken as absent.
func TestMirrorSkipsDeletesAfterRejects(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k1:A", "3:k2:B"))
	snap := f.run(t, spec(ferryv1.WriteMode_WRITE_MODE_MIRROR), 1)
	b := batch(snap, 1, "2:k1:A")
	b.Read = 2
	b.Rejects = []*ferryv1.Reject{{Row: 3, Reason: "bad", Rule: "type"}}
	out := stageAll(t, a, b)
	require.Equal(t, map[string]string{"k1": "A", "k2": "B"}, f.names(t))
	require.Zero(t, out.Counts.GetDeleted())
	_, _, note := f.status(t, snap)
	require.Contains(t, note, "mirror deletions skipped: 1 rows were rejected")
}

// TestMirrorGuardHoldsAndApproveApplies: a mirror run deleting more than the
// guard allows waits for approval with nothing applied, and applies once approved.
func TestMirrorGuardHoldsAndApproveApplies(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k1:A", "3:k2:B", "4:k3:C", "5:k4:D"))
	sp := spec(ferryv1.WriteMode_WRITE_MODE_MIRROR)
	sp.Mirror = &ferryv1.MirrorOptions{MaxChangePercent: 25}
	snap := f.run(t, sp, 1)
	out := stageAll(t, a, batch(snap, 1, "2:k1:A", "3:k2:B2")) // 1 update + 2 deletes of 4 rows = 75%
	require.Equal(t, "awaiting_approval", out.Status)
	status, _, note := f.status(t, snap)
	require.Equal(t, "awaiting_approval", status)
	require.Contains(t, note, "would delete 2 and update 1 of 4 rows (75.0%)")
	require.Equal(t, map[string]string{"k1": "A", "k2": "B", "k3": "C", "k4": "D"}, f.names(t), "nothing applied")

	// A repeated command finds the run waiting and does nothing.
	again, err := a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: snap})
	require.NoError(t, err)
	require.Equal(t, "ended", again.Skipped)

	_, err = f.pool.Exec(ctx, `UPDATE ferry.runs SET status = 'running', approved = true WHERE id = $1`, snap.GetRunId())
	require.NoError(t, err)
	out, err = a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: snap, Approved: true})
	require.NoError(t, err)
	require.Equal(t, "succeeded", out.Status)
	require.Equal(t, [6]int64{0, 1, 1, 0, 0, 2}, counts(out))
	require.Equal(t, map[string]string{"k1": "A", "k2": "B2"}, f.names(t))
}

// TestErrorPolicyAppliesNothing: a run over its reject limit fails and
// leaves the dataset untouched, its rejects listed.
func TestErrorPolicyAppliesNothing(t *testing.T) {
	for _, policy := range []*ferryv1.ErrorPolicy{{MaxRejectedRows: 1}, {MaxRejectedPercent: 40}} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			f := newFixture(t)
			a := &Applier{Pool: f.pool}
			stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k1:A"))
			sp := spec(ferryv1.WriteMode_WRITE_MODE_INSERT_ONLY)
			sp.ErrorPolicy = policy
			snap := f.run(t, sp, 2)
			b1 := batch(snap, 1, "2:k1:A2", "3:k2:B") // k1 is a duplicate: rejected while applying
			b2 := batch(snap, 2, "10:k3:C")
			b2.Read = 2
			b2.Rejects = []*ferryv1.Reject{{Row: 11, Reason: "bad", Rule: "type"}}
			out := stageAll(t, a, b1, b2)
			require.Equal(t, "failed", out.Status)
			status, reason, _ := f.status(t, snap)
			require.Equal(t, "failed", status)
			require.Contains(t, reason, "2 of 4 rows")
			require.Contains(t, reason, "nothing was applied")
			require.Equal(t, map[string]string{"k1": "A"}, f.names(t))
			require.Len(t, f.rejects(t, snap), 2)
		})
	}
}

// TestBlankKeepsExisting: an empty value of a field that keeps blanks out
// leaves the stored value, and counts as no change.
func TestBlankKeepsExisting(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k1:A", "3:k2:B"))
	sp := spec(ferryv1.WriteMode_WRITE_MODE_UPSERT, &ferryv1.FieldMapping{Field: "id", Column: "id"},
		&ferryv1.FieldMapping{Field: "name", Column: "name", BlankKeepsExisting: true})
	out := stageAll(t, a, batch(f.run(t, sp, 1), 1, "2:k1:NULL", "3:k2:B2", "4:k3:NULL"))
	require.Equal(t, map[string]string{"k1": "A", "k2": "B2", "k3": "NULL"}, f.names(t))
	require.Equal(t, [6]int64{1, 1, 1, 0, 0, 0}, counts(out))
	// Without the option, blank overwrites.
	stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k1:NULL"))
	require.Equal(t, "NULL", f.names(t)["k1"])
}

// TestUniqueRuleRejectsLaterDuplicates: with unique on the key, the first
// row of a key wins and later ones are rejected naming it.
func TestUniqueRuleRejectsLaterDuplicates(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	sp := spec(ferryv1.WriteMode_WRITE_MODE_UPSERT, &ferryv1.FieldMapping{Field: "id", Column: "ID", Rules: &ferryv1.FieldRules{Unique: true}},
		&ferryv1.FieldMapping{Field: "name", Column: "Name", Rules: &ferryv1.FieldRules{Unique: true}})
	snap := f.run(t, sp, 2)
	out := stageAll(t, a, batch(snap, 2, "10:k1:Z", "11:k3:A"), batch(snap, 1, "2:k1:A", "3:k2:B"))
	require.Equal(t, map[string]string{"k1": "A", "k2": "B"}, f.names(t))
	require.Equal(t, [6]int64{2, 0, 0, 0, 2, 0}, counts(out))
	require.Equal(t, []string{
		"10|ID|k1|unique|the value is also in row 2; id must be unique in the file|k1;Z",
		"11|Name|A|unique|the value is also in row 2; name must be unique in the file|k3;A",
	}, f.rejects(t, snap))
}

// TestReferencesRejectMissingKeys: a relationship row whose referenced key
// is not a live row of the other dataset is rejected.
func TestReferencesRejectMissingKeys(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:u1:Ann", "3:u2:Bo", "4:u3:Cy"))
	stageAll(t, a, batch(f.run(t, spec(ferryv1.WriteMode_WRITE_MODE_DELETE), 1), 1, "2:u3:x"))
	stageAll(t, a, rowsBatch(f.runOf(t, f.groups, nil, 1), 1, []string{"id"}, []string{"g1", "2"}))
	snap := f.runOf(t, f.members, nil, 1)
	out := stageAll(t, a, rowsBatch(snap, 1, []string{"group_id", "person_id"},
		[]string{"g1", "u1", "2"}, []string{"g9", "u2", "3"}, []string{"g1", "u3", "4"}, []string{"g1", "u2", "5"}))
	require.Equal(t, [6]int64{2, 0, 0, 0, 2, 0}, counts(out))
	require.Equal(t, []string{
		"3|group_id|g9|reference|no row of dataset groups has this key|g9;u2",
		"4|person_id|u3|reference|no row of dataset people has this key|g1;u3",
	}, f.rejects(t, snap))
}

// TestDryRunWritesNothing: a dry run computes the counts and the first rows
// with their actions, and leaves the dataset as it was.
func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	stageAll(t, a, batch(f.run(t, nil, 1), 1, "2:k1:A", "3:k2:B"))
	snap := f.run(t, nil, 1)
	snap.DryRun, snap.PreviewRows = true, 2
	_, err := f.pool.Exec(ctx, `UPDATE ferry.runs SET dry_run = true WHERE id = $1`, snap.GetRunId())
	require.NoError(t, err)
	b := batch(snap, 1, "2:k1:A", "3:k2:B2", "4:k3:C")
	b.Read = 4
	b.Rejects = []*ferryv1.Reject{{Row: 5, Column: "name", Value: "?", Reason: "bad", Rule: "type"}}
	out := stageAll(t, a, b)
	require.Equal(t, "succeeded_with_errors", out.Status)
	require.Equal(t, [6]int64{1, 1, 1, 0, 1, 0}, counts(out))
	require.Equal(t, map[string]string{"k1": "A", "k2": "B"}, f.names(t), "nothing written")
	var preview string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT preview::text FROM ferry.runs WHERE id = $1`, snap.GetRunId()).Scan(&preview))
	require.JSONEq(t, `{"rows": [{"row": "2", "action": "unchanged", "values": {"id": "k1", "name": "A"}},
		{"row": "3", "action": "update", "values": {"id": "k2", "name": "B2"}}],
		"rejects": [{"row": "5", "column": "name", "value": "?", "reason": "bad", "rule": "type"}]}`, preview)
}

// TestLostStagingFailsTheRun: a staging table that lost rows (an unlogged
// table after a database crash) fails the run instead of applying part of it.
func TestLostStagingFailsTheRun(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	snap := f.run(t, nil, 1)
	_, err := a.Stage(ctx, batch(snap, 1, "2:k1:A", "3:k2:B"))
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, "TRUNCATE "+StageTable(snap.GetRunId()))
	require.NoError(t, err)
	out, err := a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: snap})
	require.NoError(t, err)
	require.Equal(t, "failed", out.Status)
	_, reason, _ := f.status(t, snap)
	require.Contains(t, reason, "staged rows of this run are gone")
	require.Empty(t, f.names(t))
}

// TestDryRunOverTheErrorPolicy: a dry run that the error policy would fail
// says so, and still shows its rows and rejects.
func TestDryRunOverTheErrorPolicy(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	sp := spec(ferryv1.WriteMode_WRITE_MODE_UPSERT)
	sp.ErrorPolicy = &ferryv1.ErrorPolicy{MaxRejectedRows: 0, MaxRejectedPercent: 10}
	snap := f.run(t, sp, 1)
	snap.DryRun, snap.PreviewRows = true, 5
	b := batch(snap, 1, "2:k1:A")
	b.Read = 2
	b.Rejects = []*ferryv1.Reject{{Row: 3, Reason: "bad", Rule: "type"}}
	out := stageAll(t, a, b)
	require.Equal(t, "failed", out.Status)
	var preview string
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT preview::text FROM ferry.runs WHERE id = $1`, snap.GetRunId()).Scan(&preview))
	require.Contains(t, preview, `"action": "insert"`)
	require.Contains(t, preview, `"reason": "bad"`)
	require.Empty(t, f.names(t))
}

// TestChunksStageInParallel stages the chunks of one run from many
// goroutines at once, every chunk twice, the first ones before the staging
// table exists: each chunk is staged once (the other attempt is told it is
// a duplicate), and the apply finds every row.
func TestChunksStageInParallel(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	const chunks, perChunk = 12, 50
	snap := f.run(t, nil, chunks)
	var batches []*ferryv1.RecordBatch
	for c := range chunks {
		var rows []string
		for r := range perChunk {
			n := c*perChunk + r + 2
			rows = append(rows, fmt.Sprintf("%d:k%d:v%d", n, n, n))
		}
		batches = append(batches, batch(snap, int64(c+1), rows...))
	}
	var (
		mu         sync.Mutex
		staged     = map[int64]int{}
		duplicates = map[int64]int{}
		wg         sync.WaitGroup
		start      = make(chan struct{})
	)
	for _, b := range append(append([]*ferryv1.RecordBatch{}, batches...), batches...) {
		wg.Go(func() {
			<-start
			res, err := a.Stage(ctx, b)
			assert.NoError(t, err, "chunk %d", b.GetSeq())
			mu.Lock()
			defer mu.Unlock()
			switch res.Skipped {
			case "":
				staged[b.GetSeq()]++
			case "duplicate":
				duplicates[b.GetSeq()]++
				assert.EqualValues(t, perChunk, res.Counts.GetRead(), "a duplicate reports the staged chunk's counts")
			default:
				t.Errorf("chunk %d skipped: %s", b.GetSeq(), res.Skipped)
			}
		})
	}
	close(start)
	wg.Wait()
	for c := int64(1); c <= chunks; c++ {
		require.Equal(t, 1, staged[c], "chunk %d staged once", c)
		require.Equal(t, 1, duplicates[c], "chunk %d's second attempt is a duplicate", c)
	}
	out, err := a.ApplyRun(ctx, &ferryv1.ApplyCommand{Run: snap})
	require.NoError(t, err)
	require.Equal(t, [6]int64{chunks * perChunk, 0, 0, 0, 0, 0}, counts(out))
	require.Len(t, f.names(t), chunks*perChunk)
}

// TestChunkStagedMeanwhile: while one delivery stages a chunk (its ledger row
// written, not committed), another stages the same chunk; when the first
// commits, the second is told the chunk is a duplicate and its rows are
// rolled back.
func TestChunkStagedMeanwhile(t *testing.T) {
	f := newFixture(t)
	a := &Applier{Pool: f.pool}
	ctx := context.Background()
	snap := f.run(t, nil, 1)
	b := batch(snap, 1, "2:k1:A", "3:k2:B")
	other, err := f.pool.Begin(ctx)
	require.NoError(t, err)
	defer other.Rollback(ctx)
	_, err = other.Exec(ctx, `INSERT INTO ferry.run_chunks (run_id, seq, tenant_id, rows_read, rows_inserted, rows_updated,
			rows_unchanged, rows_rejected, rows_superseded, rows_staged, rows_held) VALUES ($1, 1, $2, 2, 0, 0, 0, 0, 0, 0, 0)`,
		snap.GetRunId(), snap.GetTenantId())
	require.NoError(t, err)
	done := make(chan Result, 1)
	go func() {
		res, err := a.Stage(ctx, b)
		assert.NoError(t, err)
		done <- res
	}()
	select {
	case res := <-done:
		t.Fatalf("staging did not wait for the other delivery's ledger row: %+v", res)
	case <-time.After(500 * time.Millisecond):
	}
	require.NoError(t, other.Commit(ctx))
	res := <-done
	require.Equal(t, "duplicate", res.Skipped)
	require.EqualValues(t, 2, res.Counts.GetRead())
	var staged bool
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, StageTable(snap.GetRunId())).Scan(&staged))
	require.False(t, staged, "the second staging was rolled back, with the staging table it created")
}

// TestIntoAnEmptyDataset: the first import of a dataset goes straight from
// the stage into the table in every write mode that inserts; the last row
// of each key wins, unique rules still reject, and the counts are those of
// the general path.
func TestIntoAnEmptyDataset(t *testing.T) {
	file := []string{"2:k1:A", "3:k2:B", "4:k1:A2", "5:k3:B"}
	uniqueName := &ferryv1.FieldMapping{Field: "name", Column: "name", Rules: &ferryv1.FieldRules{Unique: true}}
	for _, mode := range []ferryv1.WriteMode{ferryv1.WriteMode_WRITE_MODE_UPSERT, ferryv1.WriteMode_WRITE_MODE_INSERT_ONLY, ferryv1.WriteMode_WRITE_MODE_MIRROR} {
		t.Run(mode.String(), func(t *testing.T) {
			f := newFixture(t)
			a := &Applier{Pool: f.pool}
			snap := f.run(t, spec(mode, uniqueName), 2)
			out := stageAll(t, a, batch(snap, 1, file[:2]...), batch(snap, 2, file[2:]...))
			require.Equal(t, map[string]string{"k1": "A2", "k2": "B"}, f.names(t))
			// inserted, updated, unchanged, superseded, rejected, deleted
			require.Equal(t, [6]int64{2, 0, 0, 1, 1, 0}, counts(out))
			require.Equal(t, "succeeded_with_errors", out.Status)
		})
	}
}
