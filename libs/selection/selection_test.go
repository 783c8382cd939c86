package selection

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func field(name string, t ferryv1.FieldType) *ferryv1.Field {
	return &ferryv1.Field{Name: name, Type: t}
}

// testFields is a dataset with every field type; left and order are SQL
// keywords.
func testFields() []*ferryv1.Field {
	return []*ferryv1.Field{
		field("id", ferryv1.FieldType_FIELD_TYPE_INTEGER),
		field("name", ferryv1.FieldType_FIELD_TYPE_STRING),
		field("email", ferryv1.FieldType_FIELD_TYPE_STRING),
		field("school", ferryv1.FieldType_FIELD_TYPE_STRING),
		field("status", ferryv1.FieldType_FIELD_TYPE_STRING),
		field("grade", ferryv1.FieldType_FIELD_TYPE_INTEGER),
		field("order", ferryv1.FieldType_FIELD_TYPE_INTEGER),
		field("balance", ferryv1.FieldType_FIELD_TYPE_DECIMAL),
		field("active", ferryv1.FieldType_FIELD_TYPE_BOOLEAN),
		field("born", ferryv1.FieldType_FIELD_TYPE_DATE),
		field("left", ferryv1.FieldType_FIELD_TYPE_DATE),
		field("seen", ferryv1.FieldType_FIELD_TYPE_TIMESTAMP),
		field("meta", ferryv1.FieldType_FIELD_TYPE_JSON),
	}
}

// safeSQL matches what a Where may hold once quoted identifiers are
// removed: keywords, placeholders with casts, operators and parentheses,
// and no quote, semicolon or comment.
var (
	quotedIdent = regexp.MustCompile(`"(?:[^"]|"")*"`)
	safeSQL     = regexp.MustCompile(`^(?:[A-Za-z]+|\$[0-9]+::[a-z]+(?:\[\])?|[<>=!]+|[() ,]|ESCAPE '\\'| )*$`)
)

// requireSafe checks that where holds no text from the selection other
// than the names of fields.
func requireSafe(t testing.TB, where string, fields []*ferryv1.Field) {
	t.Helper()
	rest := quotedIdent.ReplaceAllStringFunc(strings.ReplaceAll(where, ` COLLATE "C"`, ""), func(q string) string {
		for _, f := range fields {
			if q == `"`+strings.ReplaceAll(f.GetName(), `"`, `""`)+`"` {
				return ""
			}
		}
		t.Fatalf("where %s quotes %s, which is not a field", where, q)
		return ""
	})
	require.Regexp(t, safeSQL, rest, "where %s", where)
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		where string
		args  []any
	}{
		{"empty", "", "TRUE", nil},
		{"blank", " \n\t", "TRUE", nil},
		{"and", `grade >= 9 && school == "North"`, `("grade" >= $1::bigint AND "school" = $2::text)`, []any{int64(9), "North"}},
		{"or chain", `grade == 1 || grade == 2 || grade == 3`, `("grade" = $1::bigint OR "grade" = $2::bigint OR "grade" = $3::bigint)`, []any{int64(1), int64(2), int64(3)}},
		{"parentheses", `(grade < 3 || grade > 10) && active`, `(("grade" < $1::bigint OR "grade" > $2::bigint) AND "active")`, []any{int64(3), int64(10)}},
		{"multi-line", "grade > 1 &&\n  // a comment\n  school == 'North'", `("grade" > $1::bigint AND "school" = $2::text)`, []any{int64(1), "North"}},
		{"literal on the left", `9 <= grade`, `"grade" >= $1::bigint`, []any{int64(9)}},
		{"not equal is null-safe", `name != "a"`, `"name" IS DISTINCT FROM $1::text`, []any{"a"}},
		{"not of equal", `!(name == "a")`, `"name" IS DISTINCT FROM $1::text`, []any{"a"}},
		{"not of not equal", `!(name != "a")`, `"name" = $1::text`, []any{"a"}},
		{"not of ordering", `!(balance < 0.5)`, `("balance" >= $1::numeric OR "balance" IS NULL)`, []any{"0.5"}},
		{"de morgan", `!(grade > 1 && name == "a")`, `(("grade" <= $1::bigint OR "grade" IS NULL) OR "name" IS DISTINCT FROM $2::text)`, []any{int64(1), "a"}},
		{"double negation", `!(!(grade > 1) || active)`, `("grade" > $1::bigint AND "active" IS NOT TRUE)`, []any{int64(1)}},
		{"string ordering by code point", `name < "M"`, `"name" < $1::text COLLATE "C"`, []any{"M"}},
		{"is null", `left == null`, `"left" IS NULL`, nil},
		{"is not null", `left != null`, `"left" IS NOT NULL`, nil},
		{"null on the left", `null == left`, `"left" IS NULL`, nil},
		{"not is null", `!(left == null)`, `"left" IS NOT NULL`, nil},
		{"json is null", `meta == null`, `"meta" IS NULL`, nil},
		{"json is not null", `meta != null`, `"meta" IS NOT NULL`, nil},
		{"integer with decimal", `grade < 8.5`, `"grade" < $1::numeric`, []any{"8.5"}},
		{"decimal with integer", `balance == 10`, `"balance" = $1::numeric`, []any{"10"}},
		{"decimal exact text", `balance == 0.10`, `"balance" = $1::numeric`, []any{"0.10"}},
		{"negative decimal", `balance > -0.25`, `"balance" > $1::numeric`, []any{"-0.25"}},
		{"exponent", `balance < 1e3`, `"balance" < $1::numeric`, []any{"1e3"}},
		{"more digits than a double", `balance < 123456789012345678901234567890.123456789`, `"balance" < $1::numeric`, []any{"123456789012345678901234567890.123456789"}},
		{"boolean field", `active`, `"active"`, nil},
		{"not boolean field", `!active`, `"active" IS NOT TRUE`, nil},
		{"boolean equals", `active == false`, `"active" = $1::boolean`, []any{false}},
		{"true", `true`, `$1::boolean`, []any{true}},
		{"not false", `!false`, `NOT $1::boolean`, []any{false}},
		{"date", `born >= date("2010-01-01")`, `"born" >= $1::date`, []any{"2010-01-01"}},
		{"timestamp", `seen >= timestamp("2024-01-31T08:00:00.25+02:00")`, `"seen" >= $1::timestamptz`, []any{utc("2024-01-31T06:00:00.25Z")}},
		{"timestamp with a date", `seen < date("2024-02-01")`, `"seen" < $1::timestamptz`, []any{utc("2024-02-01T00:00:00Z")}},
		{"starts with", `name.startsWith("Ad")`, `"name" LIKE $1::text ESCAPE '\'`, []any{"Ad%"}},
		{"ends with", `email.endsWith("@example.org")`, `"email" LIKE $1::text ESCAPE '\'`, []any{"%@example.org"}},
		{"contains escapes wildcards", `name.contains("a_b%c\\")`, `"name" LIKE $1::text ESCAPE '\'`, []any{`%a\_b\%c\\%`}},
		{"not contains", `!name.contains("x")`, `("name" NOT LIKE $1::text ESCAPE '\' OR "name" IS NULL)`, []any{"%x%"}},
		{"in strings", `status in ["active", "pending"]`, `"status" = ANY($1::text[])`, []any{[]string{"active", "pending"}}},
		{"in integers", `grade in [1, 2]`, `"grade" = ANY($1::bigint[])`, []any{[]int64{1, 2}}},
		{"in decimals", `balance in [1, 2.50]`, `"balance" = ANY($1::numeric[])`, []any{[]string{"1", "2.50"}}},
		{"in booleans", `active in [true]`, `"active" = ANY($1::boolean[])`, []any{[]bool{true}}},
		{"in dates", `born in [date("2010-01-01"), date("2011-02-03")]`, `"born" = ANY($1::date[])`, []any{[]string{"2010-01-01", "2011-02-03"}}},
		{"in timestamps", `seen in [timestamp("2024-01-01T00:00:00Z"), date("2024-01-02")]`, `"seen" = ANY($1::timestamptz[])`,
			[]any{[]time.Time{utc("2024-01-01T00:00:00Z"), utc("2024-01-02T00:00:00Z")}}},
		{"in empty list", `grade in []`, `"grade" = ANY($1::bigint[])`, []any{[]int64{}}},
		{"not in", `!(status in ["a"])`, `("status" <> ALL($1::text[]) OR "status" IS NULL)`, []any{[]string{"a"}}},
		{"fields ordering", `grade < order`, `"grade" < "order"`, nil},
		{"fields integer and decimal", `grade <= balance`, `"grade" <= "balance"`, nil},
		{"fields string ordering", `!(name < school)`, `("name" >= "school" COLLATE "C" OR "name" IS NULL OR "school" IS NULL)`, nil},
		{"fields equal", `name == school`, `"name" IS NOT DISTINCT FROM "school"`, nil},
		{"fields not equal", `name != school`, `"name" IS DISTINCT FROM "school"`, nil},
		{"not fields equal", `!(born == left)`, `"born" IS DISTINCT FROM "left"`, nil},
		{"unicode", `name == "Zoë 🚀" && email.startsWith("ü")`, `("name" = $1::text AND "email" LIKE $2::text ESCAPE '\')`, []any{"Zoë 🚀", "ü%"}},
	}
	fields := testFields()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Compile(tt.src, fields, []string{"id"}, nil, 0)
			require.NoError(t, err)
			require.Equal(t, tt.where, q.Where)
			require.Equal(t, tt.args, q.Args)
			require.Equal(t, `"id"`, q.OrderBy)
			requireSafe(t, q.Where, fields)
			require.NoError(t, Check(tt.src, fields))
		})
	}
}

func TestCompileArgBase(t *testing.T) {
	q, err := Compile(`grade > 1 && name.startsWith("A")`, testFields(), []string{"id"}, nil, 3)
	require.NoError(t, err)
	require.Equal(t, `("grade" > $4::bigint AND "name" LIKE $5::text ESCAPE '\')`, q.Where)
	require.Equal(t, []any{int64(1), "A%"}, q.Args)

	_, err = Compile(`grade > 1`, testFields(), []string{"id"}, nil, -1)
	require.ErrorContains(t, err, "negative argument base")
}

func TestCompileOrderBy(t *testing.T) {
	tests := []struct {
		name    string
		key     []string
		sort    []*ferryv1.SortKey
		orderBy string
	}{
		{"key only", []string{"id"}, nil, `"id"`},
		{"sort then key", []string{"id"}, []*ferryv1.SortKey{{Field: "grade", Descending: true}}, `"grade" DESC, "id"`},
		{"key in sort", []string{"id"}, []*ferryv1.SortKey{{Field: "id", Descending: true}}, `"id" DESC`},
		{"compound key", []string{"school", "name"}, []*ferryv1.SortKey{{Field: "left"}, {Field: "order", Descending: true}, {Field: "name"}},
			`"left", "order" DESC, "name", "school"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Compile("", testFields(), tt.key, tt.sort, 0)
			require.NoError(t, err)
			require.Equal(t, tt.orderBy, q.OrderBy)
		})
	}
}

func TestCompileOrderByErrors(t *testing.T) {
	tests := []struct {
		name string
		key  []string
		sort []*ferryv1.SortKey
		err  string
	}{
		{"unknown sort field", []string{"id"}, []*ferryv1.SortKey{{Field: "grde"}}, `sort by "grde": unknown field "grde" (did you mean "grade"?)`},
		{"sort field twice", []string{"id"}, []*ferryv1.SortKey{{Field: "grade"}, {Field: "grade", Descending: true}}, `sort by "grade": the field is listed twice`},
		{"SQL as sort field", []string{"id"}, []*ferryv1.SortKey{{Field: `id"; DROP TABLE t; --`}}, `sort by "id\"; DROP TABLE t; --": unknown field`},
		{"unknown key", []string{"uid"}, nil, `dataset key "uid": unknown field "uid" (did you mean "id"?)`},
		{"no key", nil, nil, "the dataset has no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile("", testFields(), tt.key, tt.sort, 0)
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestCompileQuotesFieldNames(t *testing.T) {
	fields := []*ferryv1.Field{field(`we"ird`, ferryv1.FieldType_FIELD_TYPE_STRING), field("id", ferryv1.FieldType_FIELD_TYPE_INTEGER)}
	q, err := Compile("id > 1", fields, []string{"id"}, []*ferryv1.SortKey{{Field: `we"ird`}}, 0)
	require.NoError(t, err)
	require.Equal(t, `"we""ird", "id"`, q.OrderBy)
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		err  string // the whole message
	}{
		{"unknown field", `gradee > 1`, `line 1, column 1: unknown field "gradee" (did you mean "grade"?)`},
		{"unknown field, no close match", `colour == "red"`, `line 1, column 1: unknown field "colour"`},
		{"unknown field in case", `Grade > 1`, `line 1, column 1: unknown field "Grade" (did you mean "grade"?)`},
		{"unknown field on a later line", "grade > 1 &&\n  foo == 2", `line 2, column 3: unknown field "foo"`},
		{"position counts characters", `name == "é" && nme == "x"`, `line 1, column 16: unknown field "nme" (did you mean "name"?)`},
		{"every problem", `foo > 1 && grade + 1 > 2`, "line 1, column 1: unknown field \"foo\"\nline 1, column 18: operator + is not supported"},
		{"arithmetic", `grade + 1 > 3`, `line 1, column 7: operator + is not supported`},
		{"negation", `-grade < 1`, `line 1, column 1: operator - is not supported`},
		{"conditional", `grade > 1 ? active : false`, `line 1, column 11: the conditional operator ?: is not supported`},
		{"index", `grade[0] == 1`, `line 1, column 6: indexing with [] is not supported`},
		{"function", `size(name) > 3`, `line 1, column 1: function size is not supported`},
		{"member function", `name.matches("^A")`, `line 1, column 6: function matches is not supported`},
		{"unknown function", `pg_sleep(10) == 1`, `line 1, column 1: function pg_sleep is not supported`},
		{"conversion", `string(grade) == "1"`, `line 1, column 1: function string is not supported`},
		{"macro", `[1, 2].exists(x, x == grade)`, `line 1, column 8: macro exists is not supported`},
		{"has", `has(meta.x)`, `line 1, column 1: macro has is not supported`},
		{"map", `{"a": 1} == meta`, `line 1, column 1: maps are not supported`},
		{"list outside in", `[1] == grade`, `line 1, column 1: a list is only supported after in, as in status in ["a", "b"]`},
		{"json path", `meta.x == 1`, `line 1, column 1: selecting .x of field meta is not supported`},
		{"type mismatch", `grade == "x"`, `line 1, column 7: grade is an integer field and cannot be compared with a string`},
		{"type mismatch, literal first", `"x" < grade`, `line 1, column 5: grade is an integer field and cannot be compared with a string`},
		{"date as string", `born == "2010-01-01"`, `line 1, column 6: born is a date field and cannot be compared with a string: write date("2010-01-01")`},
		{"timestamp as string", `seen > "2024-01-01T00:00:00Z"`, `line 1, column 6: seen is a timestamp field and cannot be compared with a string: write timestamp("2024-01-01T00:00:00Z")`},
		{"date with a timestamp", `born > timestamp("2024-01-01T00:00:00Z")`, `line 1, column 6: born is a date field: compare it with a date, as in date("2024-01-31"), not a timestamp`},
		{"bad date", `born >= date("2010-13-01")`, `line 1, column 14: "2010-13-01" is not a date: write YYYY-MM-DD, as in date("2024-01-31")`},
		{"bad timestamp", `seen > timestamp("yesterday")`, `line 1, column 18: "yesterday" is not an RFC 3339 timestamp, as in timestamp("2024-01-31T08:00:00Z")`},
		{"nanoseconds", `seen > timestamp("2024-01-01T00:00:00.0000001Z")`, `line 1, column 18: "2024-01-01T00:00:00.0000001Z" is more precise than a microsecond, the precision of a timestamp field`},
		{"timestamp of a number", `seen > timestamp(5)`, `line 1, column 8: timestamp() takes one string literal, as in timestamp("2024-01-31T08:00:00Z")`},
		{"date alone", `date("2024-01-01")`, `line 1, column 1: date() is a value, not a condition: compare a field with it`},
		{"integer equals decimal literal", `grade == 1.5`, `line 1, column 7: grade is an integer field: it can equal only an integer, not 1.5`},
		{"integer field equals decimal field", `grade == balance`, `line 1, column 7: grade is an integer field and balance is a decimal field: they can be compared with <, <=, > and >=, not with ==`},
		{"fields of different types", `name == grade`, `line 1, column 6: name is a string field and grade is an integer field: they cannot be compared`},
		{"date and timestamp fields", `born < seen`, `line 1, column 6: born is a date field and seen is a timestamp field: they cannot be compared`},
		{"json comparison", `meta == 5`, `line 1, column 6: meta is a JSON field: it can only be compared with null (meta == null, meta != null)`},
		{"json field comparison", `meta == name`, `line 1, column 6: meta is a JSON field: it can only be compared with null`},
		{"json in", `meta in [1]`, `line 1, column 6: meta is a JSON field: it can only be compared with null (meta == null, meta != null)`},
		{"not a condition", `grade`, `line 1, column 1: grade is an integer field, not a condition: compare it with a value`},
		{"string is not a condition", `"abc"`, `line 1, column 1: a selection is a condition, not a string`},
		{"two values", `1 < 2`, `line 1, column 3: < compares two values: one side must be a field`},
		{"null ordering", `grade < null`, `line 1, column 7: null can only be compared with == and !=`},
		{"null in list", `status in ["a", null]`, `line 1, column 17: null cannot be in a list: write status == null`},
		{"field in list", `status in [name]`, `line 1, column 12: a list after in holds values, not fields`},
		{"in without list", `status in name`, `line 1, column 11: in needs a list of values on its right, as in status in ["a", "b"]`},
		{"in without field", `"a" in ["a"]`, `line 1, column 5: in needs a field on its left, as in status in ["a", "b"]`},
		{"in of mixed types", `grade in [1, "2"]`, `line 1, column 14: grade is an integer field and cannot be compared with a string`},
		{"starts with on an integer", `grade.startsWith("1")`, `line 1, column 7: grade is an integer field: startsWith needs a string field`},
		{"starts with a field", `name.startsWith(school)`, `line 1, column 6: startsWith takes one string literal, as in name.startsWith("abc")`},
		{"unsigned", `grade == 5u`, `line 1, column 10: unsigned integers are not supported: write 5`},
		{"bytes", `name == b"x"`, `line 1, column 9: bytes literals are not supported`},
		{"NUL", `name == "a\x00"`, `line 1, column 9: a string may not contain the NUL character (\0)`},
	}
	fields := testFields()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.src, fields, []string{"id"}, nil, 0)
			require.Error(t, err)
			var ce *CompileError
			require.True(t, errors.As(err, &ce), "%T: %v", err, err)
			require.Equal(t, tt.err, err.Error())
			require.Equal(t, ce.Issues[0].Line, ce.Line)
			require.Equal(t, ce.Issues[0].Column, ce.Column)
			require.Equal(t, err.Error(), Check(tt.src, fields).Error())
		})
	}
}

func TestCompileSyntaxError(t *testing.T) {
	for _, src := range []string{`grade >`, `name; DROP TABLE t`, `name OR 1=1`, `grade > 1 /* c */`} {
		t.Run(src, func(t *testing.T) {
			err := Check(src, testFields())
			var ce *CompileError
			require.True(t, errors.As(err, &ce), "%v", err)
			require.Equal(t, 1, ce.Line)
			require.Positive(t, ce.Column)
			require.Contains(t, ce.Message, "Syntax error")
		})
	}
}

func TestCompileTooLong(t *testing.T) {
	src := strings.Repeat("grade > 1 || ", maxLength/13) + "active"
	var ce *CompileError
	require.True(t, errors.As(Check(src, testFields()), &ce))
}

func TestCompileFieldsErrors(t *testing.T) {
	tests := []struct {
		name   string
		fields []*ferryv1.Field
		err    string
	}{
		{"duplicate", []*ferryv1.Field{field("a", ferryv1.FieldType_FIELD_TYPE_STRING), field("a", ferryv1.FieldType_FIELD_TYPE_INTEGER)}, `field "a" is declared twice`},
		{"no type", []*ferryv1.Field{field("a", ferryv1.FieldType_FIELD_TYPE_UNSPECIFIED)}, `field "a" has type FIELD_TYPE_UNSPECIFIED`},
		{"no name", []*ferryv1.Field{field("", ferryv1.FieldType_FIELD_TYPE_STRING)}, `a field has no name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, Check("true", tt.fields), tt.err)
		})
	}
}

// TestCompileInjection shows that values from a selection travel only as
// arguments and that names from it are only ever fields.
func TestCompileInjection(t *testing.T) {
	values := []struct {
		src, arg string
		value    string // the user's value, which the SQL must not contain
	}{
		{`name == "x'; DROP TABLE t; --"`, "x'; DROP TABLE t; --", "DROP TABLE"},
		{`name == 'O\'Brien'`, "O'Brien", "Brien"},
		{`name == "\"; DELETE FROM t; --"`, `"; DELETE FROM t; --`, "DELETE"},
		{`name == "$1"`, "$1", "$1::text)"},
		{`name.startsWith("%_\\")`, `\%\_\\%`, `%_`},
		{`name.endsWith("') OR TRUE --")`, `%') OR TRUE --`, "OR TRUE"},
		{`name.contains("*/ ; SELECT pg_sleep(10)")`, `%*/ ; SELECT pg\_sleep(10)%`, "pg_sleep"},
		{`status in ["a', 'b", "c\"d"]`, "", "a', 'b"},
		{`name == "Zoë 🚀 \u202e ' ; --"`, "Zoë 🚀 \u202e ' ; --", "🚀"},
		{`name < "\u0000x"`, "", ""},
		{`born == date("2010-01-01'); DROP TABLE t; --")`, "", ""},
	}
	fields := testFields()
	for _, tt := range values {
		t.Run(tt.src, func(t *testing.T) {
			q, err := Compile(tt.src, fields, []string{"id"}, nil, 0)
			if tt.arg == "" && tt.value == "" {
				// Not a valid value at all: refused with a position.
				var ce *CompileError
				require.True(t, errors.As(err, &ce), "%v", err)
				return
			}
			require.NoError(t, err)
			requireSafe(t, q.Where, fields)
			require.NotContains(t, q.Where, tt.value)
			if tt.arg != "" {
				require.Equal(t, []any{tt.arg}, q.Args)
			}
		})
	}

	names := []struct{ src, err string }{
		{`DROP == 1`, `line 1, column 1: unknown field "DROP"`},
		{`select == 1`, `line 1, column 1: unknown field "select"`},
		{`pg_catalog.pg_user == 1`, `line 1, column 1: unknown field "pg_catalog"`},
		{`id == 1 || current_user == "postgres"`, `line 1, column 12: unknown field "current_user"`},
		{`ïd == 1`, `line 1, column 1: Syntax error: token recognition error at: 'ï'`},
		{`"id" == 1`, `line 1, column 6: == compares two values: one side must be a field`},
	}
	for _, tt := range names {
		t.Run(tt.src, func(t *testing.T) {
			_, err := Compile(tt.src, fields, []string{"id"}, nil, 0)
			require.EqualError(t, err, tt.err)
		})
	}
}
