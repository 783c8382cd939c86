package expr

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		opts Options
		err  string // the whole message
		line int
		col  int
	}{
		{"undeclared function", `upper(uper(row.Name))`, Options{},
			"line 1, column 7: undeclared reference to 'uper'", 1, 7},
		{"undeclared function on a later line", "trim(row.Name) +\n  uper(row.Email)", Options{},
			"line 2, column 3: undeclared reference to 'uper'", 2, 3},
		{"position counts characters", `"é" + uper(row.Name)`, Options{},
			"line 1, column 7: undeclared reference to 'uper'", 1, 7},
		{"undeclared variable", `upper(rows.Name)`, Options{},
			"line 1, column 7: undeclared reference to 'rows'", 1, 7},
		{"wrong argument type", `upper(1)`, Options{},
			"line 1, column 1: found no matching overload for 'upper' applied to '(int)'", 1, 1},
		{"wrong argument count", `substring("abc")`, Options{},
			"line 1, column 1: found no matching overload for 'substring' applied to '(string)'", 1, 1},
		{"too many arguments", `concat("1", "2", "3", "4", "5", "6", "7", "8", "9")`, Options{},
			"line 1, column 1: found no matching overload for 'concat' applied to '(string, string, string, string, string, string, string, string, string)'", 1, 1},
		{"operator types", `row.Name + 1`, Options{},
			"line 1, column 10: found no matching overload for '+' applied to '(string, int)'", 1, 10},
		{"syntax error", `upper(row.Name`, Options{},
			"line 1, column 15: Syntax error: missing ')' at '<EOF>'", 1, 15},
		{"bad constant regex", `regex_extract(row.Email, "([a-z]+")`, Options{},
			`line 1, column 26: regex_extract pattern "([a-z]+" is not a valid regular expression: missing closing )`, 1, 26},
		{"bad regex in matches", `row.Email.matches("([a-z]+")`, Options{},
			"line 1, column 19: invalid matches argument", 1, 19},
		{"constant group out of range", `regex_extract(row.Email, "@(.*)", 3)`, Options{},
			`line 1, column 35: regex_extract group 3 does not exist: the pattern "@(.*)" has 1 capture groups (0 is the whole match)`, 1, 35},
		{"bad constant date format", `parse_date(row.Born, "dd.MM.yyyy")`, Options{},
			`line 1, column 22: date format "dd.MM.yyyy" is not valid: "dd" is not a format token (use DD or D for the day of the month)`, 1, 22},
		{"date format with zone", `parse_date(row.Born, "YYYY-MM-DD HH:mm Z")`, Options{},
			`line 1, column 22: date format YYYY-MM-DD HH:mm Z has a UTC offset (Z), which a date cannot hold; use parse_timestamp`, 1, 22},
		{"bad constant timestamp format", `parse_timestamp(row.Born, "YYYY-MM-DD hh:mm", "UTC")`, Options{},
			`line 1, column 27: date format "YYYY-MM-DD hh:mm" is not valid: hh is an hour on a 12-hour clock and needs A (AM/PM)`, 1, 27},
		{"bad zone", `parse_timestamp(row.Born, "DD.MM.YYYY", "Europe/Berln")`, Options{},
			`line 1, column 41: unknown time zone "Europe/Berln": name an IANA time zone such as Europe/Paris or UTC`, 1, 41},
		{"local zone", `parse_timestamp(row.Born, "DD.MM.YYYY", "Local")`, Options{},
			`line 1, column 41: time zone "Local" depends on the machine: name an IANA time zone such as Europe/Paris or UTC`, 1, 41},
		{"long decimal separator", `parse_number(row.Amount, ", ", ".")`, Options{},
			`line 1, column 26: parse_number decimal separator ", " must be one character`, 1, 26},
		{"long thousands separator", `parse_number(row.Amount, ",", "..")`, Options{},
			`line 1, column 31: parse_number thousands separator ".." must be one character, or "" for none`, 1, 31},
		{"same separators", `parse_number(row.Amount, ",", ",")`, Options{},
			`line 1, column 26: parse_number separators are not valid: decimal separator and thousands separator are both ","`, 1, 26},
		{"bool word in both lists", `parse_bool(row.Active, ["ja", "x"], ["nein", "X"])`, Options{},
			`line 1, column 24: parse_bool words are not valid: boolean word "x" means both true and false`, 1, 24},
		{"unknown table", `xref("currency", row.Country)`, Options{Tables: []string{"countries", "categories"}},
			`line 1, column 6: unknown cross-reference table "currency": the tables are categories, countries`, 1, 6},
		{"no tables", `xref("countries", row.Country, "")`, Options{Tables: []string{}},
			`line 1, column 6: unknown cross-reference table "countries": there are no cross-reference tables`, 1, 6},
		{"list result", `split(row.Name, " ")`, Options{},
			"line 1, column 1: a field expression must yield a string, number, bool or null, but this expression yields list(string)", 1, 1},
		{"map result", `row`, Options{},
			"line 1, column 1: a field expression must yield a string, number, bool or null, but this expression yields map(string, string)", 1, 1},
		{"timestamp result", `timestamp("2024-05-01T00:00:00Z")`, Options{},
			"line 1, column 1: a field expression must yield a string, number, bool or null, but this expression yields a timestamp (convert it with string())", 1, 1},
		{"row rule yields a string", `row.Name`, Options{RowRule: true},
			"line 1, column 1: a row rule must yield a bool, but this expression yields string", 1, 1},
		{"row rule yields null", `null`, Options{RowRule: true},
			"line 1, column 1: a row rule must yield a bool, but this expression yields null", 1, 1},
		{"result type is reported at the start", "  (split(row.Name, \" \"))", Options{},
			"line 1, column 4: a field expression must yield a string, number, bool or null, but this expression yields list(string)", 1, 4},
		{"constant conversion", `int("x")`, Options{},
			"line 1, column 1: type conversion error from 'string' to 'int'", 1, 1},
		{"two problems", `uper(row.Name) + lowr(row.Email)`, Options{},
			"line 1, column 1: undeclared reference to 'uper'\nline 1, column 18: undeclared reference to 'lowr'", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.src, tt.opts)
			require.Nil(t, p)
			var ce *CompileError
			require.True(t, errors.As(err, &ce), "%T: %v", err, err)
			require.Equal(t, tt.err, err.Error())
			require.Equal(t, tt.line, ce.Line)
			require.Equal(t, tt.col, ce.Column)
			require.Equal(t, ce.Message, ce.Issues[0].Message)
			require.NotContains(t, err.Error(), "in container")
		})
	}
}

func TestCompileTablesNotChecked(t *testing.T) {
	// Without Options.Tables any constant table name compiles; a name known
	// only when the expression runs is never checked.
	for _, opts := range []Options{{}, {Tables: []string{"countries"}}} {
		_, err := Compile(`xref("currencies", row.Country) + xref(row.Notes, "x", "")`, Options{Tables: nil})
		require.NoError(t, err)
		_, err = Compile(`xref(row.Notes, "x", "")`, opts)
		require.NoError(t, err)
	}
}

func TestResultType(t *testing.T) {
	tests := []struct {
		src     string
		rowRule bool
		want    string
	}{
		{src: `trim(row.Name)`, want: "string"},
		{src: `size(row.Name)`, want: "int"},
		{src: `uint(1)`, want: "uint"},
		{src: `double(parse_number(row.Amount, ",", "."))`, want: "double"},
		{src: `parse_bool(row.Active)`, want: "bool"},
		{src: `null`, want: "null"},
		{src: `row.Notes == "" ? dyn(null) : row.Notes`, want: "dyn"},
		{src: `fields.end >= fields.start`, rowRule: true, want: "bool"},
		{src: `fields.valid`, rowRule: true, want: "dyn"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Compile(tt.src, Options{RowRule: tt.rowRule})
			require.NoError(t, err)
			require.Equal(t, tt.want, p.ResultType())
		})
	}
}

func TestColumnsAndTables(t *testing.T) {
	tests := []struct {
		src     string
		columns []string
		tables  []string
	}{
		{src: `upper(trim(row["Name"]))`, columns: []string{"Name"}},
		{src: `concat(row["First Name"], " ", row.Last, row["First Name"])`, columns: []string{"First Name", "Last"}},
		{src: `row.b + row.a + row.c + row.a`, columns: []string{"a", "b", "c"}},
		{src: `has(row.Phone) ? row.Phone : row.Mobile`, columns: []string{"Mobile", "Phone"}},
		{src: `has(row.Phone) ? "yes" : "no"`},
		{src: `row[value] + cols[0] + value`},
		{src: `cols.exists(row, row == "x") ? "a" : row.Real`, columns: []string{"Real"}},
		{src: `[{"Name": "x"}].exists(m, m.Name == "x")`},
		{src: `xref("countries", row.Country) + xref("categories", row.Cat, "") + xref("countries", "DE")`,
			columns: []string{"Cat", "Country"}, tables: []string{"categories", "countries"}},
		{src: `xref(row.Table, row.Value)`, columns: []string{"Table", "Value"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Compile(tt.src, Options{})
			require.NoError(t, err)
			require.Equal(t, tt.columns, p.Columns())
			require.Equal(t, tt.tables, p.Tables())
		})
	}
}

func TestProgramsSkipCostTrackingOnlyWhenBounded(t *testing.T) {
	tests := []struct {
		src  string
		fast bool
	}{
		{`upper(trim(row["Name"]))`, true},
		{`parse_date(row.Born, "DD.MM.YYYY")`, true},
		{`concat(row.a, row.b, row.c, row.d, row.e, row.f, row.g, row.h)`, true},
		{`xref("countries", row.Country)`, true},
		{`upper(xref("countries", row.Country))`, false}, // the table's values have no size bound
		{`cols.exists(c, c == "x")`, true},
		{`split(row.Name, ",").exists(c, c == "x")`, true},
		{`split(row.Name, ",").exists(c, upper(c) == "X")`, false}, // split's parts have no size estimate
		{`[1,2,3,4,5,6,7,8,9,10].exists(a, [1,2,3,4,5,6,7,8,9,10].exists(b, [1,2,3,4,5,6,7,8,9,10].exists(c, [1,2,3,4,5,6,7,8,9,10].exists(d, [1,2,3,4,5,6,7,8,9,10].exists(e, a+b+c+d+e < 0)))))`, false},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Compile(tt.src, Options{})
			require.NoError(t, err)
			require.Equal(t, tt.fast, p.untracked())
		})
	}
	p, err := Compile(`fields.a == 1`, Options{RowRule: true})
	require.NoError(t, err)
	require.False(t, p.untracked(), "row rules are always tracked")
}
