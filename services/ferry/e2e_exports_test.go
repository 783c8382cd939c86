package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/testkit"
)

// startExportServer starts a server with the students dataset and profile.
func startExportServer(t *testing.T) (*proc, *client, string) {
	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir())
	c := dial(t, srv.GRPCAddr, srv.Key)
	applyResources(t, srv.GRPCAddr, srv.Key)
	return srv, c, db
}

func (c *client) applyExport(t *testing.T, name string, spec *ferryv1.ExportProfileSpec) *ferryv1.ExportProfile {
	t.Helper()
	resp, err := c.Exp.ApplyExportProfile(c.ctx(t), &ferryv1.ApplyExportProfileRequest{Name: name, Spec: spec})
	require.NoError(t, err)
	return resp.GetProfile()
}

// export runs an export profile, waits for it, and returns the run and its
// files by role.
func (c *client) export(t *testing.T, name string) (*ferryv1.Run, map[string][]byte) {
	t.Helper()
	resp, err := c.Exp.StartExport(c.ctx(t), &ferryv1.StartExportRequest{Name: name})
	require.NoError(t, err)
	run := c.waitRun(t, resp.GetRun().GetId(), 5*time.Minute)
	files := map[string][]byte{}
	for _, o := range run.GetOutputs() {
		files[o.GetRole()] = c.download(t, run.GetId(), o.GetName())
	}
	return run, files
}

func (c *client) download(t *testing.T, run, output string) []byte {
	t.Helper()
	stream, err := c.Exp.DownloadOutput(c.ctx(t), &ferryv1.DownloadOutputRequest{Run: run, Output: output})
	require.NoError(t, err)
	var buf bytes.Buffer
	for {
		part, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return buf.Bytes()
		}
		require.NoError(t, err)
		buf.Write(part.GetData())
	}
}

var studentFields = []string{"student_id", "name", "email", "grade", "balance", "active", "born", "notes"}

// TestExportFormatsRoundTrip exports a dataset to CSV, XLSX and JSONL and
// reads every file back: each row equals the dataset's.
func TestExportFormatsRoundTrip(t *testing.T) {
	n := 20_000
	if !testing.Short() {
		n = 200_000
	}
	srv, c, db := startExportServer(t)
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, genStudents(n, 5)))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	want := readStudents(t, db, "tenant_default")

	c.applyExport(t, "all-csv", &ferryv1.ExportProfileSpec{Dataset: "students", FileName: "students_{date:2006-01-02}_{run}.csv"})
	exp, files := c.export(t, "all-csv")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, exp.GetStatus(), exp.GetError())
	require.Equal(t, ferryv1.RunKind_RUN_KIND_EXPORT, exp.GetKind())
	require.Equal(t, "ferry.v1", exp.GetApiVersion())
	require.Equal(t, "all-csv", exp.GetProfile())
	require.EqualValues(t, 1, exp.GetProfileVersion())
	require.Len(t, exp.GetOutputs(), 1)
	out := exp.GetOutputs()[0]
	require.Equal(t, "students_"+exp.GetCreateTime().AsTime().UTC().Format("2006-01-02")+"_"+exp.GetId()+".csv", out.GetName())
	require.EqualValues(t, n, out.GetRows())
	require.Equal(t, "csv", out.GetFormat())
	require.Equal(t, "text/csv; charset=utf-8", out.GetContentType())
	require.Len(t, out.GetSha256(), 64)
	history, err := c.Runs.ListRuns(c.ctx(t), &ferryv1.ListRunsRequest{Profile: "all-csv"})
	require.NoError(t, err)
	require.Len(t, history.GetRuns(), 1, "the history filters by profile")
	require.Equal(t, exp.GetId(), history.GetRuns()[0].GetId())
	require.EqualValues(t, len(files["rows"]), out.GetSize())
	records, err := csv.NewReader(bytes.NewReader(files["rows"])).ReadAll()
	require.NoError(t, err)
	require.Equal(t, studentFields, records[0])
	got := map[string]student{}
	for _, r := range records[1:] {
		var s student
		copy(s[:], r)
		got[s[0]] = s
	}
	// encoding/csv reads a CRLF inside a quoted field as LF.
	requireSameRows(t, want, got, func(s student) student { s[7] = strings.ReplaceAll(s[7], "\r\n", "\n"); return s })
	require.True(t, sort.SliceIsSorted(records[1:], func(i, j int) bool { return records[1+i][0] < records[1+j][0] }), "key order")

	c.applyExport(t, "all-jsonl", &ferryv1.ExportProfileSpec{Dataset: "students", Format: ferryv1.ExportFormat_EXPORT_FORMAT_JSONL})
	exp, files = c.export(t, "all-jsonl")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, exp.GetStatus(), exp.GetError())
	dec := json.NewDecoder(bytes.NewReader(files["rows"]))
	dec.UseNumber()
	got = map[string]student{}
	for dec.More() {
		var m map[string]any
		require.NoError(t, dec.Decode(&m))
		var s student
		for i, f := range studentFields {
			switch v := m[f].(type) {
			case nil:
			case string:
				s[i] = v
			case json.Number:
				s[i] = v.String()
			case bool:
				s[i] = strconv.FormatBool(v)
			}
		}
		got[s[0]] = s
	}
	requireSameRows(t, want, got, nil) // numbers exact, NULL as null

	c.applyExport(t, "all-xlsx", &ferryv1.ExportProfileSpec{Dataset: "students", Format: ferryv1.ExportFormat_EXPORT_FORMAT_XLSX})
	exp, files = c.export(t, "all-xlsx")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, exp.GetStatus(), exp.GetError())
	f, err := excelize.OpenReader(bytes.NewReader(files["rows"]))
	require.NoError(t, err)
	rows, err := f.Rows(f.GetSheetName(0))
	require.NoError(t, err)
	got = map[string]student{}
	first := true
	for rows.Next() {
		cols, err := rows.Columns(excelize.Options{RawCellValue: true})
		require.NoError(t, err)
		if first {
			require.Equal(t, studentFields, cols)
			first = false
			continue
		}
		var s student
		copy(s[:], cols)
		got[s[0]] = s
	}
	require.Len(t, got, n)
	for id, w := range want {
		g := got[id]
		require.Equal(t, w[0], g[0], "ids keep their leading zeros")
		require.Equal(t, w[1], g[1])
		if w[4] != "" {
			wf, _ := strconv.ParseFloat(w[4], 64)
			gf, err := strconv.ParseFloat(g[4], 64)
			require.NoError(t, err, "balance is a number cell")
			require.InDelta(t, wf, gf, 1e-9)
		}
		if w[6] != "" {
			serial, err := strconv.ParseFloat(g[6], 64)
			require.NoError(t, err, "born is a date cell (a serial number)")
			d, err := excelize.ExcelDateToTime(serial, false)
			require.NoError(t, err)
			require.Equal(t, w[6], d.Format("2006-01-02"))
		}
	}
	require.NoError(t, f.Close())
}

// requireSameRows compares rows by id, naming the first that differ.
func requireSameRows(t *testing.T, want, got map[string]student, norm func(student) student) {
	t.Helper()
	if norm == nil {
		norm = func(s student) student { return s }
	}
	require.Equal(t, len(want), len(got), "row count")
	bad := 0
	for id, w := range want {
		if g := got[id]; norm(g) != norm(w) {
			bad++
			if bad <= 5 {
				t.Errorf("row %s: got %q, want %q", id, g, w)
			}
		}
	}
	require.Zero(t, bad, "rows that differ")
}

// TestIncrementalExport: three runs with inserts, updates and deletes in
// between export exactly what changed; deletions as tombstones or delta files.
func TestIncrementalExport(t *testing.T) {
	srv, c, db := startExportServer(t)
	rows := genStudents(100, 6)
	importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, rows))
	const deleteProfile = `apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: students-delete}
spec:
  dataset: students
  writeMode: delete
  mappings: [{field: student_id, column: "Student ID"}]
`
	_, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", tempFile(t, "d.yaml", deleteProfile))
	require.Zero(t, code, errOut)
	c.applyExport(t, "changes", &ferryv1.ExportProfileSpec{Dataset: "students", Format: ferryv1.ExportFormat_EXPORT_FORMAT_JSONL,
		Mode: ferryv1.ExportMode_EXPORT_MODE_INCREMENTAL, Deletions: ferryv1.Deletions_DELETIONS_TOMBSTONES})
	c.applyExport(t, "deltas", &ferryv1.ExportProfileSpec{Dataset: "students", Mode: ferryv1.ExportMode_EXPORT_MODE_INCREMENTAL, DeltaFiles: true})
	ids := func(data []byte) []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m))
			id := m["student_id"].(string)
			if m["_deleted"] == true {
				id += " deleted"
			}
			out = append(out, id)
		}
		return out
	}
	csvIDs := func(data []byte) []string {
		records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		require.NoError(t, err)
		var out []string
		for _, r := range records[1:] {
			out = append(out, r[0])
		}
		return out
	}

	run, files := c.export(t, "changes")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Len(t, ids(files["rows"]), 100, "the first run exports every row")
	_, files = c.export(t, "deltas")
	require.Len(t, csvIDs(files["rows"]), 100)

	// Update 2 rows, insert 1, delete 2.
	changed := append([]student(nil), rows[0], rows[1])
	changed[0][1], changed[1][1] = "Changed One", "Changed Two"
	added := genStudents(101, 7)[100]
	importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, append(changed, added)))
	importFile(t, c, srv.GRPCAddr, srv.Key, "students-delete", writeCSV(t, []student{rows[2], rows[3]}))

	run, files = c.export(t, "changes")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Equal(t, []string{"0000001", "0000002", "0000003 deleted", "0000004 deleted", "0000101"}, ids(files["rows"]))
	run, files = c.export(t, "deltas")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Len(t, run.GetOutputs(), 3)
	require.Equal(t, []string{"0000101"}, csvIDs(files["added"]))
	require.Equal(t, []string{"0000001", "0000002"}, csvIDs(files["changed"]))
	require.Equal(t, []string{"0000003", "0000004"}, csvIDs(files["removed"]))
	for _, o := range run.GetOutputs() {
		require.Contains(t, o.GetName(), "_"+o.GetRole()+".csv")
	}

	// Nothing changed: nothing exported; a failed run does not move the watermark.
	run, files = c.export(t, "changes")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Empty(t, ids(files["rows"]))
	_ = db
}

// TestLateCommitIsInTheNextExport: a row written by a transaction that was
// still open while an incremental export read is in the next export.
func TestLateCommitIsInTheNextExport(t *testing.T) {
	srv, c, db := startExportServer(t)
	importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, genStudents(10, 8)))
	c.applyExport(t, "late", &ferryv1.ExportProfileSpec{Dataset: "students", Mode: ferryv1.ExportMode_EXPORT_MODE_INCREMENTAL,
		Format: ferryv1.ExportFormat_EXPORT_FORMAT_JSONL})
	run, _ := c.export(t, "late")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())

	ctx := context.Background()
	writer, err := pgx.Connect(ctx, db)
	require.NoError(t, err)
	defer writer.Close(ctx)
	tx, err := writer.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `UPDATE tenant_default.students SET name = 'written late', _ferry_xid = pg_current_xact_id() WHERE student_id = '0000003'`)
	require.NoError(t, err)

	run, files := c.export(t, "late")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Empty(t, bytes.TrimSpace(files["rows"]), "the open transaction's row is not visible yet")
	require.NoError(t, tx.Commit(ctx))

	run, files = c.export(t, "late")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Contains(t, string(files["rows"]), `"written late"`, "the late commit is in the next export")
	require.Equal(t, 1, bytes.Count(files["rows"], []byte("\n")))
}

// TestExportSafety: formulas guarded by default and on request not,
// unencodable characters failing the run with the rows, selections that try
// SQL injection matching nothing and breaking nothing.
func TestExportSafety(t *testing.T) {
	srv, c, db := startExportServer(t)
	rows := genStudents(5, 9)
	rows[0][1], rows[0][4] = "=HYPERLINK(\"http://evil\")", "-5.00"
	rows[1][1] = "Zoë €uro"
	rows[2][1] = "x'; DROP TABLE tenant_default.students; --"
	importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, rows))

	c.applyExport(t, "guarded", &ferryv1.ExportProfileSpec{Dataset: "students", Selection: `student_id == "0000001"`})
	_, files := c.export(t, "guarded")
	require.Contains(t, string(files["rows"]), `"'=HYPERLINK(""http://evil"")"`)
	require.Contains(t, string(files["rows"]), ",-5.00,", "numbers are untouched")
	c.applyExport(t, "raw", &ferryv1.ExportProfileSpec{Dataset: "students", Selection: `student_id == "0000001"`, AllowFormulas: true})
	_, files = c.export(t, "raw")
	require.Contains(t, string(files["rows"]), `"=HYPERLINK(""http://evil"")"`)

	c.applyExport(t, "latin1", &ferryv1.ExportProfileSpec{Dataset: "students", Csv: &ferryv1.ExportCSV{Encoding: "iso-8859-1"},
		Selection: `student_id in ["0000002", "0000004"]`})
	run, _ := c.export(t, "latin1")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_FAILED, run.GetStatus())
	require.Contains(t, run.GetError(), "iso-8859-1")
	require.Contains(t, run.GetError(), "1", "the row is named")
	require.Empty(t, run.GetOutputs(), "no file is kept")
	c.applyExport(t, "latin1", &ferryv1.ExportProfileSpec{Dataset: "students", Csv: &ferryv1.ExportCSV{Encoding: "iso-8859-1"},
		Selection: `student_id == "0000002"`, Unencodable: ferryv1.Unencodable_UNENCODABLE_REPLACE})
	run, files = c.export(t, "latin1")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Contains(t, run.GetNote(), "characters that iso-8859-1 cannot hold were replaced")
	require.Contains(t, string(files["rows"]), "Zo\xeb ?uro", "ë fits in ISO-8859-1, € does not")

	for _, sel := range []string{`name == "x'; DROP TABLE tenant_default.students; --"`, `name.startsWith("x'") || name == "\"; SELECT 1"`} {
		c.applyExport(t, "inject", &ferryv1.ExportProfileSpec{Dataset: "students", Selection: sel, Format: ferryv1.ExportFormat_EXPORT_FORMAT_JSONL})
		run, files = c.export(t, "inject")
		require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
		require.Equal(t, 1, bytes.Count(files["rows"], []byte("\n")), "the value matched as a value: %s", sel)
	}
	require.Equal(t, 5, countRows(t, db, "tenant_default.students"), "nothing was dropped")
}

// TestExportValidity: a profile that cannot run is stored, shown invalid
// with its reasons, and refused.
func TestExportValidity(t *testing.T) {
	_, c, _ := startExportServer(t)
	p := c.applyExport(t, "nowhere", &ferryv1.ExportProfileSpec{Dataset: "nope"})
	require.False(t, p.GetValid())
	require.Equal(t, []string{`dataset "nope" does not exist`}, p.GetProblems())
	_, err := c.Exp.ApplyTemplate(c.ctx(t), &ferryv1.ApplyTemplateRequest{Name: "t", Spec: &ferryv1.TemplateSpec{Columns: []*ferryv1.TemplateColumn{
		{Header: "ID", Field: "student_id"}, {Header: "Gone", Field: "gone"}}}})
	require.NoError(t, err)
	p = c.applyExport(t, "broken", &ferryv1.ExportProfileSpec{Dataset: "students", Template: "t", Selection: "grade > ", Sort: []*ferryv1.SortKey{{Field: "nope"}}})
	require.False(t, p.GetValid())
	require.Len(t, p.GetProblems(), 3, "%v", p.GetProblems())
	require.Contains(t, p.GetProblems()[0], `column "Gone" shows field "gone", which dataset "students" no longer has`)
	require.Contains(t, p.GetProblems()[1], "selection:")
	require.Contains(t, p.GetProblems()[2], `sort field "nope"`)
	list, err := c.Exp.ListExportProfiles(c.ctx(t), &ferryv1.ListExportProfilesRequest{})
	require.NoError(t, err)
	require.Len(t, list.GetProfiles(), 2)
	require.False(t, list.GetProfiles()[0].GetValid())
	_, err = c.Exp.StartExport(c.ctx(t), &ferryv1.StartExportRequest{Name: "broken"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "cannot run")
}

// TestShareLinks: a link serves the file with safe headers, to anyone with
// the token, until it expires or is revoked; another tenant cannot touch it.
func TestShareLinks(t *testing.T) {
	srv, c, _ := startExportServer(t)
	importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, genStudents(3, 10)))
	c.applyExport(t, "share", &ferryv1.ExportProfileSpec{Dataset: "students"})
	run, files := c.export(t, "share")
	link, err := c.Exp.CreateShareLink(c.ctx(t), &ferryv1.CreateShareLinkRequest{Run: run.GetId()})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(link.GetPath(), "/v1/downloads/fys_"))
	get := func(path string) (*http.Response, []byte) {
		resp, err := http.Get("http://" + srv.HTTPAddr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, body
	}
	resp, body := get(link.GetPath())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, files["rows"], body)
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename=`+run.GetOutputs()[0].GetName(), resp.Header.Get("Content-Disposition"))
	resp, _ = get("/v1/downloads/fys_not-a-real-token")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Another tenant can neither link this run nor revoke the link.
	tr, err := c.Ten.CreateTenant(c.ctx(t), &ferryv1.CreateTenantRequest{Name: "other"})
	require.NoError(t, err)
	other := dial(t, srv.GRPCAddr, tr.GetSecret())
	_, err = other.Exp.CreateShareLink(other.ctx(t), &ferryv1.CreateShareLinkRequest{Run: run.GetId()})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = other.Exp.RevokeShareLink(other.ctx(t), &ferryv1.RevokeShareLinkRequest{Token: link.GetToken()})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = other.Exp.DownloadOutput(other.ctx(t), &ferryv1.DownloadOutputRequest{Run: run.GetId()})
	if err == nil {
		stream, _ := other.Exp.DownloadOutput(other.ctx(t), &ferryv1.DownloadOutputRequest{Run: run.GetId()})
		_, err = stream.Recv()
	}
	require.Equal(t, codes.NotFound, status.Code(err))

	_, err = c.Exp.RevokeShareLink(c.ctx(t), &ferryv1.RevokeShareLinkRequest{Token: link.GetToken()})
	require.NoError(t, err)
	resp, _ = get(link.GetPath())
	require.Equal(t, http.StatusGone, resp.StatusCode)

	short, err := c.Exp.CreateShareLink(c.ctx(t), &ferryv1.CreateShareLinkRequest{Profile: "share", TtlSeconds: 1})
	require.NoError(t, err)
	resp, body = get(short.GetPath())
	require.Equal(t, http.StatusOK, resp.StatusCode, "a profile link serves its latest file")
	require.Equal(t, files["rows"], body)
	time.Sleep(1500 * time.Millisecond)
	resp, _ = get(short.GetPath())
	require.Equal(t, http.StatusGone, resp.StatusCode)
}

// TestExportRetention: the files of an export run are deleted when their
// retention ends; the run says when, downloads and links say they are gone.
func TestExportRetention(t *testing.T) {
	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir(), "--export-retention", "2s")
	c := dial(t, srv.GRPCAddr, srv.Key)
	applyResources(t, srv.GRPCAddr, srv.Key)
	importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, genStudents(3, 11)))
	c.applyExport(t, "short", &ferryv1.ExportProfileSpec{Dataset: "students"})
	run, files := c.export(t, "short")
	require.Len(t, files, 1, "the file is there at first")
	link, err := c.Exp.CreateShareLink(c.ctx(t), &ferryv1.CreateShareLinkRequest{Run: run.GetId()})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return c.run(t, run.GetId()).GetOutputsDeleteTime() != nil }, time.Minute, 200*time.Millisecond)
	stream, err := c.Exp.DownloadOutput(c.ctx(t), &ferryv1.DownloadOutputRequest{Run: run.GetId()})
	if err == nil {
		_, err = stream.Recv()
	}
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "their retention period ended")
	resp, err := http.Get("http://" + srv.HTTPAddr + link.GetPath())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusGone, resp.StatusCode)
	require.Len(t, c.run(t, run.GetId()).GetOutputs(), 1, "the run still lists what it wrote")
}

// TestDatabaseExport bundles two datasets, each with its own selection and
// file, into one run: as two files, and zipped into one archive.
func TestDatabaseExport(t *testing.T) {
	srv, c, _ := startExportServer(t)
	importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, genStudents(30, 12)))
	const classes = `apiVersion: ferry.dev/v1
kind: Dataset
metadata: {name: classes}
spec:
  fields: [{name: code, type: string}, {name: title, type: string}]
  key: [code]
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: classes-csv}
spec:
  dataset: classes
---
apiVersion: ferry.dev/v1
kind: ExportProfile
metadata: {name: district}
spec:
  fileName: "district_{date:2006-01-02}"
  bundle:
    - {dataset: students, selection: 'grade != null && grade >= 10', fileName: "students.csv"}
    - {dataset: classes}
`
	_, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", tempFile(t, "c.yaml", classes))
	require.Zero(t, code, errOut)
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "classes-csv", tempFile(t, "c.csv", "code,title\nM1,Maths\nE1,\"English, advanced\"\n"))
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())

	run, files := c.export(t, "district")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Len(t, run.GetOutputs(), 2)
	require.Equal(t, "students.csv", run.GetOutputs()[0].GetName())
	require.Equal(t, "classes.csv", run.GetOutputs()[1].GetName())
	require.Equal(t, "code,title\r\nE1,\"English, advanced\"\r\nM1,Maths\r\n", string(files["classes"]))
	records, err := csv.NewReader(bytes.NewReader(files["students"])).ReadAll()
	require.NoError(t, err)
	for _, r := range records[1:] {
		g, err := strconv.Atoi(r[3])
		require.NoError(t, err)
		require.GreaterOrEqual(t, g, 10, "each dataset keeps its own selection")
	}
	require.EqualValues(t, len(records)-1+2, run.GetCounts().GetRead(), "one run counts both files")

	zipped := strings.Replace(classes, `fileName: "district_{date:2006-01-02}"`, `fileName: "district_{date:2006-01-02}"`+"\n  zip: true", 1)
	_, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", tempFile(t, "z.yaml", zipped))
	require.Zero(t, code, errOut)
	run, files = c.export(t, "district")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Len(t, run.GetOutputs(), 1)
	out := run.GetOutputs()[0]
	require.Equal(t, "district_"+run.GetCreateTime().AsTime().UTC().Format("2006-01-02")+".zip", out.GetName())
	require.Equal(t, "application/zip", out.GetContentType())
	zr, err := zip.NewReader(bytes.NewReader(files["archive"]), int64(len(files["archive"])))
	require.NoError(t, err)
	require.Len(t, zr.File, 2)
	require.Equal(t, "students.csv", zr.File[0].Name)
	require.Equal(t, "classes.csv", zr.File[1].Name)
	f, err := zr.File[1].Open()
	require.NoError(t, err)
	body, err := io.ReadAll(f)
	require.NoError(t, err)
	require.Equal(t, "code,title\r\nE1,\"English, advanced\"\r\nM1,Maths\r\n", string(body))
}

// TestExportTemplate writes columns through a template: a field, an
// expression over the row's fields, a cross-reference internal → external
// and a date format.
func TestExportTemplate(t *testing.T) {
	srv, c, _ := startExportServer(t)
	rows := genStudents(2, 13)
	rows[0][3], rows[0][6], rows[1][3] = "10", "2011-04-02", "7"
	importFile(t, c, srv.GRPCAddr, srv.Key, "students-csv", writeCSV(t, rows))
	const doc = `apiVersion: ferry.dev/v1
kind: CrossReference
metadata: {name: grades}
spec:
  entries:
    - {external: "Gr 10", internal: "10", primary: true}
    - {external: "Grade 10", internal: "10"}
---
apiVersion: ferry.dev/v1
kind: Template
metadata: {name: roster}
spec:
  columns:
    - {header: ID, field: student_id}
    - {header: Grade, field: grade, crossReference: grades}
    - {header: Born, field: born, dateFormat: "DD/MM/YYYY"}
    - {header: Shout, expr: 'upper(fields.student_id)'}
---
apiVersion: ferry.dev/v1
kind: ExportProfile
metadata: {name: roster}
spec:
  dataset: students
  template: roster
  selection: 'student_id == "0000001"'
`
	_, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", tempFile(t, "t.yaml", doc))
	require.Zero(t, code, errOut)
	run, files := c.export(t, "roster")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	require.Equal(t, "ID,Grade,Born,Shout\r\n0000001,Gr 10,02/04/2011,0000001\r\n", string(files["rows"]))

	// An internal value the table does not have fails the run, naming it.
	_, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", tempFile(t, "t2.yaml",
		strings.Replace(doc, `student_id == "0000001"`, `student_id == "0000002"`, 1)))
	require.Zero(t, code, errOut)
	run, _ = c.export(t, "roster")
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_FAILED, run.GetStatus())
	require.Contains(t, run.GetError(), `value "7" is not an internal value of cross-reference table "grades"`)
}
