package mapping

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// table is a cross-reference table for tests.
type table map[string]string

func (t table) Lookup(external string) (string, bool) {
	v, ok := t[external]
	return v, ok
}

func typed(name string, t ferryv1.FieldType) *ferryv1.Field {
	return &ferryv1.Field{Name: name, Type: t}
}

var (
	tString  = ferryv1.FieldType_FIELD_TYPE_STRING
	tInt     = ferryv1.FieldType_FIELD_TYPE_INTEGER
	tDecimal = ferryv1.FieldType_FIELD_TYPE_DECIMAL
	tBool    = ferryv1.FieldType_FIELD_TYPE_BOOLEAN
	tDate    = ferryv1.FieldType_FIELD_TYPE_DATE
	tTS      = ferryv1.FieldType_FIELD_TYPE_TIMESTAMP
)

// one maps a dataset of `id` (key) and `v` of type typ through m, and
// returns the row's value of v, or the reject.
func one(t *testing.T, typ ferryv1.FieldType, m *ferryv1.FieldMapping, header, record []string, mutate ...func(*ferryv1.ImportProfileSpec)) (string, *Reject, *Held) {
	t.Helper()
	ds := &ferryv1.Dataset{Name: "d", Key: []string{"id"}, Fields: []*ferryv1.Field{typed("id", tString), typed("v", typ)}}
	m.Field = "v"
	s := &ferryv1.ImportProfileSpec{Mappings: []*ferryv1.FieldMapping{{Field: "id", ColumnIndex: 1}, m}}
	for _, f := range mutate {
		f(s)
	}
	require.NoError(t, Check(s, ds, []string{"grades"}), "the spec passes Check")
	p, err := Resolve(s, ds, header, map[string]Table{"grades": table{"Gr 9": "9", "Gr 10": "10"}})
	require.NoError(t, err)
	var out bytes.Buffer
	res := p.Row(7, record, &out)
	if res.Reject != nil || res.Held != nil {
		require.Zero(t, out.Len())
		return "", res.Reject, res.Held
	}
	fields, err := csv.NewReader(&out).Read()
	require.NoError(t, err)
	return fields[1], nil, nil
}

func TestExpressionsAndOptions(t *testing.T) {
	h := []string{"ID", "First Name", "Last", "Amount", "When"}
	r := []string{"1", "  ann ", "Lee", "1.234,50", "03/04/2024"}
	tests := []struct {
		name string
		typ  ferryv1.FieldType
		m    *ferryv1.FieldMapping
		rec  []string
		want string
	}{
		{"column copy", tString, &ferryv1.FieldMapping{Column: "Last"}, r, "Lee"},
		{"expr over value", tString, &ferryv1.FieldMapping{Column: "First Name", Expr: "upper(trim(value))"}, r, "ANN"},
		{"expr over the row", tString, &ferryv1.FieldMapping{Expr: `concat(trim(row["First Name"]), " ", row.Last)`}, r, "ann Lee"},
		{"constant", tString, &ferryv1.FieldMapping{Expr: `"US"`}, r, "US"},
		{"by position", tString, &ferryv1.FieldMapping{Expr: `cols[2]`}, r, "Lee"},
		{"default", tString, &ferryv1.FieldMapping{Column: "Last", DefaultValue: "none"}, []string{"1", "", "", "", ""}, "none"},
		{"decimal separators", tDecimal, &ferryv1.FieldMapping{Column: "Amount", DecimalSeparator: ",", ThousandsSeparator: "."}, r, "1234.50"},
		{"parse_number", tDecimal, &ferryv1.FieldMapping{Expr: `parse_number(row.Amount, ",", ".")`}, r, "1234.50"},
		{"date format", tDate, &ferryv1.FieldMapping{Column: "When", DateFormats: []string{"DD/MM/YYYY"}}, r, "2024-04-03"},
		{"parse_date", tDate, &ferryv1.FieldMapping{Expr: `parse_date(row.When, "MM/DD/YYYY")`}, r, "2024-03-04"},
		{"bool words", tBool, &ferryv1.FieldMapping{Column: "Last", TrueWords: []string{"Lee"}, FalseWords: []string{"Kim"}}, r, "true"},
		{"int from expr", tInt, &ferryv1.FieldMapping{Expr: `size(row.Last) * 2`}, r, "6"},
		{"xref", tInt, &ferryv1.FieldMapping{Column: "Last", CrossReference: &ferryv1.CrossReferenceUse{Table: "grades"}}, []string{"1", "", "Gr 9", "", ""}, "9"},
		{"xref in expr", tString, &ferryv1.FieldMapping{Expr: `xref("grades", row.Last, "?")`}, r, "?"},
		{"xref pass through", tString, &ferryv1.FieldMapping{Column: "Last", CrossReference: &ferryv1.CrossReferenceUse{Table: "grades", Unknown: ferryv1.UnknownValue_UNKNOWN_VALUE_PASS_THROUGH}}, r, "Lee"},
		{"xref default", tString, &ferryv1.FieldMapping{Column: "Last", CrossReference: &ferryv1.CrossReferenceUse{Table: "grades", Unknown: ferryv1.UnknownValue_UNKNOWN_VALUE_DEFAULT, DefaultValue: "0"}}, r, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rej, held := one(t, tt.typ, tt.m, h, tt.rec)
			require.Nil(t, rej)
			require.Nil(t, held)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestTimeZone(t *testing.T) {
	tz := func(s *ferryv1.ImportProfileSpec) { s.TimeZone = "America/New_York" }
	got, rej, _ := one(t, tTS, &ferryv1.FieldMapping{Column: "When", DateFormats: []string{"YYYY-MM-DD HH:mm"}}, []string{"ID", "When"}, []string{"1", "2024-07-01 09:30"}, tz)
	require.Nil(t, rej)
	require.Equal(t, "2024-07-01T13:30:00Z", got)
	_, rej, _ = one(t, tTS, &ferryv1.FieldMapping{Column: "When", DateFormats: []string{"YYYY-MM-DD HH:mm"}}, []string{"ID", "When"}, []string{"1", "2024-03-10 02:30"}, tz)
	require.NotNil(t, rej, "02:30 does not exist on 10 March 2024 in New York")
}

func TestRejectsNameRuleColumnAndValue(t *testing.T) {
	h := []string{"ID", "Val"}
	tests := []struct {
		name   string
		typ    ferryv1.FieldType
		m      *ferryv1.FieldMapping
		value  string
		rule   string
		reason string
	}{
		{"type", tInt, &ferryv1.FieldMapping{Column: "Val"}, "x", "type", "not an integer"},
		{"required", tString, &ferryv1.FieldMapping{Column: "Val", Rules: &ferryv1.FieldRules{Required: true}}, "", "required", `required field "v" is empty`},
		{"min", tInt, &ferryv1.FieldMapping{Column: "Val", Rules: &ferryv1.FieldRules{Min: "10"}}, "9", "min", "9 is below the minimum 10"},
		{"max", tDecimal, &ferryv1.FieldMapping{Column: "Val", Rules: &ferryv1.FieldRules{Max: "1.5"}}, "1.50001", "max", "above the maximum 1.5"},
		{"date max", tDate, &ferryv1.FieldMapping{Column: "Val", Rules: &ferryv1.FieldRules{Max: "2024-12-31"}}, "2025-01-01", "max", "above the maximum"},
		{"min length", tString, &ferryv1.FieldMapping{Column: "Val", Rules: &ferryv1.FieldRules{MinLength: 3}}, "éé", "length", "2 characters, at least 3"},
		{"max length", tString, &ferryv1.FieldMapping{Column: "Val", Rules: &ferryv1.FieldRules{MaxLength: 2}}, "abc", "length", "3 characters, at most 2"},
		{"pattern", tString, &ferryv1.FieldMapping{Column: "Val", Rules: &ferryv1.FieldRules{Pattern: `[A-Z]{2}\d+`}}, "AB12x", "pattern", `does not match the pattern [A-Z]{2}\d+`},
		{"allowed", tString, &ferryv1.FieldMapping{Column: "Val", Rules: &ferryv1.FieldRules{Allowed: []string{"red", "green"}}}, "blue", "allowed", "not one of the allowed values (red, green)"},
		{"allowed typed", tInt, &ferryv1.FieldMapping{Column: "Val", Rules: &ferryv1.FieldRules{Allowed: []string{"1", "2"}}}, "3", "allowed", "not one of"},
		{"expression error", tString, &ferryv1.FieldMapping{Column: "Val", Expr: `substring(value, 5)`}, "abc", "expression", ""},
		{"ambiguous date", tDate, &ferryv1.FieldMapping{Column: "Val"}, "03/04/2024", "type", "ambiguous"},
		{"ambiguous between formats", tDate, &ferryv1.FieldMapping{Column: "Val", DateFormats: []string{"DD/MM/YYYY", "MM/DD/YYYY"}}, "03/04/2024", "type", "ambiguous"},
		{"xref unknown", tString, &ferryv1.FieldMapping{Column: "Val", CrossReference: &ferryv1.CrossReferenceUse{Table: "grades"}}, "Gr 12", "cross_reference", `value "Gr 12" is not in cross-reference table "grades"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rej, _ := one(t, tt.typ, tt.m, h, []string{"1", tt.value})
			require.NotNil(t, rej)
			require.Equal(t, tt.rule, rej.Rule)
			require.Equal(t, "Val", rej.Column)
			require.Equal(t, tt.value, rej.Value)
			require.EqualValues(t, 7, rej.Row)
			require.Contains(t, rej.Reason, tt.reason)
		})
	}
	// Values within the rules pass.
	v, rej, _ := one(t, tInt, &ferryv1.FieldMapping{Column: "Val", Rules: &ferryv1.FieldRules{Min: "10", Max: "20", Allowed: []string{"+10", "15"}}}, h, []string{"1", "15"})
	require.Nil(t, rej)
	require.Equal(t, "15", v)
}

func TestHoldForCrossReference(t *testing.T) {
	_, rej, held := one(t, tString, &ferryv1.FieldMapping{Column: "Val", CrossReference: &ferryv1.CrossReferenceUse{Table: "grades", Unknown: ferryv1.UnknownValue_UNKNOWN_VALUE_HOLD}},
		[]string{"ID", "Val"}, []string{"1", "Gr 12"})
	require.Nil(t, rej)
	require.Equal(t, &Held{Row: 7, Column: "Val", Value: "Gr 12", Table: "grades", Reason: `value "Gr 12" is not in cross-reference table "grades"`}, held)
}

func TestRowRules(t *testing.T) {
	ds := &ferryv1.Dataset{Name: "d", Key: []string{"id"}, Fields: []*ferryv1.Field{typed("id", tString), typed("start", tDate), typed("end", tDate), typed("age", tInt)}}
	s := &ferryv1.ImportProfileSpec{Rules: []*ferryv1.RowRule{
		{Name: "order", Expr: "fields.end == null || fields.end >= fields.start", Message: "end is before start"},
		{Name: "adult", Expr: "fields.age == null || fields.age >= 18"},
	}}
	require.NoError(t, Check(s, ds, nil))
	p, err := Resolve(s, ds, []string{"id", "start", "end", "age"}, nil)
	require.NoError(t, err)
	var out bytes.Buffer
	require.Nil(t, p.Row(2, []string{"1", "2024-01-01", "2024-02-01", "30"}, &out).Reject)
	require.Nil(t, p.Row(3, []string{"2", "2024-01-01", "", ""}, &out).Reject)
	rej := p.Row(4, []string{"3", "2024-02-01", "2024-01-01", "30"}, &out).Reject
	require.Equal(t, &Reject{Row: 4, Rule: "rule:order", Reason: "end is before start"}, rej)
	rej = p.Row(5, []string{"4", "2024-01-01", "", "12"}, &out).Reject
	require.Equal(t, "rule:adult", rej.Rule)
	require.Contains(t, rej.Reason, "fields.age >= 18")
}

func TestHeaderMatching(t *testing.T) {
	ds := &ferryv1.Dataset{Name: "d", Key: []string{"id"}, Fields: []*ferryv1.Field{typed("id", tString), typed("first_name", tString)}}
	norm := &ferryv1.ImportProfileSpec{HeaderMatch: ferryv1.HeaderMatch_HEADER_MATCH_NORMALIZED, Mappings: []*ferryv1.FieldMapping{
		{Field: "id", Column: "Student ID"}, {Field: "first_name", Column: "first name", Aliases: []string{"Given Name"}}}}
	p, err := Resolve(norm, ds, []string{" student_id ", "FIRST  NAME"}, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"id", "first_name", RowColumn}, p.Columns())
	_, err = Resolve(norm, ds, []string{"Student-ID", "Given name"}, nil)
	require.NoError(t, err, "an alias matches")
	// Expressions name columns as the profile does; the header matching applies.
	withExpr := &ferryv1.ImportProfileSpec{HeaderMatch: ferryv1.HeaderMatch_HEADER_MATCH_NORMALIZED, Mappings: []*ferryv1.FieldMapping{
		{Field: "id", Column: "Student ID"}, {Field: "first_name", Expr: `upper(row["First Name"])`}}}
	p, err = Resolve(withExpr, ds, []string{"student_id", "first-name"}, nil)
	require.NoError(t, err)
	var out bytes.Buffer
	require.Nil(t, p.Row(2, []string{"s1", "ann"}, &out).Reject)
	require.Equal(t, "\"s1\",\"ANN\",2\n", out.String())
	_, err = Resolve(norm, ds, []string{"student id", "first name", "given name"}, nil)
	require.ErrorContains(t, err, `field "first_name" matches 2 columns of the header`)
	exact := &ferryv1.ImportProfileSpec{Mappings: []*ferryv1.FieldMapping{{Field: "id", Column: "Student ID"}, {Field: "first_name", Column: "First", Aliases: []string{"Given"}}}}
	_, err = Resolve(exact, ds, []string{"student id", "Given"}, nil)
	require.ErrorContains(t, err, `column "Student ID" for field "id" is not in the file's header`)
	_, err = Resolve(exact, ds, []string{"Student ID", "given"}, nil)
	require.ErrorContains(t, err, `no column named "First", "Given" for field "first_name"`)
	expr := &ferryv1.ImportProfileSpec{Mappings: []*ferryv1.FieldMapping{{Field: "id", Column: "Student ID"}, {Field: "first_name", Expr: `row["Nmae"]`}}}
	_, err = Resolve(expr, ds, []string{"Student ID", "Name"}, nil)
	require.ErrorContains(t, err, `the expression of field "first_name" uses column "Nmae", which is not in the file's header`)
}

func TestCheckNamesFieldAndPosition(t *testing.T) {
	ds := &ferryv1.Dataset{Name: "d", Key: []string{"id"}, Fields: []*ferryv1.Field{typed("id", tString), typed("n", tInt), typed("d", tDate), typed("b", tBool)}}
	tests := []struct {
		m    *ferryv1.FieldMapping
		rule *ferryv1.RowRule
		tz   string
		want string
	}{
		{m: &ferryv1.FieldMapping{Field: "n", Expr: "uper(value)"}, want: `field "n": expression line 1, column 1: undeclared reference to 'uper'`},
		{m: &ferryv1.FieldMapping{Field: "n", Expr: "trim(1)"}, want: `field "n": expression line 1, column 1: found no matching overload for 'trim'`},
		{m: &ferryv1.FieldMapping{Field: "n", Expr: `xref("nope", value)`}, want: `field "n": expression`},
		{m: &ferryv1.FieldMapping{Field: "n", CrossReference: &ferryv1.CrossReferenceUse{Table: "nope"}}, want: `field "n": cross-reference table "nope" does not exist`},
		{m: &ferryv1.FieldMapping{Field: "d", DateFormats: []string{"DD/QQ/YYYY"}}, want: `field "d": `},
		{m: &ferryv1.FieldMapping{Field: "n", DateFormats: []string{"DD/MM/YYYY"}}, want: `field "n": date formats need a date or timestamp field, not integer`},
		{m: &ferryv1.FieldMapping{Field: "n", DecimalSeparator: ",", ThousandsSeparator: ","}, want: `both ","`},
		{m: &ferryv1.FieldMapping{Field: "b", TrueWords: []string{"ja"}}, want: `give both true words and false words`},
		{m: &ferryv1.FieldMapping{Field: "n", Rules: &ferryv1.FieldRules{Min: "x"}}, want: `field "n": min "x": not an integer`},
		{m: &ferryv1.FieldMapping{Field: "n", Rules: &ferryv1.FieldRules{Min: "5", Max: "1"}}, want: `min 5 is above max 1`},
		{m: &ferryv1.FieldMapping{Field: "n", Rules: &ferryv1.FieldRules{Pattern: "("}}, want: `pattern "("`},
		{m: &ferryv1.FieldMapping{Field: "n", DefaultValue: "x"}, want: `default value "x": not an integer`},
		{rule: &ferryv1.RowRule{Name: "r", Expr: `"yes"`}, want: `row rule "r": expression`},
		{rule: &ferryv1.RowRule{Name: "r", Expr: "fields.n >"}, want: `row rule "r": expression line 1, column`},
		{tz: "Mars/Olympus", want: `time zone "Mars/Olympus" is not an IANA time zone name`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			s := &ferryv1.ImportProfileSpec{TimeZone: tt.tz}
			if tt.m != nil {
				s.Mappings = []*ferryv1.FieldMapping{{Field: "id", ColumnIndex: 1}, tt.m}
			}
			if tt.rule != nil {
				s.Rules = []*ferryv1.RowRule{tt.rule}
			}
			require.ErrorContains(t, Check(s, ds, []string{"grades"}), tt.want)
		})
	}
}

func TestKeepSource(t *testing.T) {
	ds := &ferryv1.Dataset{Name: "d", Key: []string{"id"}, Fields: []*ferryv1.Field{typed("id", tString)}}
	s := &ferryv1.ImportProfileSpec{WriteMode: ferryv1.WriteMode_WRITE_MODE_INSERT_ONLY}
	p, err := Resolve(s, ds, []string{"id", "other"}, nil)
	require.NoError(t, err)
	require.True(t, p.KeepSource())
	require.Equal(t, []string{"id", RowColumn, SourceColumn}, p.Columns())
	var out bytes.Buffer
	require.Nil(t, p.Row(2, []string{"a", `x"y`}, &out).Reject)
	fields, err := csv.NewReader(&out).Read()
	require.NoError(t, err)
	require.Equal(t, []string{"a", "2", `["a","x\"y"]`}, fields)
}
