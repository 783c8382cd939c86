package expr

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEvalInputs(t *testing.T) {
	tests := []struct {
		name string
		src  string
		in   *Input
		want any
		err  string
	}{
		{name: "row by name", src: `row["Email"]`, in: testInput(), want: "ADA@Example.com"},
		{name: "row as field", src: `row.Country`, in: testInput(), want: "GB"},
		{name: "duplicate header, first wins", src: `row.Name`, in: testInput(), want: "  Ada Lovelace "},
		{name: "second duplicate by position", src: `cols[7]`, in: testInput(), want: "second"},
		{name: "cols by position", src: `cols[0] + "|" + cols[5]`, in: testInput(), want: "  Ada Lovelace |GB"},
		{name: "value", src: `trim(value)`, in: testInput(), want: "Ada Lovelace"},
		{name: "empty value", src: `value`, in: &Input{}, want: ""},
		{name: "short record reads as empty", src: `row.b`, in: &Input{Header: []string{"a", "b"}, Record: []string{"1"}}, want: ""},
		{name: "dynamic key", src: `row[value]`, in: &Input{Header: []string{"a", "b"}, Record: []string{"1", "2"}, Value: "b"}, want: "2"},
		{name: "iterate header names", src: `join(row.map(k, k), ",")`, in: testInput(), want: "Name,Email,Born,Amount,Active,Country,Notes"},
		{name: "row equals a map", src: `row == {"a": "1", "b": ""}`, in: &Input{Header: []string{"a", "b"}, Record: []string{"1"}}, want: true},
		{name: "missing column", src: `upper(row.Emial)`, in: testInput(), err: `no column "Emial" in the file`},
		{name: "missing column by index", src: `row["E-mail"]`, in: testInput(), err: `no column "E-mail" in the file`},
		{name: "missing column by dynamic key", src: `row[value]`, in: testInput(), err: `no column "  Ada Lovelace " in the file`},
		{name: "missing position", src: `cols[8]`, in: testInput(), err: `no column 8 in the file: this row has 8 columns, cols[0] to cols[7]`},
		{name: "negative position", src: `cols[size(value) - 20]`, in: testInput(), err: `no column -5 in the file: this row has 8 columns, cols[0] to cols[7]`},
		{name: "no columns", src: `cols[0]`, in: &Input{}, err: `no column 0 in the file: this row has no columns`},
		{name: "fields is empty in a field expression", src: `fields.age`, in: &Input{Fields: map[string]any{"age": int64(3)}}, err: `no field "age" in the row`},
		{name: "size of fields in a field expression", src: `size(fields)`, in: &Input{Fields: map[string]any{"age": int64(3)}}, want: int64(0)},
		{name: "dyn list result", src: `dyn(split(value, ","))`, in: testInput(), err: `the expression yields a list, not a string, number, bool or null`},
		{name: "dyn map result", src: `dyn(row)`, in: testInput(), err: `the expression yields a map, not a string, number, bool or null`},
		{name: "other maps keep CEL's message", src: `{"a": "x"}[value]`, in: testInput(), err: `no such key:   Ada Lovelace `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := run(t, tt.src, Options{}, tt.in)
			if tt.err != "" {
				require.Nil(t, got)
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRowRules(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name   string
		src    string
		fields map[string]any
		want   bool
		err    string
	}{
		{name: "dates in order", src: `fields.end_date >= fields.start_date`,
			fields: map[string]any{"start_date": day(2024, 1, 1), "end_date": day(2024, 2, 1)}, want: true},
		{name: "dates out of order", src: `fields.end_date >= fields.start_date`,
			fields: map[string]any{"start_date": day(2024, 3, 1), "end_date": day(2024, 2, 1)}, want: false},
		{name: "same instant", src: `fields.end >= fields.start`,
			fields: map[string]any{"start": day(2024, 1, 1), "end": day(2024, 1, 1)}, want: true},
		{name: "timestamp constant", src: `fields.created < timestamp("2025-01-01T00:00:00Z")`,
			fields: map[string]any{"created": day(2024, 6, 1)}, want: true},
		{name: "age null", src: `fields.age == null || fields.age >= 18`, fields: map[string]any{"age": nil}, want: true},
		{name: "age under 18", src: `fields.age == null || fields.age >= 18`, fields: map[string]any{"age": int64(17)}, want: false},
		{name: "age 18", src: `fields.age == null || fields.age >= 18`, fields: map[string]any{"age": int64(18)}, want: true},
		{name: "age as double", src: `fields.age == null || fields.age >= 18`, fields: map[string]any{"age": 17.5}, want: false},
		{name: "string and bool fields", src: `fields.active && fields.name.startsWith("A")`,
			fields: map[string]any{"active": true, "name": "Ada"}, want: true},
		{name: "presence test", src: `!has(fields.phone) || fields.phone != ""`, fields: map[string]any{}, want: true},
		{name: "row is available", src: `fields.name == trim(row.Name)`, fields: map[string]any{"name": "Ada Lovelace"}, want: true},
		{name: "nil fields", src: `size(fields) == 0`, want: true},
		{name: "missing field", src: `fields.age >= 18`, fields: map[string]any{}, err: `no field "age" in the row`},
		{name: "wrong type", src: `fields.age == null || fields.age >= 18`, fields: map[string]any{"age": "x"},
			err: `operator >= does not apply to the types of these values`},
		{name: "not a bool", src: `fields.name`, fields: map[string]any{"name": "x"}, err: `the row rule yields a value of type string, not a bool`},
		{name: "null is not a bool", src: `fields.age`, fields: map[string]any{"age": nil}, err: `the row rule yields null, not a bool`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testInput()
			in.Fields = tt.fields
			got, err := run(t, tt.src, Options{RowRule: true}, in)
			if tt.err != "" {
				require.Nil(t, got)
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// nested makes a comprehension that loops len^depth times.
func nested(depth int) string {
	list := "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"
	vars := "abcdefgh"
	inner := "a < 0"
	for i := 1; i < depth; i++ {
		inner = fmt.Sprintf("%c + %s", vars[i], inner)
	}
	src := inner
	for i := depth - 1; i >= 0; i-- {
		src = fmt.Sprintf("%s.exists(%c, %s)", list, vars[i], src)
	}
	return src
}

func TestCostLimit(t *testing.T) {
	// 10^5 iterations cost more than the default limit.
	p, err := Compile(nested(5), Options{})
	require.NoError(t, err)
	got, err := p.Eval(testInput())
	require.Nil(t, got)
	require.True(t, errors.Is(err, ErrCostLimit))
	require.EqualError(t, err, "expression exceeded its cost limit of 100000")

	// 10^3 iterations are within it, but not within a lower limit.
	p, err = Compile(nested(3), Options{})
	require.NoError(t, err)
	got, err = p.Eval(testInput())
	require.NoError(t, err)
	require.Equal(t, false, got)
	p, err = Compile(nested(3), Options{CostLimit: 1000})
	require.NoError(t, err)
	_, err = p.Eval(testInput())
	require.EqualError(t, err, "expression exceeded its cost limit of 1000")

	// Text functions are charged by length: a cell beyond the size bound of
	// the untracked path is tracked, and a megabyte is too much.
	p, err = Compile(`upper(trim(row.Name))`, Options{})
	require.NoError(t, err)
	require.True(t, p.untracked())
	in := &Input{Header: []string{"Name"}, Record: []string{strings.Repeat("x", 1<<20)}}
	_, err = p.Eval(in)
	require.EqualError(t, err, "expression exceeded its cost limit of 100000")
	in.Record[0] = strings.Repeat("x", boundedCellBytes+1)
	_, err = p.Eval(in)
	require.NoError(t, err)

	p, err = Compile(`upper(trim(row.Name))`, Options{CostLimit: 10})
	require.NoError(t, err)
	require.False(t, p.untracked())
	_, err = p.Eval(&Input{Header: []string{"Name"}, Record: []string{"Ada"}})
	require.NoError(t, err)
	_, err = p.Eval(&Input{Header: []string{"Name"}, Record: []string{strings.Repeat("x", 200)}})
	require.EqualError(t, err, "expression exceeded its cost limit of 10")
}

// TestStaticEstimateBoundsActualCost checks the assumption behind the
// untracked path: for inputs within the bounds, the cost CEL tracks never
// exceeds the estimate made at compile time.
func TestStaticEstimateBoundsActualCost(t *testing.T) {
	sources := []string{
		`upper(trim(row["Name"]))`,
		`lower(value) + upper(cols[1])`,
		`concat(row.a, row.b, row.a, row.b, row.a, row.b, row.a, row.b)`,
		`coalesce(row.a, row.b, value) + default(row.a, row.b)`,
		`join(cols, ",")`,
		`join(["a", "b", "c"], value)`,
		`size(split(row.a, ","))`,
		`size(split(row.a, ""))`,
		`substring(row.a, 1) + substring(value, 0, 2)`,
		`replace(row.a, " ", "--")`,
		`replace(row.a, "a", value)`,
		`regex_extract(row.a, "(a+)b?")`,
		`regex_extract(row.a, value, 0)`,
		`parse_date(row.a)`,
		`parse_date(row.a, "DD.MM.YYYY")`,
		`parse_timestamp(row.a, "YYYY-MM-DD HH:mm", "Europe/Berlin")`,
		`parse_number(row.a, ",", ".")`,
		`parse_bool(row.a, ["ja", "j"], ["nein", "n"])`,
		`xref("t", row.a, value)`,
		`cols.exists(c, c == "x")`,
		`row.exists(k, k == value)`,
		`split(row.a, ",").exists(c, c == "x")`,
		`row.a + row.b + value == cols[0]`,
		`row.a.contains(value) && row.b.matches("^a+$")`,
		`size(row.a) + size(cols) + size(row)`,
		nested(3),
	}
	cells := []string{
		strings.Repeat("a", boundedCellBytes),
		strings.Repeat(" ", boundedCellBytes),
		strings.Repeat("\xff", boundedCellBytes),
		strings.Repeat("é", boundedCellBytes/2),
		strings.Repeat("a,", boundedCellBytes/2),
		"",
	}
	header := make([]string, boundedColumns)
	for i := range header {
		header[i] = fmt.Sprintf("%s%04d", strings.Repeat("h", boundedCellBytes-4), i)
	}
	header[0], header[1], header[2] = "a", "b", "Name"
	var inputs []*Input
	for _, cell := range cells {
		record := make([]string, boundedColumns)
		for i := range record {
			record[i] = cell
		}
		inputs = append(inputs, &Input{Header: header, Record: record, Value: cell, Lookup: mapLookup{"t": {cell: cell}}})
	}
	e, err := environment()
	require.NoError(t, err)
	for _, src := range sources {
		// A high limit lets every expression run to its end, so that its
		// whole cost is compared with the estimate.
		p, err := Compile(src, Options{CostLimit: 1 << 40})
		require.NoError(t, err, src)
		require.True(t, p.untracked(), "%s should have a bounded cost", src)
		checked, iss := e.Compile(src)
		require.NoError(t, iss.Err())
		est, err := e.EstimateCost(checked, staticCosts{})
		require.NoError(t, err)
		for _, in := range inputs {
			require.True(t, p.bounded(in))
			in.act.reset(in, false)
			_, det, _ := p.prg.Eval(&in.act)
			require.NotNil(t, det)
			require.LessOrEqual(t, *det.ActualCost(), est.Max, "%s with cells %.10q", src, in.Value)
		}
	}
}

func TestInputReuse(t *testing.T) {
	p, err := Compile(`concat(row.id, ":", upper(value))`, Options{})
	require.NoError(t, err)
	in := &Input{Header: []string{"id", "name"}}
	for i, name := range []string{"ada", "grace", "edsger"} {
		in.Record = []string{fmt.Sprint(i), name}
		in.Value = name
		got, err := p.Eval(in)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%d:%s", i, strings.ToUpper(name)), got)
	}
	in.Header = []string{"name", "id"}
	in.Record = []string{"x", "9"}
	got, err := p.Eval(in)
	require.NoError(t, err)
	require.Equal(t, "9:EDSGER", got)
}

func TestConcurrentEval(t *testing.T) {
	p, err := Compile(`concat(xref("countries", row.Country, "?"), "/", parse_date(row.Born, "DD.MM.YYYY"), "/", upper(value))`, Options{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := testInput()
			for i := range 200 {
				in.Value = fmt.Sprintf("v%d-%d", g, i)
				got, err := p.Eval(in)
				if err != nil || got != "United Kingdom/1815-12-10/"+strings.ToUpper(in.Value) {
					t.Errorf("got %v, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestEvalAllocations(t *testing.T) {
	in := testInput()
	allocs := func(p *Program) float64 {
		return testing.AllocsPerRun(200, func() {
			if _, err := p.Eval(in); err != nil {
				t.Fatal(err)
			}
		})
	}
	p, err := Compile(`upper(trim(row["Name"]))`, Options{})
	require.NoError(t, err)
	require.Equal(t, "native", p.engine())
	// Natively, upper's text and the returned interface.
	require.LessOrEqual(t, allocs(p), 2.0)

	p, err = compile(`upper(trim(row["Name"]))`, Options{}, false)
	require.NoError(t, err)
	require.Equal(t, "cel", p.engine())
	// On CEL, also the cell, trim's and upper's results: nothing to present
	// the row, nothing for cost tracking.
	require.LessOrEqual(t, allocs(p), 5.0)
}

// TestFieldsOption: expressions of export templates read the row's typed
// values through fields; field expressions of imports see an empty map.
func TestFieldsOption(t *testing.T) {
	in := &Input{Fields: map[string]any{"first": "Ann", "grade": int64(9)}}
	p, err := Compile(`concat(fields.first, "/", string(fields.grade + 1))`, Options{Fields: true})
	require.NoError(t, err)
	got, err := p.Eval(in)
	require.NoError(t, err)
	require.Equal(t, "Ann/10", got)
	p, err = Compile(`string(fields.first)`, Options{})
	require.NoError(t, err)
	_, err = p.Eval(in)
	require.Error(t, err, "an import field expression does not see the fields")
}
