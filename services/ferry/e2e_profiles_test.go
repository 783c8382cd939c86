package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/testkit"
)

// profileResources are a dataset, a cross-reference table and profiles that
// use expressions, formats, rules, cross-references and write modes.
const profileResources = `apiVersion: ferry.dev/v1
kind: Dataset
metadata: {name: pupils}
spec:
  fields:
    - {name: id, type: string}
    - {name: name, type: string, required: true}
    - {name: grade, type: integer}
    - {name: born, type: date}
    - {name: email, type: string}
  key: [id]
---
apiVersion: ferry.dev/v1
kind: CrossReference
metadata: {name: grades}
spec:
  entries:
    - {external: "Gr 9", internal: "9"}
    - {external: "Gr 10", internal: "10"}
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: pupils-sis}
spec:
  dataset: pupils
  headerMatch: normalized
  csv: {delimiter: ";"}
  mappings:
    - {field: id, column: "Pupil ID", rules: {unique: true}}
    - {field: name, expr: 'concat(trim(row["First"]), " ", upper(trim(row["Last"])))'}
    - {field: grade, column: Grade, crossReference: {table: grades, unknown: hold}}
    - {field: born, column: DOB, dateFormats: ["DD/MM/YYYY"]}
    - {field: email, column: E-mail, rules: {pattern: "[^@ ]+@[^@ ]+"}}
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: pupils-mirror}
spec:
  dataset: pupils
  headerMatch: normalized
  csv: {delimiter: ";"}
  writeMode: mirror
  mirror: {maxChangePercent: 30}
  errorPolicy: {maxRejectedPercent: 10}
  mappings:
    - {field: id, column: "Pupil ID"}
    - {field: name, expr: 'concat(trim(row["First"]), " ", upper(trim(row["Last"])))'}
    - {field: grade, column: Grade, crossReference: {table: grades, unknown: pass_through}}
    - {field: born, column: DOB, dateFormats: ["DD/MM/YYYY"]}
    - {field: email, column: E-mail}
`

const pupilsHeader = "pupil_id;first;last;grade;dob;e-mail\n"

// queryStrings returns the first column of a query's rows.
func queryStrings(t *testing.T, dbURL, sql string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

func tempFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func pupils(t *testing.T, db string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range queryStrings(t, db, `SELECT id || '|' || name || '|' || coalesce(grade::text, '-') || '|' || coalesce(born::text, '-') || '|' || coalesce(email, '-')
		FROM tenant_default.pupils WHERE _ferry_deleted_at IS NULL`) {
		out[strings.SplitN(r, "|", 2)[0]] = r
	}
	return out
}

func startProfilesServer(t *testing.T) (*proc, *client, string) {
	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir())
	c := dial(t, srv.GRPCAddr, srv.Key)
	out, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", tempFile(t, "r.yaml", profileResources))
	require.Zero(t, code, errOut)
	require.Contains(t, out, "importprofile/pupils-sis created")
	return srv, c, db
}

// TestRejectFileRoundTrip imports a file with bad rows, downloads the reject
// report, fixes it, and imports the report through the same profile: every
// row ends up in the dataset.
func TestRejectFileRoundTrip(t *testing.T) {
	srv, c, db := startProfilesServer(t)
	file := pupilsHeader +
		"p1; ann ;lee;Gr 9;03/04/2011;ann@example.org\n" +
		"p2;Bo;Kim;Gr 10;31/02/2011;bo@example.org\n" + // no 31 February
		"p3;Cy;Ng;Gr 9;01/12/2010;cy at example.org\n" + // not an e-mail
		"p4;\"Di; \"\"D\"\"\";Ode;Gr 10;15/06/2011;di@example.org\n" +
		"p1;Ann;Lee;Gr 9;03/04/2011;again@example.org\n" // p1 twice: unique
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "pupils-sis", tempFile(t, "pupils.csv", file))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS, run.GetStatus(), run.GetError())
	requireCounts(t, run, 5, 2, 0, 0, 3)
	require.Equal(t, map[string]string{
		"p1": "p1|ann LEE|9|2011-04-03|ann@example.org",
		"p4": `p4|Di; "D" ODE|10|2011-06-15|di@example.org`,
	}, pupils(t, db))

	report, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "runs", "rejects", run.GetId())
	require.Zero(t, code, errOut)
	require.Equal(t, "\ufeffpupil_id;first;last;grade;dob;e-mail;_row;_column;_value;_error\r\n"+
		"p2;Bo;Kim;Gr 10;31/02/2011;bo@example.org;3;dob;31/02/2011;\"\"\"31/02/2011\"\" is not a valid date: February 2011 has 28 days\"\r\n"+
		"p3;Cy;Ng;Gr 9;01/12/2010;cy at example.org;4;e-mail;cy at example.org;does not match the pattern [^@ ]+@[^@ ]+\r\n"+
		"p1;Ann;Lee;Gr 9;03/04/2011;again@example.org;6;pupil_id;p1;\"the value is also in row 2; id must be unique in the file\"\r\n", report)

	// The JSON form carries the same, with the rule.
	rejects, err := c.Runs.ListRunRejects(c.ctx(t), &ferryv1.ListRunRejectsRequest{Id: run.GetId()})
	require.NoError(t, err)
	require.Len(t, rejects.GetRejects(), 3)
	require.Equal(t, []string{"type", "pattern", "unique"}, []string{rejects.GetRejects()[0].GetRule(), rejects.GetRejects()[1].GetRule(), rejects.GetRejects()[2].GetRule()})
	require.Equal(t, []string{"p3", "Cy", "Ng", "Gr 9", "01/12/2010", "cy at example.org"}, rejects.GetRejects()[1].GetRecord())

	// Fix the two bad rows, drop the duplicate, and import the report as it is.
	fixed := strings.Replace(report, "31/02/2011;bo@", "28/02/2011;bo@", 1)
	fixed = strings.Replace(fixed, ";cy at example.org;4", ";cy@example.org;4", 1)
	fixed = fixed[:strings.LastIndex(strings.TrimSuffix(fixed, "\r\n"), "\r\n")+2]
	again := importFile(t, c, srv.GRPCAddr, srv.Key, "pupils-sis", tempFile(t, "rejects.csv", fixed))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, again.GetStatus(), again.GetError())
	requireCounts(t, again, 2, 2, 0, 0, 0)
	require.Equal(t, map[string]string{
		"p1": "p1|ann LEE|9|2011-04-03|ann@example.org",
		"p2": "p2|Bo KIM|10|2011-02-28|bo@example.org",
		"p3": "p3|Cy NG|9|2010-12-01|cy@example.org",
		"p4": `p4|Di; "D" ODE|10|2011-06-15|di@example.org`,
	}, pupils(t, db))
}

// TestHeldRowsReappliedAfterCrossReference holds a row whose grade the
// cross-reference table lacks, adds the entry, and re-applies the row; the
// table translates in both directions.
func TestHeldRowsReappliedAfterCrossReference(t *testing.T) {
	srv, c, db := startProfilesServer(t)
	file := pupilsHeader + "p1;Ann;Lee;Gr 9;03/04/2011;a@x.org\np2;Bo;Kim;Gr 12;04/05/2011;b@x.org\n"
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "pupils-sis", tempFile(t, "pupils.csv", file))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS, run.GetStatus())
	require.EqualValues(t, 1, run.GetCounts().GetHeld())
	require.EqualValues(t, 1, run.GetCounts().GetInserted())
	out, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "runs", "held", run.GetId())
	require.Zero(t, code, errOut)
	require.Contains(t, out, "3     grade    Gr 12   grades   -\n")

	_, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "xref", "load", "grades", tempFile(t, "g.csv", "external,internal\nGr 12,12\n"))
	require.Zero(t, code, errOut)
	out, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "runs", "reapply", run.GetId(), "--wait")
	require.Zero(t, code, errOut)
	child := c.waitRun(t, strings.SplitN(out, "\n", 2)[0], time.Minute)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, child.GetStatus(), child.GetError())
	require.Equal(t, run.GetId(), child.GetParentRun())
	requireCounts(t, child, 1, 1, 0, 0, 0)
	require.Equal(t, "p2|Bo KIM|12|2011-05-04|b@x.org", pupils(t, db)["p2"])
	_, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "runs", "reapply", run.GetId())
	require.NotZero(t, code)
	require.Contains(t, errOut, "no held rows left")

	out, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "xref", "lookup", "grades", "Gr 12")
	require.Zero(t, code, errOut)
	require.Contains(t, out, "12")
	out, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "xref", "lookup", "grades", "--reverse", "10")
	require.Zero(t, code, errOut)
	require.Contains(t, out, "Gr 10")
}

// TestMirrorGuardDryRunAndApproval: a dry run shows what a mirror file would
// do and writes nothing; the real run waits for approval with nothing
// applied; approved, it applies.
func TestMirrorGuardDryRunAndApproval(t *testing.T) {
	srv, c, db := startProfilesServer(t)
	var full strings.Builder
	full.WriteString(pupilsHeader)
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		full.WriteString(id + ";N;M;Gr 9;01/01/2011;" + id + "@x.org\n")
	}
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "pupils-sis", tempFile(t, "all.csv", full.String()))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Len(t, pupils(t, db), 10)

	half := pupilsHeader + "a;N;M;Gr 9;01/01/2011;a@x.org\nb;N;M;Gr 10;01/01/2011;b@x.org\nk;N;M;Gr 9;01/01/2011;k@x.org\n"
	path := tempFile(t, "half.csv", half)
	out, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "import", "pupils-mirror", path, "--dry-run", "--preview-rows", "2")
	require.Zero(t, code, errOut)
	require.Contains(t, out, "read 3, inserted 1, updated 1, unchanged 1, superseded 0, rejected 0\n")
	require.Contains(t, out, "deleted 8, held 0\n")
	require.Contains(t, out, "dry run: nothing was written\n")
	require.Contains(t, out, "note: a real run would be held for approval: the run would delete 8 and update 1 of 10 rows (90.0%)")
	require.Contains(t, out, "ROW   ACTION      BORN         EMAIL     GRADE   ID   NAME\n2     unchanged   2011-01-01   a@x.org   9       a    N M\n3     update      2011-01-01   b@x.org   10      b    N M\n")
	require.Len(t, pupils(t, db), 10, "the dry run wrote nothing")

	out, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "import", "pupils-mirror", path, "--wait")
	require.Equal(t, 3, code, "a held run exits 3: %s %s", out, errOut)
	require.Contains(t, errOut, "awaits approval")
	id := strings.SplitN(out, "\n", 2)[0]
	held := c.run(t, id)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_AWAITING_APPROVAL, held.GetStatus())
	require.Contains(t, held.GetNote(), "would delete 8 and update 1 of 10 rows")
	require.Len(t, pupils(t, db), 10, "nothing applied while waiting")

	out, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "runs", "approve", id)
	require.Zero(t, code, errOut)
	require.Contains(t, out, "approved")
	done := c.waitRun(t, id, time.Minute)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, done.GetStatus(), done.GetError())
	require.EqualValues(t, 8, done.GetCounts().GetDeleted())
	got := pupils(t, db)
	require.Len(t, got, 3)
	require.Equal(t, "b|N M|10|2011-01-01|b@x.org", got["b"])
	require.Equal(t, "8", queryStrings(t, db, `SELECT count(*)::text FROM tenant_default.pupils WHERE _ferry_deleted_at IS NOT NULL`)[0])
}

// TestErrorPolicyFailsTheWholeRun: over its reject limit a run fails and
// applies nothing at all, though most rows were fine.
func TestErrorPolicyFailsTheWholeRun(t *testing.T) {
	srv, c, db := startProfilesServer(t)
	var file strings.Builder
	file.WriteString(pupilsHeader)
	for i, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		dob := "01/01/2011"
		if i < 1 {
			dob = "2011-01-01" // not DD/MM/YYYY: 1 of 8 is 12.5%, over the 10% allowed
		}
		file.WriteString(id + ";N;M;Gr 9;" + dob + ";" + id + "@x.org\n")
	}
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "pupils-mirror", tempFile(t, "p.csv", file.String()))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_FAILED, run.GetStatus())
	require.Contains(t, run.GetError(), "1 of 8 rows (12.5%) were rejected; the profile allows at most 10%, so nothing was applied")
	require.Empty(t, pupils(t, db))
	out, _, code := runCLI(t, srv.GRPCAddr, srv.Key, "runs", "rejects", run.GetId(), "--csv")
	require.Zero(t, code)
	require.Contains(t, out, "2,dob,2011-01-01,")
}

// TestApplyDryRunAndVersions: apply --dry-run checks a profile on the server
// without saving it; every change makes a version that can be fetched.
func TestApplyDryRunAndVersions(t *testing.T) {
	srv, c, _ := startProfilesServer(t)
	changed := strings.Replace(profileResources, `rules: {pattern: "[^@ ]+@[^@ ]+"}`, `rules: {maxLength: 40}`, 1)
	out, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "--dry-run", "-f", tempFile(t, "c.yaml", changed))
	require.Zero(t, code, errOut)
	require.Contains(t, out, "importprofile/pupils-sis would be updated (dry run)")
	require.Contains(t, out, "importprofile/pupils-mirror unchanged (dry run)")
	p, err := c.IP.GetImportProfile(c.ctx(t), &ferryv1.GetImportProfileRequest{Name: "pupils-sis"})
	require.NoError(t, err)
	require.EqualValues(t, 1, p.GetProfile().GetVersion(), "nothing saved")

	bad := strings.Replace(profileResources, `upper(trim(row["Last"]))`, `uper(row["Last"])`, 1)
	_, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "apply", "--dry-run", "-f", tempFile(t, "b.yaml", bad))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `field "name": expression line 1, column 33: undeclared reference to 'uper'`)

	_, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", tempFile(t, "c.yaml", changed))
	require.Zero(t, code, errOut)
	versions, err := c.IP.ListImportProfileVersions(c.ctx(t), &ferryv1.ListImportProfileVersionsRequest{Name: "pupils-sis"})
	require.NoError(t, err)
	require.Len(t, versions.GetVersions(), 2)
	require.EqualValues(t, 2, versions.GetVersions()[0].GetVersion())
	require.Equal(t, `[^@ ]+@[^@ ]+`, versions.GetVersions()[1].GetSpec().GetMappings()[4].GetRules().GetPattern())
	out, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "get", "profiles", "pupils-sis", "--version", "1", "-o", "yaml")
	require.Zero(t, code, errOut)
	require.Contains(t, out, "pattern: '[^@ ]+@[^@ ]+'")
	out, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "get", "profiles", "pupils-sis", "-o", "yaml")
	require.Zero(t, code, errOut)
	require.Contains(t, out, "maxLength: 40")
}

// TestDocumentedProfile applies the example of docs/import-profiles.md and
// imports a file through it, so the documentation stays true.
func TestDocumentedProfile(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "import-profiles.md"))
	require.NoError(t, err)
	text := string(doc)
	start := strings.Index(text, "```yaml\n") + len("```yaml\n")
	yaml := text[start : start+strings.Index(text[start:], "```")]
	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir())
	c := dial(t, srv.GRPCAddr, srv.Key)
	out, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", tempFile(t, "doc.yaml", yaml))
	require.Zero(t, code, errOut)
	require.Contains(t, out, "importprofile/students-sis created")
	file := "student_id,First Name,Last Name,Grade,DOB,Balance,Enrolled,E-mail,Joined,Left\n" +
		"S000001, Ann ,Lee,Gr 9,03/04/2011,\"1.234,50\",ja,ann@example.org,01/09/2020,\n" +
		"S000002,Bo,Kim,Gr 12,04/05/2011,0,N,bo@example.org,01/09/2020,01/01/2020\n"
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "students-sis", tempFile(t, "s.csv", file))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS, run.GetStatus(), run.GetError())
	require.EqualValues(t, 1, run.GetCounts().GetInserted())
	require.EqualValues(t, 1, run.GetCounts().GetHeld(), "Gr 12 is not in the grades table")
	require.Equal(t, []string{"S000001|Ann Lee|9|2011-04-03|1234.50|t|US"},
		queryStrings(t, db, `SELECT concat_ws('|', id, full_name, grade, born, balance, active, country) FROM tenant_default.students`))
}

// TestWorkbookRejectReportRoundTrip: the reject report of a workbook profile
// is a workbook the same profile reads (sheet, header row); fixed, it
// imports every rejected row.
func TestWorkbookRejectReportRoundTrip(t *testing.T) {
	srv, c, db := startProfilesServer(t)
	const doc = `apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: pupils-xlsx}
spec:
  dataset: pupils
  format: xlsx
  spreadsheet: {sheet: Pupils, headerRow: 2}
  mappings:
    - {field: id, column: ID}
    - {field: name, column: Name}
    - {field: born, column: Born, dateFormats: ["DD/MM/YYYY"]}
`
	_, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", tempFile(t, "x.yaml", doc))
	require.Zero(t, code, errOut)
	f := excelize.NewFile()
	require.NoError(t, f.SetSheetName("Sheet1", "Pupils"))
	for i, r := range [][]any{{"Pupils of 2024"}, {"ID", "Name", "Born"}, {"007", "Ann", "03/04/2011"}, {"008", "Bo", "31/02/2011"}, {"009", "", "01/01/2011"}} {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		require.NoError(t, f.SetSheetRow("Pupils", cell, &r))
	}
	path := filepath.Join(t.TempDir(), "pupils.xlsx")
	require.NoError(t, f.SaveAs(path))
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "pupils-xlsx", path)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS, run.GetStatus(), run.GetError())
	requireCounts(t, run, 3, 1, 0, 0, 2)

	report, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "runs", "rejects", run.GetId())
	require.Zero(t, code, errOut)
	rf, err := excelize.OpenReader(strings.NewReader(report))
	require.NoError(t, err)
	rows, err := rf.GetRows("Pupils")
	require.NoError(t, err)
	require.Equal(t, [][]string{nil, {"ID", "Name", "Born", "_row", "_column", "_value", "_error"},
		{"008", "Bo", "31/02/2011", "4", "Born", "31/02/2011", `"31/02/2011" is not a valid date: February 2011 has 28 days`},
		{"009", "", "01/01/2011", "5", "Name", "", `required field "name" is empty`}}, rows)
	require.NoError(t, rf.SetCellStr("Pupils", "C3", "28/02/2011"))
	require.NoError(t, rf.SetCellStr("Pupils", "B4", "Cy"))
	fixed := filepath.Join(t.TempDir(), "fixed.xlsx")
	require.NoError(t, rf.SaveAs(fixed))
	again := importFile(t, c, srv.GRPCAddr, srv.Key, "pupils-xlsx", fixed)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, again.GetStatus(), again.GetError())
	requireCounts(t, again, 2, 2, 0, 0, 0)
	require.Equal(t, []string{"007|Ann|2011-04-03", "008|Bo|2011-02-28", "009|Cy|2011-01-01"},
		queryStrings(t, db, `SELECT concat_ws('|', id, name, born) FROM tenant_default.pupils ORDER BY id`))
}
