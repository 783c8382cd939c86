package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/xref"
)

// fakeXRefs keeps tables in memory with the server's rules for external
// values (xref.MatchKey) and versions.
type fakeXRefs struct {
	ferryv1.UnimplementedCrossReferenceServiceServer
	mu      sync.Mutex
	applied []*ferryv1.ApplyCrossReferenceRequest
	puts    []*ferryv1.PutCrossReferenceEntriesRequest
	stored  map[string]*ferryv1.CrossReference
}

func sortEntries(list []*ferryv1.CrossReferenceEntry) []*ferryv1.CrossReferenceEntry {
	out := slices.Clone(list)
	slices.SortFunc(out, func(a, b *ferryv1.CrossReferenceEntry) int { return strings.Compare(a.GetExternal(), b.GetExternal()) })
	return out
}

func (f *fakeXRefs) ApplyCrossReference(_ context.Context, req *ferryv1.ApplyCrossReferenceRequest) (*ferryv1.ApplyCrossReferenceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, proto.CloneOf(req))
	want := req.GetCrossReference()
	if err := xref.CheckEntries(want.GetName(), want.GetCaseInsensitive(), want.GetEntries()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	next := &ferryv1.CrossReference{Name: want.GetName(), CaseInsensitive: want.GetCaseInsensitive(), Entries: sortEntries(want.GetEntries()), Version: 1, UpdateTime: fixedTime}
	outcome := "created"
	if cur, ok := f.stored[want.GetName()]; ok {
		if req.GetKeepEntries() {
			next.Entries = cur.GetEntries()
		}
		next.Version = cur.GetVersion()
		if proto.Equal(&ferryv1.CrossReference{CaseInsensitive: cur.GetCaseInsensitive(), Entries: cur.GetEntries()},
			&ferryv1.CrossReference{CaseInsensitive: next.GetCaseInsensitive(), Entries: next.GetEntries()}) {
			return &ferryv1.ApplyCrossReferenceResponse{CrossReference: summary(cur), Outcome: "unchanged"}, nil
		}
		next.Version++
		outcome = "updated"
	}
	f.stored[want.GetName()] = next
	return &ferryv1.ApplyCrossReferenceResponse{CrossReference: summary(next), Outcome: outcome}, nil
}

// summary is a table without its entries, as apply, load and list return it.
func summary(x *ferryv1.CrossReference) *ferryv1.CrossReference {
	s := proto.CloneOf(x)
	s.EntryCount, s.Entries = int64(len(x.GetEntries())), nil
	return s
}

func (f *fakeXRefs) get(name string) (*ferryv1.CrossReference, error) {
	x, ok := f.stored[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "cross-reference %q not found", name)
	}
	return x, nil
}

func (f *fakeXRefs) GetCrossReference(_ context.Context, req *ferryv1.GetCrossReferenceRequest) (*ferryv1.GetCrossReferenceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	x, err := f.get(req.GetName())
	if err != nil {
		return nil, err
	}
	x = proto.CloneOf(x)
	x.EntryCount = int64(len(x.Entries))
	return &ferryv1.GetCrossReferenceResponse{CrossReference: x}, nil
}

func (f *fakeXRefs) ListCrossReferences(context.Context, *ferryv1.ListCrossReferencesRequest) (*ferryv1.ListCrossReferencesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &ferryv1.ListCrossReferencesResponse{}
	for _, name := range sortedNames(f.stored) {
		resp.CrossReferences = append(resp.CrossReferences, summary(f.stored[name]))
	}
	return resp, nil
}

func (f *fakeXRefs) PutCrossReferenceEntries(_ context.Context, req *ferryv1.PutCrossReferenceEntriesRequest) (*ferryv1.PutCrossReferenceEntriesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, &ferryv1.PutCrossReferenceEntriesRequest{Name: req.GetName(), Replace: req.GetReplace(), Entries: req.GetEntries()})
	x, err := f.get(req.GetName())
	if err != nil {
		return nil, err
	}
	ci := x.GetCaseInsensitive()
	if err := xref.CheckEntries(x.GetName(), ci, req.GetEntries()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	byKey := map[string]*ferryv1.CrossReferenceEntry{}
	for _, e := range x.GetEntries() {
		byKey[xref.MatchKey(ci, e.GetExternal())] = e
	}
	resp := &ferryv1.PutCrossReferenceEntriesResponse{}
	given := map[string]bool{}
	for _, e := range req.GetEntries() {
		k := xref.MatchKey(ci, e.GetExternal())
		given[k] = true
		switch cur, ok := byKey[k]; {
		case !ok:
			resp.Added++
		case !proto.Equal(cur, e):
			resp.Changed++
		}
		byKey[k] = e
	}
	if req.GetReplace() {
		for k := range byKey {
			if !given[k] {
				delete(byKey, k)
				resp.Removed++
			}
		}
	}
	if resp.Added+resp.Changed+resp.Removed > 0 {
		x.Version++
	}
	x.Entries = nil
	for _, e := range byKey {
		x.Entries = append(x.Entries, e)
	}
	x.Entries = sortEntries(x.Entries)
	resp.CrossReference = summary(x)
	return resp, nil
}

func (f *fakeXRefs) LookupCrossReference(_ context.Context, req *ferryv1.LookupCrossReferenceRequest) (*ferryv1.LookupCrossReferenceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	x, err := f.get(req.GetName())
	if err != nil {
		return nil, err
	}
	resp := &ferryv1.LookupCrossReferenceResponse{}
	for _, v := range req.GetValues() {
		r := &ferryv1.LookupResult{Value: v}
		var matches []*ferryv1.CrossReferenceEntry
		for _, e := range x.GetEntries() {
			if req.GetDirection() == ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_INTERNAL &&
				xref.MatchKey(x.GetCaseInsensitive(), e.GetExternal()) == xref.MatchKey(x.GetCaseInsensitive(), v) {
				r.Found, r.Result = true, e.GetInternal()
			}
			if req.GetDirection() == ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_EXTERNAL && e.GetInternal() == v {
				matches = append(matches, e)
			}
		}
		for _, e := range matches {
			r.Found = true
			if len(matches) == 1 || e.GetPrimary() {
				r.Result = e.GetExternal()
			}
		}
		if len(matches) > 1 && r.Result == "" {
			r.Error = fmt.Sprintf("internal value %q has %d external values in table %q and none is primary", v, len(matches), x.GetName())
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

const gradesYAML = `apiVersion: ferry.dev/v1
kind: CrossReference
metadata: {name: grades}
spec:
  caseInsensitive: true
  entries:
    - {external: "Gr 9", internal: "9", primary: true}
    - {external: "Grade 9", internal: "9"}
    - {external: "Gr 10", internal: "10"}
`

func TestApplyCrossReferences(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tables"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tables", "schools.csv"), []byte("\ufeffExternal,Internal,Primary\n\"North, High\",nh,yes\n  South ,sh,\n"), 0o600))
	path := filepath.Join(dir, "xrefs.yaml")
	require.NoError(t, os.WriteFile(path, []byte(gradesYAML+`---
apiVersion: ferry.dev/v1
kind: CrossReference
metadata: {name: schools}
spec:
  entriesFile: tables/schools.csv
---
apiVersion: ferry.dev/v1
kind: Dataset
metadata: {name: somewhere}
spec: {fields: [{name: id, type: string}], key: [id]}
---
apiVersion: ferry.dev/v1
kind: CrossReference
metadata: {name: states}
spec: {caseInsensitive: true}
`), 0o600))

	res := srv.run(t, "", "apply", "-f", path)
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "dataset/somewhere created\ncrossreference/grades created\ncrossreference/schools created\ncrossreference/states created\n", res.stdout)
	requireProtos(t, []*ferryv1.ApplyCrossReferenceRequest{
		{CrossReference: &ferryv1.CrossReference{Name: "grades", CaseInsensitive: true, Entries: []*ferryv1.CrossReferenceEntry{
			{External: "Gr 9", Internal: "9", Primary: true}, {External: "Grade 9", Internal: "9"}, {External: "Gr 10", Internal: "10"},
		}}},
		// Values are kept exactly as written, spaces too.
		{CrossReference: &ferryv1.CrossReference{Name: "schools", Entries: []*ferryv1.CrossReferenceEntry{
			{External: "North, High", Internal: "nh", Primary: true}, {External: "  South ", Internal: "sh"},
		}}},
		// No entries: the settings only.
		{CrossReference: &ferryv1.CrossReference{Name: "states", CaseInsensitive: true}, KeepEntries: true},
	}, srv.xrefs.applied)

	res = srv.run(t, gradesYAML, "apply", "-f", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "crossreference/grades unchanged\n", res.stdout)
	res = srv.run(t, strings.Replace(gradesYAML, `internal: "10"`, `internal: "ten"`, 1), "apply", "-f", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "crossreference/grades updated\n", res.stdout)
}

func TestApplyRejectsInvalidCrossReferences(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replaced in gradesYAML
		csv      string // tables/x.csv next to the file
		want     string
	}{
		{name: "values that collide ignoring case", old: `"Grade 9"`, new: `" gr 9"`,
			want: `document 1 (crossreference/grades, line 1): spec: cross-reference "grades": external values "Gr 9" and " gr 9" are the same value in a case-insensitive table`},
		{name: "two primaries", old: `internal: "9"}`, new: `internal: "9", primary: true}`,
			want: `spec: cross-reference "grades": internal value "9" has two primary external values, "Gr 9" and "Grade 9"`},
		{name: "empty external", old: `"Gr 10"`, new: `""`,
			want: `spec: cross-reference "grades": an entry (internal value "10") has an empty external value`},
		{name: "bad name", old: "name: grades", new: "name: Grades",
			want: `metadata.name: "Grades" is not a valid cross-reference name`},
		{name: "unknown key", old: "caseInsensitive: true", new: "ignoreCase: true",
			want: `spec: unknown key "ignoreCase" (known keys: caseInsensitive, entries, entriesFile)`},
		{name: "entries and a file", old: "  entries:", new: "  entriesFile: tables/x.csv\n  entries:", csv: "external,internal\n",
			want: `spec.entriesFile: give entries or entriesFile, not both`},
		{name: "file without the header", old: "  entries:\n", new: "  entriesFile: tables/x.csv\n  unused:\n", csv: "code,value\na,b\n",
			want: `spec.entriesFile: tables/x.csv: the header is "code,value"; want external,internal or external,internal,primary`},
		{name: "missing file", old: "  entries:\n", new: "  entriesFile: tables/none.csv\n  unused:\n",
			want: `spec.entriesFile: read entries: open tables/none.csv: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t)
			content := strings.Replace(gradesYAML, tt.old, tt.new, 1)
			require.NotEqual(t, gradesYAML, content)
			if strings.Contains(content, "unused:") {
				// Drop the entries that the test replaced with a file.
				content = content[:strings.Index(content, "  unused:")]
			}
			dir := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "tables"), 0o700))
			if tt.csv != "" {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "tables", "x.csv"), []byte(tt.csv), 0o600))
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, "grades.yaml"), []byte(content), 0o600))
			t.Chdir(dir)

			res := srv.run(t, "", "apply", "-f", "grades.yaml")
			require.Equal(t, 1, res.code)
			require.Contains(t, res.stderr, tt.want)
			require.Contains(t, res.stderr, "nothing was applied\n")
			require.Empty(t, srv.methods(), "nothing may be applied")
		})
	}
}

func TestGetCrossReferences(t *testing.T) {
	srv := startServer(t)
	require.Equal(t, 0, srv.run(t, gradesYAML+"---\napiVersion: ferry.dev/v1\nkind: CrossReference\nmetadata: {name: codes}\nspec: {entries: []}\n", "apply", "-f", "-").code)

	for _, args := range [][]string{{"get", "xrefs"}, {"get", "crossreferences"}} {
		res := srv.run(t, "", args...)
		require.Equal(t, 0, res.code, res.stderr)
		require.Equal(t, `NAME     ENTRIES   CASE          VERSION   UPDATED
codes    0         sensitive     1         2026-03-04T05:06:07Z
grades   3         insensitive   1         2026-03-04T05:06:07Z
`, res.stdout)
	}
	for _, args := range [][]string{{"get", "xref", "grades"}, {"get", "crossreference", "grades"}} {
		res := srv.run(t, "", args...)
		require.Equal(t, 0, res.code, res.stderr)
		require.Equal(t, `EXTERNAL   INTERNAL   PRIMARY
Gr 10      10         -
Gr 9       9          yes
Grade 9    9          -
`, res.stdout)
	}

	// -o yaml prints a document that applies back unchanged.
	res := srv.run(t, "", "get", "xref", "grades", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "kind: CrossReference\n")
	res = srv.run(t, res.stdout, "apply", "-f", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "crossreference/grades unchanged\n", res.stdout)

	res = srv.run(t, "", "get", "xref", "missing")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: get cross-reference missing: cross-reference \"missing\" not found\n", res.stderr)
}

func TestXRefLoad(t *testing.T) {
	srv := startServer(t)
	file := writeFile(t, "grades.csv", "external,internal,primary\nGr 9,9,true\nGrade 9,9,\n\"Gr, 10\",10,no\n")

	res := srv.run(t, "", "xref", "load", "grades", file)
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: load crossreference/grades: cross-reference \"grades\" not found (--create creates it)\n", res.stderr)

	res = srv.run(t, "", "xref", "load", "grades", file, "--create", "--case-insensitive")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "crossreference/grades created: 3 entries, version 1\n", res.stdout)
	requireProtos(t, []*ferryv1.ApplyCrossReferenceRequest{{CrossReference: &ferryv1.CrossReference{Name: "grades", CaseInsensitive: true, Entries: []*ferryv1.CrossReferenceEntry{
		{External: "Gr 9", Internal: "9", Primary: true}, {External: "Grade 9", Internal: "9"}, {External: "Gr, 10", Internal: "10"},
	}}}}, srv.xrefs.applied)

	// Without a primary column, on stdin; " gr 9" is "Gr 9" in this table.
	res = srv.run(t, "External,Internal\n gr 9,nine\nGr 11,11\n", "xref", "load", "grades", "-", "--replace")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "crossreference/grades loaded: 1 added, 1 changed, 2 removed; 2 entries, version 2\n", res.stdout)
	require.True(t, srv.xrefs.puts[len(srv.xrefs.puts)-1].GetReplace())

	tests := []struct {
		name, csv, want string
	}{
		{"no header", "Gr 9,9\n", `ferry: xref load: <stdin>: the header is "Gr 9,9"; want external,internal or external,internal,primary`},
		{"other header", "code;value\n", `ferry: xref load: <stdin>: the header is "code;value"; want external,internal or external,internal,primary`},
		{"empty", "", "ferry: xref load: <stdin> is empty; want a header external,internal[,primary]"},
		{"bad primary", "external,internal,primary\na,1,true\nb,2,maybe\n", `ferry: xref load: <stdin>: line 3: primary "maybe": want true or false (or yes/no, 1/0, or empty for false)`},
		{"ragged row", "external,internal\na,1\nb,2,3\n", "ferry: xref load: <stdin>: record on line 3: wrong number of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			puts := len(srv.xrefs.puts)
			res := srv.run(t, tt.csv, "xref", "load", "grades", "-")
			require.Equal(t, 1, res.code)
			require.Equal(t, tt.want+"\n", res.stderr)
			require.Len(t, srv.xrefs.puts, puts, "nothing is sent")
		})
	}

	res = srv.run(t, "", "xref", "load", "grades", file, "--case-insensitive")
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "--case-insensitive applies only with --create")
}

// TestXRefLoadLargeFile: 150 000 entries (about 6 MB) go in one request,
// larger than gRPC's default 4 MiB, and come back through get.
func TestXRefLoadLargeFile(t *testing.T) {
	srv := startServer(t)
	var b strings.Builder
	b.WriteString("external,internal\n")
	for i := range 150_000 {
		fmt.Fprintf(&b, "external value %07d,internal value %07d\n", i, i)
	}
	file := writeFile(t, "big.csv", b.String())
	res := srv.run(t, "", "xref", "load", "big", file, "--create")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "crossreference/big created: 150000 entries, version 1\n", res.stdout)
	require.Len(t, srv.xrefs.applied, 1)

	res = srv.run(t, "", "get", "xref", "big")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, 150_001, strings.Count(res.stdout, "\n"))

	b.WriteString("one,too many\n")
	for i := 150_000; i < xref.MaxEntriesPerRequest; i++ {
		fmt.Fprintf(&b, "e%d,i\n", i)
	}
	res = srv.run(t, b.String(), "xref", "load", "big", "-")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: xref load: <stdin> has more than 200000 entries, the most one load carries; load it in parts without --replace\n", res.stderr)
}

func TestXRefLookup(t *testing.T) {
	srv := startServer(t)
	require.Equal(t, 0, srv.run(t, gradesYAML+`    - {external: "Tenth", internal: "10"}
    - {external: "Eleventh", internal: "11"}
`, "apply", "-f", "-").code)

	res := srv.run(t, "", "xref", "lookup", "grades", " gr 9", "GRADE 9")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "VALUE     INTERNAL\n gr 9     9\nGRADE 9   9\n", res.stdout)

	res = srv.run(t, "", "xref", "lookup", "grades", "Gr 9", "Gr 12")
	require.Equal(t, 1, res.code)
	require.Equal(t, "VALUE   INTERNAL\nGr 9    9\nGr 12   -\n", res.stdout)
	require.Equal(t, "ferry: \"Gr 12\" is not in cross-reference grades\n", res.stderr)

	res = srv.run(t, "", "xref", "lookup", "--reverse", "grades", "9", "11", "10")
	require.Equal(t, 1, res.code)
	require.Equal(t, "VALUE   EXTERNAL\n9       Gr 9\n11      Eleventh\n10      -\n", res.stdout)
	require.Equal(t, "ferry: internal value \"10\" has 2 external values in table \"grades\" and none is primary\n", res.stderr)

	res = srv.run(t, "", "xref", "lookup", "grades")
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "usage: ferry xref lookup NAME VALUE...")
}

// TestXRefLoadTooLargeForTheServer: a file that fits the entry limit but not
// the server's message size is refused with a hint.
func TestXRefLoadTooLargeForTheServer(t *testing.T) {
	srv := startServer(t)
	var b strings.Builder
	b.WriteString("external,internal\n")
	long := strings.Repeat("x", 90)
	for i := range 200_000 {
		fmt.Fprintf(&b, "%s%07d,%d\n", long, i, i)
	}
	res := srv.run(t, b.String(), "xref", "load", "big", "-")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "ferry: load crossreference/big: grpc: received message larger than max")
	require.Contains(t, res.stderr, "ferry: the request is larger than the server accepts (its --grpc-max-recv-msg-size)")
}
