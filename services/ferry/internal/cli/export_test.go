package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// exportYAML uses every setting of a template and of an export profile, and
// lists them before what they use, to show the order apply sends them in.
const exportYAML = `apiVersion: ferry.dev/v1
kind: ExportProfile
metadata: {name: users-nightly}
spec:
  dataset: users
  selection: 'score >= 9 && email != ""'
  sort:
    - {field: born, descending: true}
    - {field: id}
  maxRows: 5000
  template: users-report
  format: csv
  csv: {delimiter: ";", quoteAll: true, lineEnding: lf, encoding: windows-1252, bom: true}
  fileName: "users-{date:2006-01-02}.csv"
  status: active
  mode: incremental
  deletions: separate_file
  deltaFiles: true
  allowFormulas: true
  unencodable: replace
---
apiVersion: ferry.dev/v1
kind: Template
metadata: {name: users-report}
spec:
  columns:
    - {header: ID, field: id}
    - header: E-mail
      expr: 'lower(fields.email)'
    - {header: Born, field: born, dateFormat: DD/MM/YYYY}
    - {header: Score, field: score, decimalSeparator: ","}
    - {header: Active, field: active, trueWord: ja, falseWord: nein}
    - {header: Group, field: group_id, crossReference: groups}
`

var (
	wantTemplate = &ferryv1.ApplyTemplateRequest{Name: "users-report", Spec: &ferryv1.TemplateSpec{Columns: []*ferryv1.TemplateColumn{
		{Header: "ID", Field: "id"},
		{Header: "E-mail", Expr: "lower(fields.email)"},
		{Header: "Born", Field: "born", DateFormat: "DD/MM/YYYY"},
		{Header: "Score", Field: "score", DecimalSeparator: ","},
		{Header: "Active", Field: "active", TrueWord: "ja", FalseWord: "nein"},
		{Header: "Group", Field: "group_id", CrossReference: "groups"},
	}}}
	wantExport = &ferryv1.ApplyExportProfileRequest{Name: "users-nightly", Spec: &ferryv1.ExportProfileSpec{
		Dataset:   "users",
		Selection: `score >= 9 && email != ""`,
		Sort:      []*ferryv1.SortKey{{Field: "born", Descending: true}, {Field: "id"}},
		MaxRows:   5000,
		Template:  "users-report",
		Format:    ferryv1.ExportFormat_EXPORT_FORMAT_CSV,
		Csv:       &ferryv1.ExportCSV{Delimiter: ";", QuoteAll: true, LineEnding: "lf", Encoding: "windows-1252", Bom: true},
		FileName:  "users-{date:2006-01-02}.csv",
		Status:    ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE,
		Mode:      ferryv1.ExportMode_EXPORT_MODE_INCREMENTAL,
		Deletions: ferryv1.Deletions_DELETIONS_SEPARATE_FILE, DeltaFiles: true, AllowFormulas: true,
		Unencodable: ferryv1.Unencodable_UNENCODABLE_REPLACE,
	}}
)

func TestApplyExportKinds(t *testing.T) {
	srv := startServer(t)
	res := srv.run(t, exportYAML+"---\n"+usersYAML, "apply", "-f", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "dataset/users created\ntemplate/users-report created\nimportprofile/users-csv created\nexportprofile/users-nightly created\n", res.stdout)
	require.Equal(t, []string{"ApplyDataset", "ApplyTemplate", "ApplyImportProfile", "ApplyExportProfile"}, srv.methods())
	requireProtos(t, []*ferryv1.ApplyTemplateRequest{wantTemplate}, srv.exports.appliedTemplates)
	requireProtos(t, []*ferryv1.ApplyExportProfileRequest{wantExport}, srv.exports.appliedProfiles)

	res = srv.run(t, exportYAML, "apply", "-f", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "template/users-report unchanged\nexportprofile/users-nightly unchanged\n", res.stdout)

	// What get prints, apply reads back unchanged, and sends as the original did.
	var files []string
	for _, kind := range []string{"templates", "exports"} {
		res := srv.run(t, "", "get", kind, "-o", "yaml")
		require.Equal(t, 0, res.code, res.stderr)
		require.True(t, strings.HasPrefix(res.stdout, "apiVersion: ferry.dev/v1\n"), res.stdout)
		require.NotContains(t, res.stdout, "valid")
		files = append(files, "-f", writeFile(t, kind+".yaml", res.stdout))
	}
	res = srv.run(t, "", append([]string{"apply"}, files...)...)
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "template/users-report unchanged\nexportprofile/users-nightly unchanged\n", res.stdout)

	second := startServer(t)
	res = second.run(t, usersYAML, append([]string{"apply", "-f", "-"}, files...)...)
	require.Equal(t, 0, res.code, res.stderr)
	requireProtos(t, []*ferryv1.ApplyTemplateRequest{wantTemplate}, second.exports.appliedTemplates)
	requireProtos(t, []*ferryv1.ApplyExportProfileRequest{wantExport}, second.exports.appliedProfiles)

	// A profile that cannot run is stored, and apply says why.
	res = srv.run(t, "apiVersion: ferry.dev/v1\nkind: ExportProfile\nmetadata: {name: orphan}\nspec: {dataset: nowhere, template: nothing}\n", "apply", "-f", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "exportprofile/orphan created (invalid: dataset nowhere does not exist; template nothing does not exist)\n", res.stdout)
}

func TestApplyExportKindsDryRun(t *testing.T) {
	srv := startServer(t)
	res := srv.run(t, exportYAML, "apply", "-f", "-", "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "exportprofile/users-nightly would be created (dry run)\ntemplate/users-report would be created (dry run)\n", res.stdout)
	require.Equal(t, []string{"GetExportProfile", "GetTemplate"}, srv.methods())

	require.Equal(t, 0, srv.run(t, exportYAML, "apply", "-f", "-").code)
	res = srv.run(t, exportYAML, "apply", "-f", "-", "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "exportprofile/users-nightly unchanged (dry run)\ntemplate/users-report unchanged (dry run)\n", res.stdout)

	changed := strings.Replace(strings.Replace(exportYAML, "maxRows: 5000", "maxRows: 10", 1), "header: Born", "header: Birthday", 1)
	res = srv.run(t, changed, "apply", "-f", "-", "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "exportprofile/users-nightly would be updated (dry run)\ntemplate/users-report would be updated (dry run)\n", res.stdout)
	require.Len(t, srv.exports.appliedProfiles, 1, "a dry run applies nothing")
}

func TestApplyExportKindsRejectsInvalidDocuments(t *testing.T) {
	const profile = "document 1 (exportprofile/users-nightly, line 1): "
	const template = "document 2 (template/users-report, line 22): "
	tests := []struct {
		name     string
		old, new string // replaced in exportYAML
		want     string
	}{
		{name: "unknown key", old: "quoteAll: true", new: "quote: true",
			want: profile + `spec.csv: unknown key "quote" (known keys: delimiter, quoteAll, lineEnding, encoding, bom)`},
		{name: "unknown column key", old: "dateFormat: DD/MM/YYYY", new: "format: DD/MM/YYYY",
			want: template + `spec.columns[2]: unknown key "format" (known keys: header, field, expr, crossReference, dateFormat, decimalSeparator, trueWord, falseWord)`},
		{name: "bad format", old: "format: csv", new: "format: xls",
			want: profile + `spec.format: unknown format "xls" (want one of: csv, xlsx, jsonl)`},
		{name: "format in capitals", old: "format: csv", new: "format: CSV",
			want: profile + `spec.format: unknown format "CSV"`},
		{name: "bad mode", old: "mode: incremental", new: "mode: delta",
			want: profile + `spec.mode: unknown mode "delta" (want one of: full, incremental)`},
		{name: "bad status", old: "status: active", new: "status: live",
			want: profile + `spec.status: unknown status "live" (want one of: draft, active)`},
		{name: "bad deletions", old: "deletions: separate_file", new: "deletions: separate-file",
			want: profile + `spec.deletions: unknown value "separate-file" (want one of: omit, tombstones, separate_file)`},
		{name: "bad unencodable", old: "unencodable: replace", new: "unencodable: skip",
			want: profile + `spec.unencodable: unknown value "skip" (want one of: fail, replace)`},
		{name: "bad line ending", old: "lineEnding: lf", new: "lineEnding: cr",
			want: profile + `spec.csv.lineEnding: unknown line ending "cr" (want one of: crlf, lf)`},
		{name: "long delimiter", old: `delimiter: ";"`, new: `delimiter: ";;"`,
			want: profile + `spec.csv.delimiter: ";;" is not a valid delimiter`},
		{name: "negative maxRows", old: "maxRows: 5000", new: "maxRows: -1",
			want: profile + "spec.maxRows: must not be negative"},
		{name: "maxRows not a number", old: "maxRows: 5000", new: "maxRows: lots",
			want: profile + `spec.maxRows: want a whole number, got "lots"`},
		{name: "sort without field", old: "{field: id}", new: "{descending: true}",
			want: profile + "spec.sort[1].field: missing"},
		{name: "missing dataset", old: "  dataset: users\n", new: "",
			want: profile + "spec.dataset: missing"},
		{name: "field and expr", old: "{header: ID, field: id}", new: "{header: ID, field: id, expr: fields.id}",
			want: template + "spec.columns[0].expr: give field or expr, not both"},
		{name: "neither field nor expr", old: "{header: ID, field: id}", new: "{header: ID}",
			want: template + "spec.columns[0]: give field or expr"},
		{name: "missing header", old: "{header: ID, field: id}", new: "{field: id}",
			want: template + "spec.columns[0].header: missing"},
		{name: "duplicate header", old: "header: Born", new: "header: ID",
			want: template + `spec.columns[2].header: "ID" is also the header of spec.columns[0]`},
		{name: "bad field name", old: "field: group_id", new: "field: Group",
			want: template + `spec.columns[5].field: "Group" is not a valid field name`},
		{name: "no columns", old: "spec:\n  columns:\n    - {header: ID, field: id}\n    - header: E-mail\n      expr: 'lower(fields.email)'\n    - {header: Born, field: born, dateFormat: DD/MM/YYYY}\n    - {header: Score, field: score, decimalSeparator: \",\"}\n    - {header: Active, field: active, trueWord: ja, falseWord: nein}\n    - {header: Group, field: group_id, crossReference: groups}\n",
			new: "spec: {columns: []}\n", want: template + "spec.columns: missing: a template needs at least one column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t)
			content := strings.Replace(exportYAML, tt.old, tt.new, 1)
			require.NotEqual(t, exportYAML, content)
			res := srv.run(t, content, "apply", "-f", "-")
			require.Equal(t, 1, res.code)
			require.Contains(t, res.stderr, "ferry: <stdin>: "+tt.want)
			require.Contains(t, res.stderr, "nothing was applied\n")
			require.Empty(t, res.stdout)
			require.Empty(t, srv.methods(), "nothing may be applied")
		})
	}
}

func TestGetExportKinds(t *testing.T) {
	srv := startServer(t)
	require.Equal(t, 0, srv.run(t, exportYAML+"---\n"+usersYAML, "apply", "-f", "-").code)
	require.Equal(t, 0, srv.run(t, "apiVersion: ferry.dev/v1\nkind: ExportProfile\nmetadata: {name: orphan}\nspec: {dataset: nowhere, template: nothing}\n", "apply", "-f", "-").code)

	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"get", "templates"}, want: `
NAME           COLUMNS   VERSION   UPDATED
users-report   6         1         2026-03-04T05:06:07Z
`},
		{args: []string{"get", "template", "users-report"}, want: `
NAME           COLUMNS   VERSION   UPDATED
users-report   6         1         2026-03-04T05:06:07Z
`},
		{args: []string{"get", "exports"}, want: `
NAME            DATASET   FORMAT   MODE          STATUS   VALID   VERSION   NEXT RUN
orphan          nowhere   -        -             -        no      1         -
users-nightly   users     csv      incremental   active   yes     1         -
`},
		{args: []string{"get", "exportprofile", "users-nightly"}, want: `
NAME            DATASET   FORMAT   MODE          STATUS   VALID   VERSION   NEXT RUN
users-nightly   users     csv      incremental   active   yes     1         -
`},
		{args: []string{"get", "export", "orphan", "--version", "1"}, want: `
NAME     DATASET   FORMAT   MODE   STATUS   VALID   VERSION   NEXT RUN
orphan   nowhere   -        -      -        no      1         -
invalid: dataset nowhere does not exist; template nothing does not exist
`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := srv.run(t, "", tt.args...)
			require.Equal(t, 0, res.code, res.stderr)
			require.Equal(t, strings.TrimPrefix(tt.want, "\n"), res.stdout)
		})
	}

	res := srv.run(t, "", "get", "exportprofiles", "-o", "json")
	require.Equal(t, 0, res.code, res.stderr)
	var list ferryv1.ListExportProfilesResponse
	require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &list))
	requireProtos(t, []*ferryv1.ExportProfile{srv.exports.profiles["orphan"], srv.exports.profiles["users-nightly"]}, list.GetProfiles())

	res = srv.run(t, "", "get", "template", "users-report", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, `apiVersion: ferry.dev/v1
kind: Template
metadata:
  name: users-report
spec:
  columns:
  - field: id
    header: ID
  - expr: lower(fields.email)
    header: E-mail
  - dateFormat: DD/MM/YYYY
    field: born
    header: Born
  - decimalSeparator: ','
    field: score
    header: Score
  - falseWord: nein
    field: active
    header: Active
    trueWord: ja
  - crossReference: groups
    field: group_id
    header: Group
`, res.stdout)

	res = srv.run(t, "", "get", "templates", "nope")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: get template nope: template nope not found\n", res.stderr)

	empty := startServer(t)
	res = empty.run(t, "", "get", "exports")
	require.Equal(t, 0, res.code, res.stderr)
	require.Empty(t, res.stdout)
	require.Equal(t, "No export profiles found.\n", res.stderr)
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// exportRun is run exp-1 of users-nightly ended with files.
func exportRun(st ferryv1.RunStatus, outputs ...*ferryv1.RunOutput) *ferryv1.Run {
	return &ferryv1.Run{Id: "exp-1", Profile: "users-nightly", ProfileVersion: 1, Dataset: "users", Kind: ferryv1.RunKind_RUN_KIND_EXPORT,
		Trigger: ferryv1.RunTrigger_RUN_TRIGGER_MANUAL, Status: st, Outputs: outputs,
		CreateTime: at(30), StartTime: at(30), EndTime: at(31)}
}

// seedExport stores the profile users-nightly and what watching its run shows.
func seedExport(t testing.TB, srv *fakeServer, final *ferryv1.Run) {
	t.Helper()
	require.Equal(t, 0, srv.run(t, exportYAML+"---\n"+usersYAML, "apply", "-f", "-").code)
	srv.runs.watch["exp-1"] = []*ferryv1.Run{
		{Id: "exp-1", Kind: ferryv1.RunKind_RUN_KIND_EXPORT, Status: ferryv1.RunStatus_RUN_STATUS_QUEUED},
		{Id: "exp-1", Kind: ferryv1.RunKind_RUN_KIND_EXPORT, Status: ferryv1.RunStatus_RUN_STATUS_RUNNING},
		final,
	}
	srv.runs.runs["exp-1"] = final
}

const exportedCSV = "id;email\r\n1;a@example.com\r\n2;b@example.com\r\n"

func TestExportWaitOut(t *testing.T) {
	srv := startServer(t)
	out := &ferryv1.RunOutput{Name: "users-2026-03-04.csv", Size: int64(len(exportedCSV)), Sha256: sha(exportedCSV), Rows: 2, ContentType: "text/csv", Role: "rows"}
	seedExport(t, srv, exportRun(ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, out))
	sent, release := make(chan struct{}), make(chan struct{})
	srv.exports.outputs["exp-1"] = []fakeOutput{{name: out.Name, parts: []string{exportedCSV[:10], exportedCSV[10:]}, sent: sent, release: release}}
	dest := filepath.Join(t.TempDir(), "users.csv")
	require.NoError(t, os.WriteFile(dest, []byte("yesterday's file\n"), 0o600))

	done := make(chan result, 1)
	go func() {
		done <- runCLI(t, "", "export", "users-nightly", "--wait", "--out", dest, "--addr", srv.addr, "--api-key", testKey)
	}()
	// Half the file has arrived: it is in FILE.part, and FILE is the old one.
	<-sent
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(dest + ".part")
		return err == nil && string(b) == exportedCSV[:10]
	}, 5e9, 1e7)
	old, err := os.ReadFile(dest)
	require.NoError(t, err)
	require.Equal(t, "yesterday's file\n", string(old))
	close(release)

	res := <-done
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "exp-1\nrun exp-1 succeeded in 1m0s\nexported 2 rows in 1 file\n"+
		"NAME                   ROLE   ROWS   SIZE   SHA-256\n"+
		"users-2026-03-04.csv   rows   2      "+count(out.Size)+"     "+out.Sha256+"\n"+
		"wrote "+dest+" ("+count(out.Size)+" bytes, sha256 "+out.Sha256+")\n", res.stdout)
	require.Equal(t, "run exp-1 queued\nrun exp-1 running\n", res.stderr)
	got, err := os.ReadFile(dest)
	require.NoError(t, err)
	require.Equal(t, exportedCSV, string(got))
	require.NoFileExists(t, dest+".part")
	require.Equal(t, []string{"users-nightly"}, srv.exports.started)
	requireProtos(t, []*ferryv1.DownloadOutputRequest{{Run: "exp-1", Output: out.Name}}, srv.exports.downloadReqs)
	srv.requireAuth(t, testKey)
}

func TestExportOutStdout(t *testing.T) {
	srv := startServer(t)
	out := &ferryv1.RunOutput{Name: "users.csv", Size: int64(len(exportedCSV)), Sha256: sha(exportedCSV), Rows: 2}
	seedExport(t, srv, exportRun(ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, out))
	srv.exports.outputs["exp-1"] = []fakeOutput{{name: out.Name, parts: []string{exportedCSV}}}

	// --out implies --wait, and with "-" stdout holds only the file.
	res := srv.run(t, "", "export", "users-nightly", "--out", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, exportedCSV, res.stdout)
	require.True(t, strings.HasPrefix(res.stderr, "exp-1\nrun exp-1 queued\n"), res.stderr)
	require.Contains(t, res.stderr, "exported 2 rows in 1 file\n")
}

func TestExportFailures(t *testing.T) {
	good := &ferryv1.RunOutput{Name: "users.csv", Size: int64(len(exportedCSV)), Sha256: sha(exportedCSV), Rows: 2}
	tests := []struct {
		name    string
		final   *ferryv1.Run
		output  fakeOutput
		code    int
		stdout  string
		stderr  string
		request bool // whether the file was asked for
	}{
		{name: "run failed", final: func() *ferryv1.Run {
			r := exportRun(ferryv1.RunStatus_RUN_STATUS_FAILED)
			r.Error = `field "born" does not exist`
			return r
		}(), code: 1, stdout: "exp-1\nrun exp-1 failed in 1m0s\n", stderr: "ferry: run exp-1 failed: field \"born\" does not exist\n"},
		{name: "no file", final: exportRun(ferryv1.RunStatus_RUN_STATUS_SUCCEEDED), code: 1,
			stdout: "exp-1\nrun exp-1 succeeded in 1m0s\nexported 0 rows in 0 files\n", stderr: "ferry: export users-nightly: run exp-1 wrote no file\n"},
		{name: "stream breaks", final: exportRun(ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, good),
			output: fakeOutput{name: good.Name, parts: []string{exportedCSV[:5], exportedCSV[5:]}, fail: true}, code: 1, request: true,
			stderr: "ferry: download users.csv of run exp-1: read output: unexpected EOF\n"},
		{name: "checksum differs", final: exportRun(ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, good),
			output: fakeOutput{name: good.Name, parts: []string{strings.ToUpper(exportedCSV)}}, code: 1, request: true,
			stderr: "ferry: download users.csv of run exp-1: the bytes received have SHA-256 " + sha(strings.ToUpper(exportedCSV)) + ", the run recorded " + good.Sha256 + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t)
			seedExport(t, srv, tt.final)
			if tt.output.name != "" {
				srv.exports.outputs["exp-1"] = []fakeOutput{tt.output}
			}
			dest := filepath.Join(t.TempDir(), "users.csv")
			require.NoError(t, os.WriteFile(dest, []byte("yesterday's file\n"), 0o600))

			res := srv.run(t, "", "export", "users-nightly", "--out", dest)
			require.Equal(t, tt.code, res.code, res.stderr)
			require.True(t, strings.HasPrefix(res.stdout, tt.stdout), res.stdout)
			require.True(t, strings.HasSuffix(res.stderr, tt.stderr), res.stderr)
			require.Equal(t, tt.request, len(srv.exports.downloadReqs) == 1)
			// The file is as it was, and no part of the new one is left.
			got, err := os.ReadFile(dest)
			require.NoError(t, err)
			require.Equal(t, "yesterday's file\n", string(got))
			require.NoFileExists(t, dest+".part")
		})
	}

	// An invalid profile does not start.
	srv := startServer(t)
	require.Equal(t, 0, srv.run(t, "apiVersion: ferry.dev/v1\nkind: ExportProfile\nmetadata: {name: orphan}\nspec: {dataset: nowhere}\n", "apply", "-f", "-").code)
	res := srv.run(t, "", "export", "orphan", "--wait")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: start export orphan: export profile orphan is invalid: dataset nowhere does not exist\n", res.stderr)
	require.Empty(t, res.stdout)

	// Without --wait only the id is printed.
	srv = startServer(t)
	seedExport(t, srv, exportRun(ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, good))
	res = srv.run(t, "", "export", "users-nightly")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "exp-1\n", res.stdout)
	require.NotContains(t, srv.methods(), "WatchRun")
}

func TestRunsDownload(t *testing.T) {
	srv := startServer(t)
	rows := &ferryv1.RunOutput{Name: "users-2026-03-04.csv", Size: int64(len(exportedCSV)), Sha256: sha(exportedCSV), Rows: 2, Role: "rows"}
	deleted := &ferryv1.RunOutput{Name: "users-deleted.csv", Size: 6, Sha256: sha("id\r\n7\r\n"), Rows: 1, Role: "deleted"}
	srv.runs.runs["exp-1"] = exportRun(ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, rows, deleted)
	srv.exports.outputs["exp-1"] = []fakeOutput{
		{name: rows.Name, parts: []string{exportedCSV[:7], exportedCSV[7:]}},
		{name: deleted.Name, parts: []string{"id\r\n7\r\n"}},
	}
	dir := t.TempDir()
	t.Chdir(dir)

	// The server's file name, in the current directory.
	res := srv.run(t, "", "runs", "download", "exp-1")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "wrote users-2026-03-04.csv ("+count(rows.Size)+" bytes, sha256 "+rows.Sha256+")\n", res.stdout)
	got, err := os.ReadFile(filepath.Join(dir, rows.Name))
	require.NoError(t, err)
	require.Equal(t, exportedCSV, string(got))
	require.NoFileExists(t, filepath.Join(dir, rows.Name+".part"))

	// An existing file is kept unless --force.
	require.NoError(t, os.WriteFile(rows.Name, []byte("mine\n"), 0o600))
	res = srv.run(t, "", "runs", "download", "exp-1")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: download users-2026-03-04.csv of run exp-1: users-2026-03-04.csv exists; --force overwrites it\n", res.stderr)
	got, err = os.ReadFile(rows.Name)
	require.NoError(t, err)
	require.Equal(t, "mine\n", string(got))
	require.NoFileExists(t, rows.Name+".part")

	res = srv.run(t, "", "runs", "download", "exp-1", "--force")
	require.Equal(t, 0, res.code, res.stderr)
	got, err = os.ReadFile(rows.Name)
	require.NoError(t, err)
	require.Equal(t, exportedCSV, string(got))

	// One file by name, to a path of one's choice or to stdout.
	res = srv.run(t, "", "runs", "download", "exp-1", "--output", deleted.Name, "--out", "gone.csv")
	require.Equal(t, 0, res.code, res.stderr)
	got, err = os.ReadFile("gone.csv")
	require.NoError(t, err)
	require.Equal(t, "id\r\n7\r\n", string(got))
	res = srv.run(t, "", "runs", "download", "exp-1", "--output", deleted.Name, "--out", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "id\r\n7\r\n", res.stdout)
	require.Equal(t, "users-deleted.csv", srv.exports.downloadReqs[len(srv.exports.downloadReqs)-1].GetOutput())

	res = srv.run(t, "", "runs", "download", "exp-1", "--output", "nope.csv", "--out", "-")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: download nope.csv of run exp-1: run exp-1 has no file nope.csv\n", res.stderr)

	// A file name from the server never leaves the current directory.
	srv.exports.outputs["exp-1"] = []fakeOutput{{name: "../escape.csv", parts: []string{"x"}}}
	res = srv.run(t, "", "runs", "download", "exp-1", "--output", "../escape.csv")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: download ../escape.csv of run exp-1: the server's file name \"../escape.csv\" cannot be used here; name the file with --out\n", res.stderr)
	require.NoFileExists(t, filepath.Join(filepath.Dir(dir), "escape.csv"))

	res = srv.run(t, "", "runs", "download", "r9")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: get run r9: run r9 not found\n", res.stderr)
}

func TestRunsGetExport(t *testing.T) {
	srv := startServer(t)
	srv.runs.runs["exp-1"] = exportRun(ferryv1.RunStatus_RUN_STATUS_SUCCEEDED,
		&ferryv1.RunOutput{Name: "added.csv", Size: 2048, Sha256: "aa11", Rows: 10, Role: "added"},
		&ferryv1.RunOutput{Name: "removed.csv", Size: 12, Sha256: "bb22", Rows: 1, Role: "removed"})
	res := srv.run(t, "", "runs", "get", "exp-1")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, `ID:        exp-1
Kind:      export
Profile:   users-nightly (version 1)
Dataset:   users
Trigger:   manual
Status:    succeeded
Created:   2026-03-04T05:30:00Z
Started:   2026-03-04T05:30:00Z
Ended:     2026-03-04T05:31:00Z
Duration:  1m0s
Rows:      11
Outputs:   2 files
NAME          ROLE      ROWS   SIZE   SHA-256
added.csv     added     10     2048   aa11
removed.csv   removed   1      12     bb22
`, res.stdout)
}

func TestShare(t *testing.T) {
	srv := startServer(t)
	srv.exports.outputs["exp-1"] = []fakeOutput{{name: "users.csv", parts: []string{exportedCSV}}}

	res := srv.run(t, "", "share", "exp-1", "--ttl", "24h")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "token    tok1\npath     /v1/downloads/tok1\nexpires  2026-03-05T05:06:07Z\n", res.stdout)

	res = srv.run(t, "", "share", "--profile", "users-nightly", "--output", "users-deleted.csv")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "token    tok2\npath     /v1/downloads/tok2\nexpires  2026-03-11T05:06:07Z\n", res.stdout)

	// A part of a second counts as a whole one.
	res = srv.run(t, "", "share", "exp-1", "--ttl", "1.5s")
	require.Equal(t, 0, res.code, res.stderr)
	requireProtos(t, []*ferryv1.CreateShareLinkRequest{
		{Run: "exp-1", TtlSeconds: 86400},
		{Profile: "users-nightly", Output: "users-deleted.csv"},
		{Run: "exp-1", TtlSeconds: 2},
	}, srv.exports.shareReqs)

	res = srv.run(t, "", "share", "r9")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: share run r9: run r9 has no files\n", res.stderr)

	res = srv.run(t, "", "share", "revoke", "tok1")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "share link revoked\n", res.stdout)
	require.Equal(t, []string{"tok1"}, srv.exports.revoked)
	res = srv.run(t, "", "share", "revoke", "tok1")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: revoke share link: share link not found\n", res.stderr)
	srv.requireAuth(t, testKey)
}

func TestExportUsageErrors(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"export"}, want: "usage: ferry export PROFILE"},
		{args: []string{"export", "a", "b"}, want: "usage: ferry export PROFILE"},
		{args: []string{"export", "a", "--out"}, want: "flag --out needs a value"},
		{args: []string{"runs", "download"}, want: "usage: ferry runs download RUN"},
		{args: []string{"share"}, want: "share needs a RUN or --profile PROFILE"},
		{args: []string{"share", "r1", "--profile", "p"}, want: "give a RUN or --profile PROFILE, not both"},
		{args: []string{"share", "r1", "--ttl", "-1h"}, want: "--ttl must be positive, got -1h0m0s"},
		{args: []string{"share", "r1", "--ttl", "10ms"}, want: "--ttl must be at least 1s, got 10ms"},
		{args: []string{"share", "r1", "--ttl", "tomorrow"}, want: `invalid value "tomorrow" for flag -ttl`},
		{args: []string{"share", "revoke"}, want: "usage: ferry share revoke TOKEN"},
		{args: []string{"get", "templates", "a", "b"}, want: "usage: ferry get"},
		{args: []string{"get", "templates", "t", "--version", "2"}, want: "--version applies to one profile: get profiles|exports NAME --version N"},
		{args: []string{"get", "exports", "--status", "failed"}, want: "--status apply to runs only"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := runCLI(t, "", append([]string{"--addr", srv.addr, "--api-key", testKey}, tt.args...)...)
			require.Equal(t, 2, res.code, res.stderr)
			require.Contains(t, res.stderr, "ferry: "+tt.want)
			require.Contains(t, res.stderr, `Run "ferry help`)
			require.Empty(t, res.stdout)
		})
	}
	require.Empty(t, srv.methods(), "a usage error must not reach the server")
}
