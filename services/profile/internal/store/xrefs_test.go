package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/store/storetest"
)

// newXRefs returns the repository on a migrated database of the test's own
// with two tenants.
func newXRefs(t *testing.T) (*XRefs, auth.Principal, auth.Principal) {
	ctx := context.Background()
	pool := storetest.Open(t)
	var ps []auth.Principal
	for _, name := range []string{"acme", "other"} {
		p := auth.Principal{TenantID: uuid.New(), TenantName: name, Schema: "tenant_" + name}
		_, err := pool.Exec(ctx, `INSERT INTO ferry.tenants (id, name, schema_name) VALUES ($1, $2, $3)`, p.TenantID, p.TenantName, p.Schema)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	return NewXRefs(pool), ps[0], ps[1]
}

func ent(ext, in string, primary bool) *ferryv1.CrossReferenceEntry {
	return &ferryv1.CrossReferenceEntry{External: ext, Internal: in, Primary: primary}
}

func requireEntries(t *testing.T, want, got []*ferryv1.CrossReferenceEntry) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.True(t, proto.Equal(want[i], got[i]), "entry %d: want %v, got %v", i, want[i], got[i])
	}
}

func requireInvalid(t *testing.T, err error, msg string) {
	t.Helper()
	require.Error(t, err)
	require.True(t, errs.Is(err, errs.KindInvalid), "want an invalid-argument error, got %v", err)
	require.ErrorContains(t, err, msg)
}

func TestXRefApplyVersions(t *testing.T) {
	s, p, _ := newXRefs(t)
	ctx := context.Background()
	grades := &ferryv1.CrossReference{Name: "grades", Entries: []*ferryv1.CrossReferenceEntry{
		ent("Grade 9", "9", false), ent("Gr 9", "9", true), ent("Gr 10", "10", false),
	}}
	x, outcome, err := s.Apply(ctx, p, grades, false)
	require.NoError(t, err)
	require.Equal(t, "created", outcome)
	require.EqualValues(t, 1, x.GetVersion())
	require.EqualValues(t, 3, x.GetEntryCount())
	require.Empty(t, x.GetEntries(), "apply returns the table without its entries")

	got, err := s.Get(ctx, p, "grades")
	require.NoError(t, err)
	requireEntries(t, []*ferryv1.CrossReferenceEntry{ent("Gr 10", "10", false), ent("Gr 9", "9", true), ent("Grade 9", "9", false)}, got.GetEntries())
	require.EqualValues(t, 3, got.GetEntryCount())

	// The same entries in another order: a set, unchanged.
	same := proto.CloneOf(grades)
	same.Entries = []*ferryv1.CrossReferenceEntry{grades.Entries[2], grades.Entries[0], grades.Entries[1]}
	x, outcome, err = s.Apply(ctx, p, same, false)
	require.NoError(t, err)
	require.Equal(t, "unchanged", outcome)
	require.EqualValues(t, 1, x.GetVersion())
	require.EqualValues(t, 3, x.GetEntryCount())

	// One internal value changed.
	changed := proto.CloneOf(grades)
	changed.Entries[2].Internal = "ten"
	x, outcome, err = s.Apply(ctx, p, changed, false)
	require.NoError(t, err)
	require.Equal(t, "updated", outcome)
	require.EqualValues(t, 2, x.GetVersion())

	// Settings only: entries kept.
	x, outcome, err = s.Apply(ctx, p, &ferryv1.CrossReference{Name: "grades", CaseInsensitive: true}, true)
	require.NoError(t, err)
	require.Equal(t, "updated", outcome)
	require.EqualValues(t, 3, x.GetVersion())
	require.True(t, x.GetCaseInsensitive())
	require.EqualValues(t, 3, x.GetEntryCount())
	_, outcome, err = s.Apply(ctx, p, &ferryv1.CrossReference{Name: "grades", CaseInsensitive: true}, true)
	require.NoError(t, err)
	require.Equal(t, "unchanged", outcome)

	// No entries and keep_entries unset: the table is emptied.
	x, outcome, err = s.Apply(ctx, p, &ferryv1.CrossReference{Name: "grades", CaseInsensitive: true}, false)
	require.NoError(t, err)
	require.Equal(t, "updated", outcome)
	require.EqualValues(t, 4, x.GetVersion())
	require.Zero(t, x.GetEntryCount())

	list, err := s.List(ctx, p)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "grades", list[0].GetName())
	require.EqualValues(t, 4, list[0].GetVersion())

	_, _, err = s.Apply(ctx, p, &ferryv1.CrossReference{Name: "Grades"}, false)
	requireInvalid(t, err, `cross-reference name "Grades": want lowercase letters`)
	_, _, err = s.Apply(ctx, p, &ferryv1.CrossReference{Name: "g", Entries: []*ferryv1.CrossReferenceEntry{ent("a", "1", false)}}, true)
	requireInvalid(t, err, "entries are given and keep_entries is set")
	_, err = s.Get(ctx, p, "nope")
	require.True(t, errs.Is(err, errs.KindNotFound))
}

func TestXRefCaseInsensitive(t *testing.T) {
	s, p, _ := newXRefs(t)
	ctx := context.Background()
	_, _, err := s.Apply(ctx, p, &ferryv1.CrossReference{Name: "grades", CaseInsensitive: true, Entries: []*ferryv1.CrossReferenceEntry{
		ent("Gr 9", "9", false), ent(" gr 9", "9", false),
	}}, false)
	requireInvalid(t, err, `external values "Gr 9" and " gr 9" are the same value in a case-insensitive table`)

	_, _, err = s.Apply(ctx, p, &ferryv1.CrossReference{Name: "grades", CaseInsensitive: true, Entries: []*ferryv1.CrossReferenceEntry{
		ent("Gr 9", "9", false), ent("Straße", "s", false),
	}}, false)
	require.NoError(t, err)
	res, err := s.Lookup(ctx, p, "grades", ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_INTERNAL, []string{" GR 9 ", "STRASSE", "Gr 10"})
	require.NoError(t, err)
	require.True(t, proto.Equal(&ferryv1.LookupResult{Value: " GR 9 ", Found: true, Result: "9"}, res[0]))
	require.True(t, proto.Equal(&ferryv1.LookupResult{Value: "STRASSE", Found: true, Result: "s"}, res[1]))
	require.True(t, proto.Equal(&ferryv1.LookupResult{Value: "Gr 10"}, res[2]))

	// A load whose value matches a stored one changes it; values are kept as written.
	x, counts, err := s.PutEntries(ctx, p, "grades", []*ferryv1.CrossReferenceEntry{ent("GR 9 ", "09", false)}, false)
	require.NoError(t, err)
	require.Equal(t, EntryCounts{Changed: 1}, counts)
	require.EqualValues(t, 2, x.GetVersion())
	got, err := s.Get(ctx, p, "grades")
	require.NoError(t, err)
	requireEntries(t, []*ferryv1.CrossReferenceEntry{ent("GR 9 ", "09", false), ent("Straße", "s", false)}, got.GetEntries())

	// Deleting compares as the table does.
	n, err := s.DeleteEntries(ctx, p, "grades", []string{"gr 9", "unknown"})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	n, err = s.DeleteEntries(ctx, p, "grades", []string{"gr 9"})
	require.NoError(t, err)
	require.Zero(t, n)
	got, err = s.Get(ctx, p, "grades")
	require.NoError(t, err)
	require.EqualValues(t, 3, got.GetVersion(), "a delete that removes nothing keeps the version")

	// A case-sensitive table compares exactly, and cannot become
	// case-insensitive while two of its values collide.
	_, _, err = s.Apply(ctx, p, &ferryv1.CrossReference{Name: "codes", Entries: []*ferryv1.CrossReferenceEntry{
		ent("A", "upper", false), ent("a", "lower", false), ent(" a", "spaced", false),
	}}, false)
	require.NoError(t, err)
	res, err = s.Lookup(ctx, p, "codes", ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_INTERNAL, []string{"A", "a", " a", "a "})
	require.NoError(t, err)
	require.Equal(t, []string{"upper", "lower", "spaced", ""}, results(res))
	_, _, err = s.Apply(ctx, p, &ferryv1.CrossReference{Name: "codes", CaseInsensitive: true}, true)
	requireInvalid(t, err, `cross-reference "codes": external values " a" and "A" are the same value in a case-insensitive table; the table stays case-sensitive`)
}

func results(res []*ferryv1.LookupResult) []string {
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.GetResult()
	}
	return out
}

func TestXRefPrimaries(t *testing.T) {
	s, p, _ := newXRefs(t)
	ctx := context.Background()
	_, _, err := s.Apply(ctx, p, &ferryv1.CrossReference{Name: "grades", Entries: []*ferryv1.CrossReferenceEntry{
		ent("Gr 9", "9", true), ent("Grade 9", "9", true),
	}}, false)
	requireInvalid(t, err, `internal value "9" has two primary external values, "Gr 9" and "Grade 9"`)

	_, _, err = s.Apply(ctx, p, &ferryv1.CrossReference{Name: "grades", Entries: []*ferryv1.CrossReferenceEntry{
		ent("Gr 9", "9", true), ent("Grade 9", "9", false), ent("Ninth", "9", false),
		ent("Gr 10", "10", false), ent("Grade 10", "10", false),
		ent("Gr 11", "11", false),
	}}, false)
	require.NoError(t, err)

	reverse := func() []*ferryv1.LookupResult {
		t.Helper()
		res, err := s.Lookup(ctx, p, "grades", ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_EXTERNAL, []string{"9", "10", "11", "12"})
		require.NoError(t, err)
		return res
	}
	res := reverse()
	require.True(t, proto.Equal(&ferryv1.LookupResult{Value: "9", Found: true, Result: "Gr 9"}, res[0]), "%v", res[0])
	require.True(t, proto.Equal(&ferryv1.LookupResult{Value: "10", Found: true,
		Error: `internal value "10" has 2 external values in table "grades" and none is primary`}, res[1]), "%v", res[1])
	require.True(t, proto.Equal(&ferryv1.LookupResult{Value: "11", Found: true, Result: "Gr 11"}, res[2]), "%v", res[2])
	require.True(t, proto.Equal(&ferryv1.LookupResult{Value: "12"}, res[3]), "%v", res[3])

	// A load adding a second primary next to a stored one is refused, naming both.
	_, _, err = s.PutEntries(ctx, p, "grades", []*ferryv1.CrossReferenceEntry{ent("Ninth", "9", true)}, false)
	requireInvalid(t, err, `internal value "9" would have 2 primary external values ("Gr 9", "Ninth"); at most one may be primary`)

	// Moving the mark from one entry to another in one load is fine.
	x, counts, err := s.PutEntries(ctx, p, "grades", []*ferryv1.CrossReferenceEntry{ent("Gr 9", "9", false), ent("Ninth", "9", true), ent("Grade 10", "10", true)}, false)
	require.NoError(t, err)
	require.Equal(t, EntryCounts{Changed: 3}, counts)
	require.EqualValues(t, 2, x.GetVersion())
	res = reverse()
	require.Equal(t, []string{"Ninth", "Grade 10", "Gr 11", ""}, results(res))

	_, err = s.Lookup(ctx, p, "grades", ferryv1.LookupDirection_LOOKUP_DIRECTION_UNSPECIFIED, []string{"9"})
	requireInvalid(t, err, "want to_internal or to_external")
}

func TestXRefBulkLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100 000 entries")
	}
	s, p, _ := newXRefs(t)
	ctx := context.Background()
	_, _, err := s.Apply(ctx, p, &ferryv1.CrossReference{Name: "ids"}, true)
	require.NoError(t, err)

	load := func(from, to int, internal func(int) string) []*ferryv1.CrossReferenceEntry {
		out := make([]*ferryv1.CrossReferenceEntry, 0, to-from)
		for i := from; i < to; i++ {
			out = append(out, ent(fmt.Sprintf("ext-%06d", i), internal(i), false))
		}
		return out
	}
	plain := func(i int) string { return fmt.Sprint(i) }

	x, counts, err := s.PutEntries(ctx, p, "ids", load(0, 100_000, plain), false)
	require.NoError(t, err)
	require.Equal(t, EntryCounts{Added: 100_000}, counts)
	require.EqualValues(t, 100_000, x.GetEntryCount())
	require.EqualValues(t, 2, x.GetVersion())

	// The same again changes nothing.
	x, counts, err = s.PutEntries(ctx, p, "ids", load(0, 100_000, plain), true)
	require.NoError(t, err)
	require.Equal(t, EntryCounts{}, counts)
	require.EqualValues(t, 2, x.GetVersion())

	// Replace with 25 000 gone, 25 000 changed, 50 000 as they were and 25 000 new.
	changed := func(i int) string {
		if i < 50_000 {
			return "changed-" + fmt.Sprint(i)
		}
		return plain(i)
	}
	x, counts, err = s.PutEntries(ctx, p, "ids", load(25_000, 125_000, changed), true)
	require.NoError(t, err)
	require.Equal(t, EntryCounts{Added: 25_000, Changed: 25_000, Removed: 25_000}, counts)
	require.EqualValues(t, 100_000, x.GetEntryCount())
	require.EqualValues(t, 3, x.GetVersion())

	res, err := s.Lookup(ctx, p, "ids", ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_INTERNAL, []string{"ext-000001", "ext-025000", "ext-124999"})
	require.NoError(t, err)
	require.Equal(t, []string{"", "changed-25000", "124999"}, results(res))

	// A bad entry anywhere refuses the whole load.
	bad := load(0, 100_000, plain)
	bad[77_777].External = ""
	_, _, err = s.PutEntries(ctx, p, "ids", bad, true)
	requireInvalid(t, err, `an entry (internal value "77777") has an empty external value`)
	got, err := s.Get(ctx, p, "ids")
	require.NoError(t, err)
	require.EqualValues(t, 3, got.GetVersion())
	require.Len(t, got.GetEntries(), 100_000)
	require.Equal(t, "ext-025000", got.GetEntries()[0].GetExternal())

	_, _, err = s.PutEntries(ctx, p, "ids", load(0, 200_001, plain), false)
	requireInvalid(t, err, "200001 entries in one request; at most 200000 are allowed")
}

func TestXRefTenantIsolation(t *testing.T) {
	s, a, b := newXRefs(t)
	ctx := context.Background()
	_, _, err := s.Apply(ctx, a, &ferryv1.CrossReference{Name: "grades", Entries: []*ferryv1.CrossReferenceEntry{ent("Gr 9", "9", false)}}, false)
	require.NoError(t, err)

	_, err = s.Get(ctx, b, "grades")
	require.True(t, errs.Is(err, errs.KindNotFound), "%v", err)
	list, err := s.List(ctx, b)
	require.NoError(t, err)
	require.Empty(t, list)
	_, _, err = s.PutEntries(ctx, b, "grades", []*ferryv1.CrossReferenceEntry{ent("x", "y", false)}, false)
	require.True(t, errs.Is(err, errs.KindNotFound), "%v", err)
	_, err = s.DeleteEntries(ctx, b, "grades", []string{"Gr 9"})
	require.True(t, errs.Is(err, errs.KindNotFound), "%v", err)
	_, err = s.Lookup(ctx, b, "grades", ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_INTERNAL, []string{"Gr 9"})
	require.True(t, errs.Is(err, errs.KindNotFound), "%v", err)
	_, _, err = s.FetchPage(ctx, b.TenantID.String(), "grades", "", 10)
	require.True(t, errs.Is(err, errs.KindNotFound), "%v", err)

	// The other tenant's table of the same name is its own.
	_, outcome, err := s.Apply(ctx, b, &ferryv1.CrossReference{Name: "grades", Entries: []*ferryv1.CrossReferenceEntry{ent("Gr 9", "nine", false)}}, false)
	require.NoError(t, err)
	require.Equal(t, "created", outcome)
	for _, tt := range []struct {
		p    auth.Principal
		want string
	}{{a, "9"}, {b, "nine"}} {
		page, more, err := s.FetchPage(ctx, tt.p.TenantID.String(), "grades", "", 0)
		require.NoError(t, err)
		require.False(t, more)
		requireEntries(t, []*ferryv1.CrossReferenceEntry{ent("Gr 9", tt.want, false)}, page.GetEntries())
	}
}

func TestXRefFetchPage(t *testing.T) {
	s, p, _ := newXRefs(t)
	ctx := context.Background()
	_, _, err := s.Apply(ctx, p, &ferryv1.CrossReference{Name: "codes", Entries: []*ferryv1.CrossReferenceEntry{
		ent("b", "2", false), ent("B", "2", true), ent("a", "1", false), ent("é", "3", false), ent("z", "4", false),
	}}, false)
	require.NoError(t, err)
	var (
		after string
		got   []string
		pages int
	)
	for {
		page, more, err := s.FetchPage(ctx, p.TenantID.String(), "codes", after, 2)
		require.NoError(t, err)
		require.Equal(t, "codes", page.GetName())
		require.EqualValues(t, 1, page.GetVersion())
		pages++
		for _, e := range page.GetEntries() {
			got = append(got, e.GetExternal())
		}
		if !more {
			break
		}
		after = got[len(got)-1]
	}
	require.Equal(t, []string{"B", "a", "b", "z", "é"}, got, "byte order, as Go compares strings")
	require.Equal(t, 3, pages)
	_, _, err = s.FetchPage(ctx, "not-a-uuid", "codes", "", 2)
	require.True(t, errs.Is(err, errs.KindInvalid))
}
