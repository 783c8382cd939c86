package expr

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNativeMatchesCEL runs every form the native path supports on many
// rows, natively, on CEL without cost tracking and on CEL with it, and
// requires the same results and the same errors from all three.
func TestNativeMatchesCEL(t *testing.T) {
	sources := []string{
		// Variables and constants.
		`"US"`,
		`value`,
		`row.Name`,
		`row["Last Name"]`,
		`row.Missing`,
		`cols[1]`,
		`cols[3]`,
		`cols[-1]`,
		// Text functions.
		`trim(value)`,
		`upper(trim(value))`,
		`lower(trim(value))`,
		`upper(trim(row["Name"]))`,
		`concat(trim(row.First), " ", upper(trim(row["Last Name"])))`,
		`concat(cols[0], "-", cols[2])`,
		`concat(value, value, value, value, value, value, value, value)`,
		`concat(upper(substring(trim(value), 0, 1)), lower(substring(trim(value), 1)))`,
		`coalesce(row["A"], row["B"])`,
		`coalesce(row.A, row.B, value, "none")`,
		`coalesce(value, row.Missing)`,
		`default(value, "x")`,
		`default(row.A, row.B)`,
		`replace(value, "-", "")`,
		`replace(value, "a", "ää")`,
		`replace(value, "", "x")`,
		`replace(value, row.A, "_")`,
		`substring(value, 0, 3)`,
		`substring(value, 2)`,
		`substring(value, -1)`,
		`substring(value, 3, 1)`,
		`regex_extract(value, "[0-9]+")`,
		`regex_extract(value, "([a-zà-ÿ]+)-([0-9]+)", 2)`,
		`regex_extract(value, "([a-zà-ÿ]+)-([0-9]+)", 0)`,
		`regex_extract(value, "(x)?y")`,
		`regex_extract(upper(value), "(?i)^ada")`,
		// Parsing.
		`parse_date(value)`,
		`parse_date(value, "DD/MM/YYYY")`,
		`default(parse_date(trim(value), "DD/MM/YYYY"), "n/a")`,
		`parse_timestamp(value)`,
		`parse_timestamp(value, "DD.MM.YYYY HH:mm Z")`,
		`parse_timestamp(value, "DD.MM.YYYY HH:mm", "Europe/Berlin")`,
		`parse_number(value)`,
		`parse_number(value, ",", ".")`,
		`parse_number(value, ",", "")`,
		`parse_number(value, row.A, row.B)`,
		// Cross-references.
		`xref("grades", value)`,
		`xref("grades", value, "?")`,
		`xref("grades", trim(value), row.A)`,
		`xref(value, "A")`,
	}
	values := []string{
		"", "  ", "A", "B", " a ", "x", "y", "xy", "Ada-12", " ada lovelace ", "émile-7", "Ünïcödé", "日本語テキスト", "a-b-c",
		"01/02/2024", "31/02/2024", "13/13/2024", "2024-05-01", "2024-05-01T09:00:00+02:00", "2024-05-01 09:00:00",
		"01.05.2024 09:00 +02:00", "01.05.2024 09:00", "31.03.2024 02:30",
		"1.234,50", "1234,5", "-1234.50", "1,234.5", "12,34", "abc",
		"\xff\xfe", strings.Repeat("ab-1", 100), strings.Repeat("x", boundedCellBytes+1),
	}
	header := []string{"Name", "First", "Last Name", "A", "B", "Name"}
	rows := []struct {
		header []string
		record []string
	}{
		{header, []string{"  ada lovelace ", " Ada", "lovelace ", ",", ".", "second"}},
		{header, []string{" ", "Grace", "Hopper", "", " ", ""}},
		{header, []string{"émile", "Émile", "Zola", "x", "ä"}}, // shorter than the header
		{header, []string{"1"}},
		{header, nil},
		{[]string{"Name", "A"}, []string{"Ada", "A"}}, // no B, no First
		{nil, nil},
	}
	lookups := []Lookup{nil, mapLookup{"grades": {"A": "1", "B": "2", " a ": "3", "": "empty"}, "Ada-12": {"A": "ada"}}}

	for _, src := range sources {
		t.Run(src, func(t *testing.T) {
			native, err := Compile(src, Options{})
			require.NoError(t, err)
			require.Equal(t, "native", native.engine())
			onCEL, err := compile(src, Options{}, false)
			require.NoError(t, err)
			require.Equal(t, "cel", onCEL.engine())
			tracked := native.tracked()

			in := &Input{}
			for _, row := range rows {
				for _, lookup := range lookups {
					for _, v := range values {
						in.Header, in.Record, in.Value, in.Lookup = row.header, row.record, v, lookup
						got, err := native.Eval(in)
						want, wantErr := onCEL.Eval(in)
						desc := fmt.Sprintf("value %.20q, record %q, lookup %v", v, row.record, lookup != nil)
						require.Equal(t, want, got, desc)
						require.Equal(t, wantErr, err, desc)
						want, wantErr = tracked.Eval(in)
						require.Equal(t, want, got, desc)
						require.Equal(t, wantErr, err, desc)
						// EvalText gives the same text and error, unboxed,
						// whenever the program runs natively.
						text, ok, textErr := native.EvalText(in)
						if ok {
							require.Equal(t, wantErr, textErr, desc)
							if textErr == nil {
								require.Equal(t, got, text, desc)
							}
						}
						_, ok, _ = onCEL.EvalText(in)
						require.False(t, ok, "a program on CEL has no unboxed path")
					}
				}
			}
		})
	}
}

// TestNativeOnlyForTextChains checks that expressions with anything but
// Ferry's text functions on strings stay on CEL, and still work there.
func TestNativeOnlyForTextChains(t *testing.T) {
	in := &Input{Header: []string{"Name", "A"}, Record: []string{"Ada", "x"}, Value: "21"}
	tests := []struct {
		src  string
		want any // nil: an error
	}{
		{`size(value) > 3 ? "a" : "b"`, "b"},
		{`int(value) * 2`, int64(42)},
		{`upper(value) + "x"`, "21x"},
		{`size(value)`, int64(2)},
		{`parse_bool("yes")`, true},
		{`row[value + "x"]`, nil},
		{`has(row.A) ? row.A : ""`, "x"},
		{`join(split(value, ""), ";")`, "2;1"},
		{`regex_extract(value, row.A)`, ""},
		{`regex_extract(value, "[0-9]", size(row.A) - 1)`, "2"},
		{`substring(value, size(row.A))`, "1"},
		{`parse_date(value, row.A)`, nil},
		{`cols.exists(c, c == "x") ? "yes" : "no"`, "yes"},
		{`dyn(value)`, "21"},
		{`upper(xref("t", value, "?"))`, "?"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Compile(tt.src, Options{})
			require.NoError(t, err)
			require.NotEqual(t, "native", p.engine())
			got, err := p.Eval(in)
			if tt.want == nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	// Text chains whose cost cannot be bounded statically stay on the
	// tracked CEL path: the result of xref has no size bound, and a cost
	// limit can be lower than the estimate. A row rule never runs natively.
	p, err := Compile(`upper(xref("t", value))`, Options{})
	require.NoError(t, err)
	require.Equal(t, "cel-tracked", p.engine())
	p, err = Compile(`upper(trim(value))`, Options{CostLimit: 5})
	require.NoError(t, err)
	require.Equal(t, "cel-tracked", p.engine())
	p, err = Compile(`row.A == "x"`, Options{RowRule: true})
	require.NoError(t, err)
	require.Equal(t, "cel-tracked", p.engine())
}
