package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// usersYAML holds a profile before the dataset it imports into, to show
// that apply sends datasets first.
const usersYAML = `# People, imported nightly.
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata:
  name: users-csv
spec:
  dataset: users
  csv:
    delimiter: ";"
  mappings:
    - field: id
      column: ID
    - field: email
      column: E-mail
  writeMode: upsert
---
apiVersion: ferry.dev/v1
kind: Dataset
metadata:
  name: users
spec:
  fields:
    - name: id
      type: string
      required: true
    - name: email
      type: string
    - name: born
      type: date
    - name: score
      type: decimal
  key: [id]
`

const groupsYAML = `---
apiVersion: ferry.dev/v1
kind: Dataset
metadata: {name: groups}
spec:
  fields:
    - {name: school, type: integer, required: true}
    - {name: code, type: string, required: true}
    - {name: active, type: boolean}
    - {name: synced_at, type: timestamp}
    - {name: extra, type: json}
  key: [school, code]
---
# Every field from the column of the same name.
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata:
  name: groups-csv
spec:
  dataset: groups
`

var (
	wantUsers = &ferryv1.Dataset{
		Name: "users",
		Fields: []*ferryv1.Field{
			{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true},
			{Name: "email", Type: ferryv1.FieldType_FIELD_TYPE_STRING},
			{Name: "born", Type: ferryv1.FieldType_FIELD_TYPE_DATE},
			{Name: "score", Type: ferryv1.FieldType_FIELD_TYPE_DECIMAL},
		},
		Key: []string{"id"},
	}
	wantGroups = &ferryv1.Dataset{
		Name: "groups",
		Fields: []*ferryv1.Field{
			{Name: "school", Type: ferryv1.FieldType_FIELD_TYPE_INTEGER, Required: true},
			{Name: "code", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true},
			{Name: "active", Type: ferryv1.FieldType_FIELD_TYPE_BOOLEAN},
			{Name: "synced_at", Type: ferryv1.FieldType_FIELD_TYPE_TIMESTAMP},
			{Name: "extra", Type: ferryv1.FieldType_FIELD_TYPE_JSON},
		},
		Key: []string{"school", "code"},
	}
	wantUsersCSV = &ferryv1.ApplyImportProfileRequest{
		Name: "users-csv",
		Spec: &ferryv1.ImportProfileSpec{
			Dataset: "users",
			Csv:     &ferryv1.CSVFormat{Delimiter: ";"},
			Mappings: []*ferryv1.FieldMapping{
				{Field: "id", Column: "ID"},
				{Field: "email", Column: "E-mail"},
			},
			WriteMode: ferryv1.WriteMode_WRITE_MODE_UPSERT,
		},
	}
	wantGroupsCSV = &ferryv1.ApplyImportProfileRequest{
		Name: "groups-csv",
		Spec: &ferryv1.ImportProfileSpec{Dataset: "groups", WriteMode: ferryv1.WriteMode_WRITE_MODE_UPSERT},
	}
)

// writeFile writes a file into the test's temporary directory.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func requireProtos[M proto.Message](t testing.TB, want, got []M) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.True(t, proto.Equal(want[i], got[i]), "message %d:\nwant %v\ngot  %v", i, want[i], got[i])
	}
}

func TestApply(t *testing.T) {
	srv := startServer(t)
	users := writeFile(t, "users.yaml", usersYAML)

	// Two files, one of them on stdin.
	res := srv.run(t, groupsYAML, "apply", "-f", users, "-f", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "dataset/users created\ndataset/groups created\nimportprofile/users-csv created\nimportprofile/groups-csv created\n", res.stdout)
	require.Empty(t, res.stderr)
	requireProtos(t, []*ferryv1.Dataset{wantUsers, wantGroups}, srv.datasets.applied)
	requireProtos(t, []*ferryv1.ApplyImportProfileRequest{wantUsersCSV, wantGroupsCSV}, srv.profiles.applied)
	require.Equal(t, []string{"ApplyDataset", "ApplyDataset", "ApplyImportProfile", "ApplyImportProfile"}, srv.methods())

	// Applying the same files again changes nothing.
	res = srv.run(t, groupsYAML, "apply", "-f", users, "-f", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "dataset/users unchanged\ndataset/groups unchanged\nimportprofile/users-csv unchanged\nimportprofile/groups-csv unchanged\n", res.stdout)

	// A new field updates the dataset.
	changed := strings.Replace(usersYAML, "  key: [id]", "    - name: nickname\n      type: string\n  key: [id]", 1)
	res = srv.run(t, changed, "apply", "-f", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "dataset/users updated\nimportprofile/users-csv unchanged\n", res.stdout)
	srv.requireAuth(t, testKey)
}

func TestApplyRejectsInvalidDocuments(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replaced in usersYAML
		want     []string
	}{
		{name: "unknown key", old: "    - name: email\n", new: "    - nme: email\n",
			want: []string{`users.yaml: document 2 (dataset/users, line 17): spec.fields[1]: unknown key "nme" (known keys: name, type, required)`}},
		{name: "unknown top-level key", old: "kind: Dataset\n", new: "kind: Dataset\nstatus: {}\n",
			want: []string{`document 2 (dataset/users, line 17): unknown key "status" (known keys: apiVersion, kind, metadata, spec)`}},
		{name: "wrong apiVersion", old: "apiVersion: ferry.dev/v1\nkind: ImportProfile", new: "apiVersion: ferry.dev/v2\nkind: ImportProfile",
			want: []string{`document 1 (importprofile/users-csv, line 1): apiVersion: "ferry.dev/v2" is not supported (want ferry.dev/v1)`}},
		{name: "missing apiVersion", old: "apiVersion: ferry.dev/v1\nkind: Dataset", new: "kind: Dataset",
			want: []string{`document 2 (dataset/users, line 17): apiVersion: missing (want ferry.dev/v1)`}},
		{name: "unknown kind", old: "kind: Dataset", new: "kind: Datset",
			want: []string{`document 2 (Datset/users, line 17): kind: unknown kind "Datset" (want Dataset, ImportProfile, CrossReference, Template, ExportProfile or Destination)`}},
		{name: "missing name", old: "metadata:\n  name: users\n", new: "metadata: {}\n",
			want: []string{`document 2 (Dataset, line 17): metadata.name: missing`}},
		{name: "unknown type", old: "type: date", new: "type: datetime",
			want: []string{`document 2 (dataset/users, line 17): spec.fields[2].type: unknown type "datetime" (want one of: string, integer, decimal, boolean, date, timestamp, json)`}},
		{name: "type in capitals", old: "type: date", new: "type: Date",
			want: []string{`spec.fields[2].type: unknown type "Date"`}},
		{name: "missing type", old: "      type: date\n", new: "",
			want: []string{`spec.fields[2].type: missing (want one of: string,`}},
		{name: "required not a boolean", old: "required: true", new: `required: "yes"`,
			want: []string{`spec.fields[0].required: want true or false, got "yes"`}},
		{name: "column not a string", old: "column: ID", new: "column: 17",
			want: []string{`document 1 (importprofile/users-csv, line 1): spec.mappings[0].column: want a string, got 17 (put it in quotes to make it a string)`}},
		{name: "key is not a field", old: "key: [id]", new: "key: [uid]",
			want: []string{`spec.key[0]: "uid" is not a field of this dataset`}},
		{name: "unknown write mode", old: "writeMode: upsert", new: "writeMode: merge",
			want: []string{`document 1 (importprofile/users-csv, line 1): spec.writeMode: unknown write mode "merge" (want one of: upsert, insert_only, update_only, mirror, delete)`}},
		{name: "long delimiter", old: `delimiter: ";"`, new: `delimiter: ";;"`,
			want: []string{`spec.csv.delimiter: ";;" is not a valid delimiter`}},
		{name: "mapping to a field the dataset lacks", old: "field: email", new: "field: mail",
			want: []string{`document 1 (importprofile/users-csv, line 1): spec.mappings[1].field: "mail" is not a field of dataset users (users.yaml: document 2 (dataset/users, line 17))`}},
		{name: "key field not mapped", old: "    - field: id\n      column: ID\n", new: "",
			want: []string{`document 1 (importprofile/users-csv, line 1): spec.mappings: key field "id" of dataset users is not mapped`}},
		{name: "invalid YAML", old: "key: [id]", new: "key: [id",
			want: []string{`document 2 (no kind, line 17): invalid YAML: yaml: line 32: did not find expected ',' or ']'`}},
		{name: "duplicate document", old: "  key: [id]\n", new: "  key: [id]\n---\napiVersion: ferry.dev/v1\nkind: Dataset\nmetadata: {name: users}\nspec: {fields: [{name: id, type: string}], key: [id]}\n",
			want: []string{`document 3 (dataset/users, line 34): dataset/users is also defined in users.yaml: document 2 (dataset/users, line 17)`}},
		{name: "several problems", old: "type: date", new: "type: datetime\n      size: 3",
			want: []string{`spec.fields[2]: unknown key "size"`, `spec.fields[2].type: unknown type "datetime"`, "ferry: apply: 2 problems found; nothing was applied"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t)
			content := strings.Replace(usersYAML, tt.old, tt.new, 1)
			require.NotEqual(t, usersYAML, content)
			dir := t.TempDir()
			path := filepath.Join(dir, "users.yaml")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			t.Chdir(dir)

			res := srv.run(t, "", "apply", "-f", "users.yaml")
			require.Equal(t, 1, res.code)
			for _, w := range tt.want {
				require.Contains(t, res.stderr, w)
			}
			require.True(t, strings.HasPrefix(res.stderr, "ferry: users.yaml: document "), res.stderr)
			require.Contains(t, res.stderr, "nothing was applied\n")
			require.Empty(t, res.stdout)
			require.Empty(t, srv.methods(), "nothing may be applied")
		})
	}
}

func TestApplyIsAllOrNothingAcrossFiles(t *testing.T) {
	srv := startServer(t)
	good := writeFile(t, "users.yaml", usersYAML)
	bad := writeFile(t, "groups.yaml", strings.Replace(groupsYAML, "type: json", "type: jsonb", 1))

	res := srv.run(t, "", "apply", "-f", good, "-f", bad)
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: "+bad+`: document 1 (dataset/groups, line 2): spec.fields[4].type: unknown type "jsonb" (want one of: string, integer, decimal, boolean, date, timestamp, json)`+"\n"+
		"ferry: apply: 1 problem found; nothing was applied\n", res.stderr)
	require.Empty(t, srv.methods())
}

func TestApplyStopsAtServerError(t *testing.T) {
	srv := startServer(t)
	res := srv.run(t, "", "apply", "-f", writeFile(t, "x.yaml", `apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: p}
spec: {dataset: nowhere}
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: q}
spec: {dataset: nowhere}
---
apiVersion: ferry.dev/v1
kind: Dataset
metadata: {name: somewhere}
spec: {fields: [{name: id, type: string}], key: [id]}
`))
	require.Equal(t, 1, res.code)
	require.Equal(t, "dataset/somewhere created\n", res.stdout)
	require.Equal(t, "ferry: apply importprofile/p: dataset nowhere does not exist\n", res.stderr)
	require.Equal(t, []string{"ApplyDataset", "ApplyImportProfile"}, srv.methods())
}

func TestApplyFileErrors(t *testing.T) {
	srv := startServer(t)
	res := srv.run(t, "", "apply", "-f", "/does/not/exist.yaml")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: apply: read /does/not/exist.yaml: open /does/not/exist.yaml: no such file or directory\n", res.stderr)

	res = srv.run(t, "# only a comment\n---\n", "apply", "-f", "-")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: apply: no documents in <stdin>\n", res.stderr)
	require.Empty(t, srv.methods())
}

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []rawDocument
	}{
		{name: "one", in: "a: 1\n", want: []rawDocument{{text: "a: 1\n", line: 1}}},
		{name: "leading separator and comments", in: "# head\n---\na: 1\n--- # second\nb: 2\n---\n# nothing\n",
			want: []rawDocument{{text: "a: 1\n", line: 3}, {text: "b: 2\n", line: 5}}},
		{name: "content on the separator line", in: "--- {a: 1}\n", want: []rawDocument{{text: "{a: 1}\n", line: 1}}},
		{name: "byte order mark and CRLF", in: "\ufeffa: 1\r\n---\r\nb: 2\r\n",
			want: []rawDocument{{text: "a: 1\r\n", line: 1}, {text: "b: 2\r\n", line: 3}}},
		{name: "empty", in: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, splitDocuments([]byte(tt.in)))
		})
	}
}

// fullProfileYAML uses every setting of a profile and a relationship dataset.
const fullProfileYAML = `apiVersion: ferry.dev/v1
kind: Dataset
metadata: {name: members}
spec:
  fields: [{name: group_id, type: string}, {name: user_id, type: string}, {name: since, type: date}]
  key: [group_id, user_id]
  references:
    - {fields: [user_id], dataset: users}
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: members-csv}
spec:
  dataset: members
  headerMatch: normalized
  timeZone: Europe/Berlin
  writeMode: mirror
  mappings:
    - field: group_id
      column: Group
      aliases: [Team]
      crossReference: {table: groups, unknown: hold}
      rules: {required: true, pattern: "[a-z]+", allowed: [red, blue], minLength: 2, maxLength: 9, unique: true}
    - field: user_id
      expr: 'lower(trim(value))'
      column: User
      defaultValue: nobody
      blankKeepsExisting: true
    - field: since
      columnIndex: 3
      dateFormats: ["DD.MM.YYYY"]
      rules: {min: "2000-01-01", max: "2099-12-31"}
  rules:
    - {name: r1, expr: 'fields.user_id != "root"', message: no root}
  errorPolicy: {maxRejectedRows: 10, maxRejectedPercent: 2.5}
  mirror: {maxChangePercent: 12.5}
`

func TestApplyFullProfileRoundTrip(t *testing.T) {
	srv := startServer(t)
	res := srv.run(t, fullProfileYAML, "apply", "-f", "-")
	require.Equal(t, 0, res.code, res.stderr)
	want := &ferryv1.ImportProfileSpec{
		Dataset: "members", HeaderMatch: ferryv1.HeaderMatch_HEADER_MATCH_NORMALIZED, TimeZone: "Europe/Berlin",
		WriteMode: ferryv1.WriteMode_WRITE_MODE_MIRROR,
		Mappings: []*ferryv1.FieldMapping{
			{Field: "group_id", Column: "Group", Aliases: []string{"Team"},
				CrossReference: &ferryv1.CrossReferenceUse{Table: "groups", Unknown: ferryv1.UnknownValue_UNKNOWN_VALUE_HOLD},
				Rules:          &ferryv1.FieldRules{Required: true, Pattern: "[a-z]+", Allowed: []string{"red", "blue"}, MinLength: 2, MaxLength: 9, Unique: true}},
			{Field: "user_id", Expr: "lower(trim(value))", Column: "User", DefaultValue: "nobody", BlankKeepsExisting: true},
			{Field: "since", ColumnIndex: 3, DateFormats: []string{"DD.MM.YYYY"}, Rules: &ferryv1.FieldRules{Min: "2000-01-01", Max: "2099-12-31"}},
		},
		Rules:       []*ferryv1.RowRule{{Name: "r1", Expr: `fields.user_id != "root"`, Message: "no root"}},
		ErrorPolicy: &ferryv1.ErrorPolicy{MaxRejectedRows: 10, MaxRejectedPercent: 2.5},
		Mirror:      &ferryv1.MirrorOptions{MaxChangePercent: 12.5},
	}
	requireProtos(t, []*ferryv1.ApplyImportProfileRequest{{Name: "members-csv", Spec: want}}, srv.profiles.applied)
	require.Equal(t, []*ferryv1.Reference{{Fields: []string{"user_id"}, Dataset: "users"}}, srv.datasets.applied[0].GetReferences())

	// What get prints, apply reads back unchanged.
	res = srv.run(t, "", "get", "profiles", "members-csv", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	again := srv.run(t, res.stdout, "apply", "-f", "-")
	require.Equal(t, 0, again.code, again.stderr)
	require.Equal(t, "importprofile/members-csv unchanged\n", again.stdout)
	res = srv.run(t, "", "get", "datasets", "members", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "references:")

	bad := strings.Replace(fullProfileYAML, "unknown: hold", "unknown: park", 1)
	res = srv.run(t, bad, "apply", "-f", "-")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `spec.mappings[0].crossReference.unknown: unknown value "park" (want one of: reject, pass_through, default, hold)`)
}
