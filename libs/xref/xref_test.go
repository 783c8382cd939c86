package xref

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/testkit"
)

func TestMatchKey(t *testing.T) {
	tests := []struct {
		ci       bool
		in, want string
	}{
		{false, " Gr 9 ", " Gr 9 "},
		{false, "ÉCOLE", "ÉCOLE"},
		{true, " Gr 9 ", "gr 9"},
		{true, "gr 9", "gr 9"},
		{true, "\tGR 9\u00a0", "gr 9"},
		{true, "ÉCOLE", "école"},
		{true, "Straße", "strasse"},
		{true, "STRASSE", "strasse"},
		{true, "ΣΊΣΥΦΟΣ", "σίσυφοσ"},
		{true, "\u212a", "k"}, // the Kelvin sign folds to k
		{true, "Gr  9", "gr  9"},
		{true, "   ", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%q", tt.ci, tt.in), func(t *testing.T) {
			require.Equal(t, tt.want, MatchKey(tt.ci, tt.in))
		})
	}
}

func entry(ext, in string, primary bool) *ferryv1.CrossReferenceEntry {
	return &ferryv1.CrossReferenceEntry{External: ext, Internal: in, Primary: primary}
}

func TestCheckEntries(t *testing.T) {
	tests := []struct {
		name    string
		ci      bool
		entries []*ferryv1.CrossReferenceEntry
		want    string
	}{
		{name: "ok", entries: []*ferryv1.CrossReferenceEntry{entry("Gr 9", "9", true), entry("Grade 9", "9", false), entry(" gr 9", "9", false)}},
		{name: "case-insensitive collision", ci: true, entries: []*ferryv1.CrossReferenceEntry{entry("Gr 9", "9", false), entry(" gr 9", "9", false)},
			want: `cross-reference "grades": external values "Gr 9" and " gr 9" are the same value in a case-insensitive table`},
		{name: "exact duplicate", entries: []*ferryv1.CrossReferenceEntry{entry("a", "1", false), entry("a", "2", false)},
			want: `external value "a" appears twice`},
		{name: "empty external", entries: []*ferryv1.CrossReferenceEntry{entry("", "1", false)},
			want: `an entry (internal value "1") has an empty external value`},
		{name: "white space in a case-insensitive table", ci: true, entries: []*ferryv1.CrossReferenceEntry{entry("  ", "1", false)},
			want: `external value "  " is only white space`},
		{name: "white space in a case-sensitive table", entries: []*ferryv1.CrossReferenceEntry{entry("  ", "1", false)}},
		{name: "two primaries", entries: []*ferryv1.CrossReferenceEntry{entry("a", "1", true), entry("b", "1", true)},
			want: `internal value "1" has two primary external values, "a" and "b"; at most one may be primary`},
		{name: "NUL", entries: []*ferryv1.CrossReferenceEntry{entry("a", "1\x00", false)},
			want: `internal value "1\x00" contains a NUL character`},
		{name: "too long", entries: []*ferryv1.CrossReferenceEntry{entry(strings.Repeat("x", MaxValueLen+1), "1", false)},
			want: `is 4097 bytes long; at most 4096 are allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckEntries("grades", tt.ci, tt.entries)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			require.True(t, errs.Is(err, errs.KindInvalid))
		})
	}
}

func TestCheckName(t *testing.T) {
	require.NoError(t, CheckName("grades_2024"))
	for _, bad := range []string{"", "Grades", "2grades", "grades-2024", strings.Repeat("a", 64)} {
		require.ErrorContains(t, CheckName(bad), "want lowercase letters", bad)
	}
}

func TestTableLookup(t *testing.T) {
	entries := []*ferryv1.CrossReferenceEntry{entry("Gr 9", "9", false), entry("Straße", "s", false)}
	ci := NewTable("grades", true, 3, entries)
	for _, v := range []string{"Gr 9", "gr 9", " GR 9 "} {
		got, ok := ci.Lookup(v)
		require.True(t, ok, v)
		require.Equal(t, "9", got)
	}
	got, ok := ci.Lookup("STRASSE")
	require.True(t, ok)
	require.Equal(t, "s", got)
	_, ok = ci.Lookup("Gr 10")
	require.False(t, ok)
	require.Equal(t, 2, ci.Len())

	cs := NewTable("grades", false, 3, entries)
	got, ok = cs.Lookup("Gr 9")
	require.True(t, ok)
	require.Equal(t, "9", got)
	for _, v := range []string{"gr 9", " Gr 9"} {
		_, ok := cs.Lookup(v)
		require.False(t, ok, "a case-sensitive table compares %q exactly", v)
	}
}

// responder answers fetch requests from pages of a table; bump changes the
// table's version after that many requests.
type responder struct {
	entries  []*ferryv1.CrossReferenceEntry
	version  atomic.Int64
	requests atomic.Int64
	bumpAt   int64
}

func (r *responder) handle(m *nats.Msg) {
	var req ferryv1.CrossReferenceFetchRequest
	reply := &ferryv1.CrossReferenceFetchReply{}
	n := r.requests.Add(1)
	if r.bumpAt > 0 && n == r.bumpAt {
		r.version.Add(1)
	}
	switch {
	case proto.Unmarshal(m.Data, &req) != nil:
		reply.Code = int32(codes.InvalidArgument)
	case req.GetName() != "grades":
		reply.Code, reply.Message = int32(codes.NotFound), fmt.Sprintf("cross-reference %q not found", req.GetName())
	default:
		i, _ := slices.BinarySearchFunc(r.entries, req.GetAfter(), func(e *ferryv1.CrossReferenceEntry, after string) int {
			return strings.Compare(e.GetExternal(), after)
		})
		if i < len(r.entries) && r.entries[i].GetExternal() == req.GetAfter() {
			i++
		}
		end := min(i+int(req.GetLimit()), len(r.entries))
		reply.Table = &ferryv1.CrossReference{Name: "grades", CaseInsensitive: true, Version: r.version.Load(), Entries: r.entries[i:end]}
		reply.More = end < len(r.entries)
	}
	data, _ := proto.Marshal(reply)
	_ = m.Respond(data)
}

func startResponder(t *testing.T, r *responder) *nats.Conn {
	ns := testkit.NATS(t)
	nc, err := bus.Connect("", ns, "test", testkit.Log(t))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	_, err = nc.Subscribe(bus.CrossReferenceFetchSubjects, r.handle)
	require.NoError(t, err)
	return nc
}

func TestFetchPages(t *testing.T) {
	r := &responder{}
	for i := range 25_000 {
		r.entries = append(r.entries, entry(fmt.Sprintf("Ext %06d", i), fmt.Sprint(i), false))
	}
	r.version.Store(7)
	nc := startResponder(t, r)

	tbl, err := Fetch(context.Background(), nc, "t1", "grades")
	require.NoError(t, err)
	require.Equal(t, 25_000, tbl.Len())
	require.EqualValues(t, 7, tbl.Version)
	require.True(t, tbl.CaseInsensitive)
	require.EqualValues(t, 3, r.requests.Load(), "25 000 entries come in pages of 10 000")
	got, ok := tbl.Lookup(" ext 024999")
	require.True(t, ok)
	require.Equal(t, "24999", got)
}

func TestFetchStartsOverWhenTheTableChanges(t *testing.T) {
	r := &responder{bumpAt: 2}
	for i := range 15_000 {
		r.entries = append(r.entries, entry(fmt.Sprintf("e%05d", i), "x", false))
	}
	nc := startResponder(t, r)
	tbl, err := Fetch(context.Background(), nc, "t1", "grades")
	require.NoError(t, err)
	require.EqualValues(t, 1, tbl.Version)
	require.Equal(t, 15_000, tbl.Len())
	require.EqualValues(t, 4, r.requests.Load(), "two pages, of which the second had a new version, then two more")
}

func TestFetchNotFound(t *testing.T) {
	nc := startResponder(t, &responder{})
	_, err := Fetch(context.Background(), nc, "t1", "nope")
	require.True(t, errs.Is(err, errs.KindNotFound), "%v", err)
	require.EqualError(t, err, `cross-reference "nope" not found`)
}

func TestFetchWithoutResponder(t *testing.T) {
	ns := testkit.NATS(t)
	nc, err := bus.Connect("", ns, "test", testkit.Log(t))
	require.NoError(t, err)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = Fetch(ctx, nc, "t1", "grades")
	require.True(t, errs.Is(err, errs.KindUnavailable), "%v", err)
	require.ErrorContains(t, err, "profile service did not answer")
}

func TestReverse(t *testing.T) {
	e := func(ext, in string, primary bool) *ferryv1.CrossReferenceEntry {
		return &ferryv1.CrossReferenceEntry{External: ext, Internal: in, Primary: primary}
	}
	for _, entries := range [][]*ferryv1.CrossReferenceEntry{
		{e("Gr 9", "9", false), e("Grade 9", "9", true), e("Gr 10", "10", false), e("X", "x", false), e("Y", "x", false)},
		{e("Y", "x", false), e("Gr 10", "10", false), e("Grade 9", "9", true), e("X", "x", false), e("Gr 9", "9", false)},
	} {
		tb := NewTable("grades", false, 1, entries)
		got, ok, err := tb.Reverse("9")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "Grade 9", got, "the primary entry")
		got, ok, err = tb.Reverse("10")
		require.NoError(t, err)
		require.Equal(t, "Gr 10", got, "the only entry")
		_, ok, err = tb.Reverse("x")
		require.True(t, ok)
		require.ErrorContains(t, err, `internal value "x" has several external values in cross-reference table "grades" and none is primary`)
		_, ok, err = tb.Reverse("11")
		require.NoError(t, err)
		require.False(t, ok)
	}
	// Pages add entries in order of the external value; a primary on a later page still wins.
	tb := NewTable("grades", false, 1, []*ferryv1.CrossReferenceEntry{e("A", "1", false), e("B", "1", false)})
	tb.add([]*ferryv1.CrossReferenceEntry{e("C", "1", true)})
	got, _, err := tb.Reverse("1")
	require.NoError(t, err)
	require.Equal(t, "C", got)
}
