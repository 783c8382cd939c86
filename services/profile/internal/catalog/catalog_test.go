package catalog

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func str(name string) *ferryv1.Field {
	return &ferryv1.Field{Name: name, Type: ferryv1.FieldType_FIELD_TYPE_STRING}
}

func TestValidateDataset(t *testing.T) {
	tests := []struct {
		name string
		ds   *ferryv1.Dataset
		want string
	}{
		{"ok", &ferryv1.Dataset{Name: "users", Fields: []*ferryv1.Field{str("id")}, Key: []string{"id"}}, ""},
		{"bad name", &ferryv1.Dataset{Name: "Users", Fields: []*ferryv1.Field{str("id")}, Key: []string{"id"}}, "dataset name"},
		{"sql injection name", &ferryv1.Dataset{Name: `a"; drop`, Fields: []*ferryv1.Field{str("id")}, Key: []string{"id"}}, "dataset name"},
		{"no fields", &ferryv1.Dataset{Name: "u", Key: []string{"id"}}, "has no fields"},
		{"no key", &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("id")}}, "has no key"},
		{"key not field", &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("id")}, Key: []string{"x"}}, `key field "x" is not a field`},
		{"dup field", &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("id"), str("id")}, Key: []string{"id"}}, "appears twice"},
		{"no type", &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{{Name: "id"}}, Key: []string{"id"}}, "has no type"},
		{"reserved", &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("_ferry_row")}, Key: []string{"_ferry_row"}}, "field name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateDataset(tt.ds)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestDiffDataset(t *testing.T) {
	stored := &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("id"), str("name")}, Key: []string{"id"}}
	c, err := DiffDataset(stored, stored)
	require.NoError(t, err)
	require.False(t, c.Changed)

	want := &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("id"), str("name"), str("email")}, Key: []string{"id"}}
	c, err = DiffDataset(stored, want)
	require.NoError(t, err)
	require.True(t, c.Changed)
	require.Len(t, c.Added, 1)

	_, err = DiffDataset(stored, &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("id")}, Key: []string{"id"}})
	require.ErrorContains(t, err, `field "name" cannot be removed`)
	_, err = DiffDataset(stored, &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("id"), {Name: "name", Type: ferryv1.FieldType_FIELD_TYPE_INTEGER}}, Key: []string{"id"}})
	require.ErrorContains(t, err, "cannot change type from string to integer")
	_, err = DiffDataset(stored, &ferryv1.Dataset{Name: "u", Fields: stored.Fields, Key: []string{"name"}})
	require.ErrorContains(t, err, "the key cannot change")
}

func TestValidateProfile(t *testing.T) {
	ds := &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("id"), {Name: "name", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true}}, Key: []string{"id"}}
	s, err := ValidateProfile("users-csv", &ferryv1.ImportProfileSpec{Dataset: "u"}, ds, nil)
	require.NoError(t, err)
	require.Equal(t, ",", s.GetCsv().GetDelimiter())
	require.Equal(t, ferryv1.WriteMode_WRITE_MODE_UPSERT, s.GetWriteMode())

	_, err = ValidateProfile("users-csv", &ferryv1.ImportProfileSpec{Dataset: "u", Mappings: []*ferryv1.FieldMapping{{Field: "name", Column: "N"}}}, ds, nil)
	require.ErrorContains(t, err, `key field "id" of dataset "u" is not mapped`)
	_, err = ValidateProfile("users-csv", &ferryv1.ImportProfileSpec{Dataset: "u", Mappings: []*ferryv1.FieldMapping{{Field: "id", Column: "ID"}}}, ds, nil)
	require.ErrorContains(t, err, `required field "name"`)
	_, err = ValidateProfile("users-csv", &ferryv1.ImportProfileSpec{Dataset: "u", Csv: &ferryv1.CSVFormat{Delimiter: ";;"}}, ds, nil)
	require.ErrorContains(t, err, "delimiter")
	_, err = ValidateProfile("Users", &ferryv1.ImportProfileSpec{Dataset: "u"}, ds, nil)
	require.ErrorContains(t, err, "profile name")
}

func TestValidateProfileFiles(t *testing.T) {
	ds := &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("id"), str("name")}, Key: []string{"id"}}
	byIndex := []*ferryv1.FieldMapping{{Field: "id", ColumnIndex: 1}, {Field: "name", ColumnIndex: 2}}
	tests := []struct {
		name  string
		spec  *ferryv1.ImportProfileSpec
		want  string // error substring; "" for valid
		check func(t *testing.T, s *ferryv1.ImportProfileSpec)
	}{
		{name: "csv defaults filled", spec: &ferryv1.ImportProfileSpec{Dataset: "u"}, check: func(t *testing.T, s *ferryv1.ImportProfileSpec) {
			require.Equal(t, ferryv1.FileFormat_FILE_FORMAT_CSV, s.GetFormat())
			c := s.GetCsv()
			require.Equal(t, []string{",", "\"", "utf-8"}, []string{c.GetDelimiter(), c.GetQuote(), c.GetEncoding()})
			require.EqualValues(t, 1, c.GetHeaderRow())
			require.Equal(t, ferryv1.CSVEscape_CSV_ESCAPE_DOUBLED, c.GetEscape())
			require.Equal(t, ferryv1.InvalidBytes_INVALID_BYTES_REJECT_ROW, c.GetInvalidBytes())
		}},
		{name: "encoding alias canonical", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Csv: &ferryv1.CSVFormat{Encoding: "Latin1"}}, check: func(t *testing.T, s *ferryv1.ImportProfileSpec) {
			require.Equal(t, "iso-8859-1", s.GetCsv().GetEncoding())
		}},
		{name: "unknown encoding", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Csv: &ferryv1.CSVFormat{Encoding: "ebcdic"}}, want: "ebcdic"},
		{name: "delimiter is quote", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Csv: &ferryv1.CSVFormat{Delimiter: "'", Quote: "'"}}, want: "both"},
		{name: "comment is delimiter", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Csv: &ferryv1.CSVFormat{Delimiter: ";", Comment: ";"}}, want: "comment"},
		{name: "no header needs indexes", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Csv: &ferryv1.CSVFormat{NoHeader: true},
			Mappings: []*ferryv1.FieldMapping{{Field: "id", Column: "ID"}}}, want: "needs a column index"},
		{name: "no header without mappings", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Csv: &ferryv1.CSVFormat{NoHeader: true}}, want: "every field needs a mapping"},
		{name: "no header by index", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Csv: &ferryv1.CSVFormat{NoHeader: true}, Mappings: byIndex}, check: func(t *testing.T, s *ferryv1.ImportProfileSpec) {
			require.Zero(t, s.GetCsv().GetHeaderRow())
		}},
		{name: "name and index", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Mappings: []*ferryv1.FieldMapping{{Field: "id", Column: "ID", ColumnIndex: 1}}}, want: "both a column name and a column index"},
		{name: "xlsx defaults", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Format: ferryv1.FileFormat_FILE_FORMAT_XLSX}, check: func(t *testing.T, s *ferryv1.ImportProfileSpec) {
			require.EqualValues(t, 1, s.GetSpreadsheet().GetSheetIndex())
			require.EqualValues(t, 1, s.GetSpreadsheet().GetHeaderRow())
			require.Nil(t, s.GetCsv())
		}},
		{name: "csv settings on xls", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Format: ferryv1.FileFormat_FILE_FORMAT_XLS, Csv: &ferryv1.CSVFormat{}}, want: "csv settings need format csv"},
		{name: "sheet settings on csv", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Spreadsheet: &ferryv1.SpreadsheetFormat{}}, want: "spreadsheet settings need format xlsx or xls"},
		{name: "sheet name and index", spec: &ferryv1.ImportProfileSpec{Dataset: "u", Format: ferryv1.FileFormat_FILE_FORMAT_XLSX,
			Spreadsheet: &ferryv1.SpreadsheetFormat{Sheet: "A", SheetIndex: 2}}, want: "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ValidateProfile("p", tt.spec, ds, nil)
			if tt.want != "" {
				require.ErrorContains(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			tt.check(t, s)
			again, err := ValidateProfile("p", s, ds, nil)
			require.NoError(t, err)
			require.True(t, proto.Equal(s, again), "validating a validated spec changes nothing, so applying it twice is unchanged")
		})
	}
}

func TestValidateProfilePolicies(t *testing.T) {
	ds := &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("id"), str("name")}, Key: []string{"id"}}
	tests := []struct {
		spec *ferryv1.ImportProfileSpec
		want string
	}{
		{&ferryv1.ImportProfileSpec{ErrorPolicy: &ferryv1.ErrorPolicy{MaxRejectedPercent: 120}}, "errorPolicy limits"},
		{&ferryv1.ImportProfileSpec{Mirror: &ferryv1.MirrorOptions{MaxChangePercent: 10}}, "mirror.maxChangePercent needs writeMode mirror"},
		{&ferryv1.ImportProfileSpec{WriteMode: ferryv1.WriteMode_WRITE_MODE_MIRROR, Mirror: &ferryv1.MirrorOptions{MaxChangePercent: -1}}, "between 0 and 100"},
		{&ferryv1.ImportProfileSpec{Mappings: []*ferryv1.FieldMapping{{Field: "id", Column: "ID"}, {Field: "name", Expr: "uper(value)"}}}, `field "name": expression line 1, column 1`},
		{&ferryv1.ImportProfileSpec{Mappings: []*ferryv1.FieldMapping{{Field: "id", Column: "ID"}, {Field: "name", Column: "N", CrossReference: &ferryv1.CrossReferenceUse{Table: "nope"}}}}, `cross-reference table "nope" does not exist`},
		{&ferryv1.ImportProfileSpec{Mappings: []*ferryv1.FieldMapping{{Field: "id", Column: "ID"}, {Field: "name"}}}, `field "name" has no column`},
		{&ferryv1.ImportProfileSpec{Mappings: []*ferryv1.FieldMapping{{Field: "id", Column: "ID"}, {Field: "name", Aliases: []string{"x"}, Expr: "value"}}}, `aliases of field "name" need a column name`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			tt.spec.Dataset = "u"
			_, err := ValidateProfile("p", tt.spec, ds, []string{"grades"})
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err := ValidateProfile("p", &ferryv1.ImportProfileSpec{Dataset: "u", Mappings: []*ferryv1.FieldMapping{{Field: "id", Column: "ID"},
		{Field: "name", Expr: `upper(row["Name"])`, CrossReference: &ferryv1.CrossReferenceUse{Table: "grades"}}}}, ds, []string{"grades"})
	require.NoError(t, err)
}

func TestValidateReference(t *testing.T) {
	users := &ferryv1.Dataset{Name: "users", Fields: []*ferryv1.Field{str("id")}, Key: []string{"id"}}
	m := &ferryv1.Dataset{Name: "m", Fields: []*ferryv1.Field{str("user_id"), {Name: "n", Type: ferryv1.FieldType_FIELD_TYPE_INTEGER}}, Key: []string{"user_id", "n"},
		References: []*ferryv1.Reference{{Fields: []string{"user_id"}, Dataset: "users"}}}
	require.NoError(t, ValidateDataset(m))
	require.NoError(t, ValidateReference(m, m.References[0], users))
	require.ErrorContains(t, ValidateReference(m, &ferryv1.Reference{Fields: []string{"n"}, Dataset: "users"}, users), `field "n" is integer, but key field "id" of "users" is string`)
	require.ErrorContains(t, ValidateReference(m, &ferryv1.Reference{Fields: []string{"user_id", "n"}, Dataset: "users"}, users), "names 2 fields, the key of \"users\" has 1")
	bad := &ferryv1.Dataset{Name: "m", Fields: m.Fields, Key: m.Key, References: []*ferryv1.Reference{{Fields: []string{"nope"}, Dataset: "users"}}}
	require.ErrorContains(t, ValidateDataset(bad), `"nope" is not a field`)
}

func TestValidateExportBundle(t *testing.T) {
	e := func(ds, file string) *ferryv1.BundleEntry { return &ferryv1.BundleEntry{Dataset: ds, FileName: file} }
	tests := []struct {
		spec *ferryv1.ExportProfileSpec
		want string
	}{
		{&ferryv1.ExportProfileSpec{Dataset: "a", Zip: true}, "zip needs a bundle"},
		{&ferryv1.ExportProfileSpec{Dataset: "a", Bundle: []*ferryv1.BundleEntry{e("b", "")}}, "give dataset, selection, sort, maxRows and template per entry"},
		{&ferryv1.ExportProfileSpec{Bundle: []*ferryv1.BundleEntry{e("a", "x.csv"), e("b", "x.csv")}}, "bundle entry 2 writes the same file name as entry 1 (x.csv)"},
		{&ferryv1.ExportProfileSpec{Bundle: []*ferryv1.BundleEntry{e("", "")}}, "bundle entry 1 names no dataset"},
		{&ferryv1.ExportProfileSpec{Bundle: []*ferryv1.BundleEntry{e("a", "../x")}}, "must not contain a slash"},
		{&ferryv1.ExportProfileSpec{Mode: ferryv1.ExportMode_EXPORT_MODE_INCREMENTAL, DeltaFiles: true, Bundle: []*ferryv1.BundleEntry{e("a", "")}}, "deltaFiles and deletions other than omit do not apply"},
	}
	for _, tt := range tests {
		_, err := ValidateExportProfile("p", tt.spec)
		require.ErrorContains(t, err, tt.want)
	}
	s, err := ValidateExportProfile("p", &ferryv1.ExportProfileSpec{Zip: true, Bundle: []*ferryv1.BundleEntry{e("a", ""), e("b", "")}})
	require.NoError(t, err)
	require.Equal(t, "{dataset}", s.GetBundle()[0].GetFileName())
}
