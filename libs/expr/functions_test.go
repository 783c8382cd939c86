package expr

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFunctions(t *testing.T) {
	tests := []struct {
		src  string
		want any
	}{
		{`trim(row.Name)`, "Ada Lovelace"},
		{`trim(" \t x \n")`, "x"},
		{`trim("\u00a0x\u00a0")`, "x"},
		{`upper(row.Name)`, "  ADA LOVELACE "},
		{`upper("émile")`, "ÉMILE"},
		{`lower(row.Email)`, "ada@example.com"},
		{`lower("ÉMILE")`, "émile"},
		{`concat("a", "b")`, "ab"},
		{`concat(trim(row.Name), " <", lower(row.Email), ">")`, "Ada Lovelace <ada@example.com>"},
		{`concat("1", "2", "3", "4", "5", "6", "7", "8")`, "12345678"},
		{`join(["a", "b", "c"], ", ")`, "a, b, c"},
		{`join([], ", ")`, ""},
		{`join(split(row.Born, "."), "-")`, "10-12-1815"},
		{`size(split("a;b;;c", ";"))`, int64(4)},
		{`split("a;b", ";")[1]`, "b"},
		{`split("", ";")[0]`, ""},
		{`split("äbc", "")[0]`, "ä"},
		{`substring("Lovelace", 4)`, "lace"},
		{`substring("Lovelace", 0, 4)`, "Love"},
		{`substring("Lovelace", 8)`, ""},
		{`substring("Lovelace", 2, 2)`, ""},
		{`substring("Ünïcödé", 1, 3)`, "nï"},
		{`substring("日本語テキスト", 3)`, "テキスト"},
		{`replace("1-2-3", "-", "")`, "123"},
		{`replace("aaa", "a", "bb")`, "bbbbbb"},
		{`replace(row.Amount, ".", "")`, "1234,50"},
		{`replace("abc", "x", "y")`, "abc"},
		{`regex_extract("Order 1234 of 5678", "[0-9]+")`, "1234"},
		{`regex_extract("id=42;", "id=([0-9]+)")`, "42"},
		{`regex_extract("2024-05", "([0-9]+)-([0-9]+)", 2)`, "05"},
		{`regex_extract("2024-05", "([0-9]+)-([0-9]+)", 0)`, "2024-05"},
		{`regex_extract("abc", "[0-9]+")`, ""},
		{`regex_extract("abc", "(x)?abc")`, ""},
		{`regex_extract(row.Email, "@(.*)$")`, "Example.com"},
		{`regex_extract(row.Email, "(?i)^ada")`, "ADA"},
		{`regex_extract("x", concat("(", "x", ")"))`, "x"},
		{`regex_extract("ab", concat("(a)", "(b)"), 2)`, "b"},
		{`coalesce(row.Notes, row.Name)`, "  Ada Lovelace "},
		{`coalesce("  ", "", "x")`, "x"},
		{`coalesce("", " ")`, ""},
		{`coalesce("1", "2", "3", "4", "5", "6", "7", "8")`, "1"},
		{`default(row.Notes, "none")`, "none"},
		{`default("  ", "none")`, "none"},
		{`default(row.Country, "DE")`, "GB"},
		{`parse_date("2024-05-01")`, "2024-05-01"},
		{`parse_date(row.Born, "DD.MM.YYYY")`, "1815-12-10"},
		{`parse_date("1 May 2024", "D MMMM YYYY")`, "2024-05-01"},
		{`parse_date("05/01/24", concat("MM/DD/", "YY"))`, "2024-05-01"},
		{`parse_date("2024-05-01", "ISO")`, "2024-05-01"},
		{`parse_timestamp("2024-05-01T09:00:00+02:00")`, "2024-05-01T07:00:00Z"},
		{`parse_timestamp("2024-05-01 09:00:00Z")`, "2024-05-01T09:00:00Z"},
		{`parse_timestamp("01.05.2024 09:00 +02:00", "DD.MM.YYYY HH:mm Z")`, "2024-05-01T07:00:00Z"},
		{`parse_timestamp("01.05.2024 09:00", "DD.MM.YYYY HH:mm", "Europe/Berlin")`, "2024-05-01T07:00:00Z"},
		{`parse_timestamp("01.01.2024 09:00", "DD.MM.YYYY HH:mm", "Europe/Berlin")`, "2024-01-01T08:00:00Z"},
		{`parse_timestamp("5/1/2024 9:00 PM", "M/D/YYYY h:mm A", "America/New_York")`, "2024-05-02T01:00:00Z"},
		{`parse_timestamp("2024-05-01 09:00:00", "ISO", "UTC")`, "2024-05-01T09:00:00Z"},
		{`parse_timestamp("2024-05-01 09:00", "YYYY-MM-DD HH:mm", concat("Asia/", "Tokyo"))`, "2024-05-01T00:00:00Z"},
		{`parse_number("-1234.50")`, "-1234.50"},
		{`parse_number("+007")`, "7"},
		{`parse_number(row.Amount, ",", ".")`, "1234.50"},
		{`parse_number("1 234,5", ",", " ")`, "1234.5"},
		{`parse_number("1,234,567.25", ".", ",")`, "1234567.25"},
		{`parse_number("1234,5", ",", "")`, "1234.5"},
		{`double(parse_number(row.Amount, ",", ".")) * 2.0`, 2469.0},
		{`parse_bool("Yes")`, true},
		{`parse_bool(" 0 ")`, false},
		{`parse_bool(row.Active, ["ja", "j"], ["nein", "n"])`, true},
		{`parse_bool("NEIN", ["ja"], ["nein"])`, false},
		{`xref("countries", row.Country)`, "United Kingdom"},
		{`xref("countries", "XX", "unknown")`, "unknown"},
		{`xref("countries", "DE", "unknown")`, "Germany"},
		{`xref(concat("coun", "tries"), "DE")`, "Germany"},
		{`["DE", "GB"].map(c, xref("countries", c))[1]`, "United Kingdom"},
		{`size(row.Name)`, int64(15)},
		{`row.Email.contains("@") && row.Email.startsWith("ADA") && row.Email.matches("^[A-Z]+@")`, true},
		{`row.Notes == "" ? "empty" : row.Notes`, "empty"},
		{`int(parse_number("42"))`, int64(42)},
		{`uint(7)`, uint64(7)},
		{`string(12) + "x"`, "12x"},
		{`has(row.Email)`, true},
		{`has(row.Phone)`, false},
		{`"Email" in row`, true},
		{`cols.exists(c, c == "GB")`, true},
		{`row.exists(k, k == "Born")`, true},
		{`size(row)`, int64(7)},
		{`size(cols)`, int64(8)},
		{`row.Notes == "" ? dyn(null) : row.Notes`, nil},
		{`null`, nil},
		{`1.5`, 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := run(t, tt.src, Options{}, testInput())
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestFunctionErrors(t *testing.T) {
	tests := []struct {
		src string
		err string
	}{
		{`substring("abc", 4)`, "substring start 4 is out of range for a string of length 3"},
		{`substring("abc", -1)`, "substring start -1 is out of range for a string of length 3"},
		{`substring("abc", 2, 1)`, "substring end 1 is out of range for a string of length 3 and start 2"},
		{`substring("äöü", 0, 4)`, "substring end 4 is out of range for a string of length 3 and start 0"},
		{`replace("abc", "", "x")`, "replace needs text to replace: the second argument is empty"},
		{`regex_extract("x", concat("(", ""))`, `regex_extract pattern "(" is not a valid regular expression: missing closing )`},
		{`regex_extract("x", "(x)", 2 - 0)`, `regex_extract group 2 does not exist: the pattern "(x)" has 1 capture groups (0 is the whole match)`},
		{`regex_extract("x", concat("x", ""), 1)`, `regex_extract group 1 does not exist`},
		{`parse_date(row.Born)`, `"10.12.1815" reads as 10 December 1815 (day first) or October 12, 1815 (month first); set the date format (DD.MM.YYYY or MM.DD.YYYY) to say which`},
		{`parse_date("2023-02-29")`, `"2023-02-29" is not a valid date: February 2023 has 28 days`},
		{`parse_date("31.04.2024", "DD.MM.YYYY")`, `"31.04.2024" is not a valid date: April 2024 has 30 days`},
		{`parse_date("2024-05-01", concat("yyyy", "-MM-DD"))`, `date format "yyyy-MM-DD" is not valid: "yyyy" is not a format token`},
		{`parse_date("2024-05-01 10:00Z", concat("YYYY-MM-DD ", "HH:mmZ"))`, `date format YYYY-MM-DD HH:mmZ has a UTC offset (Z), which a date cannot hold; use parse_timestamp`},
		{`parse_timestamp("2024-05-01 09:00:00")`, `"2024-05-01 09:00:00" has no UTC offset: the profile must set a time zone, or the value must carry an offset such as +02:00 or Z`},
		{`parse_timestamp("2024-05-01 09:00", "YYYY-MM-DD HH:mm")`, `"2024-05-01 09:00" has no UTC offset`},
		{`parse_timestamp("2024-03-10 02:30", "YYYY-MM-DD HH:mm", "America/New_York")`, `"2024-03-10 02:30" does not exist in time zone America/New_York: the clocks skip this local time`},
		{`parse_timestamp("2024-11-03 01:30", "YYYY-MM-DD HH:mm", "America/New_York")`, `"2024-11-03 01:30" is ambiguous in time zone America/New_York: this local time happens twice (at UTC offsets -04:00 and -05:00); the value must carry an offset`},
		{`parse_timestamp("2024-05-01 09:00", "YYYY-MM-DD HH:mm", concat("Mars/", "Base"))`, `unknown time zone "Mars/Base": name an IANA time zone such as Europe/Paris or UTC`},
		{`parse_timestamp("2024-05-01 09:00", "YYYY-MM-DD HH:mm", concat("Lo", "cal"))`, `time zone "Local" depends on the machine`},
		{`parse_timestamp("2024-05-01 09:00", "YYYY-MM-DD HH:mm", concat("", ""))`, `time zone is empty`},
		{`parse_timestamp("x", concat("DD", "D"))`, `date format "DDD" is not valid`},
		{`parse_number("1.234,5")`, `"1.234,5" is not a number with decimal separator "." and no thousands separator`},
		{`parse_number("12,34.5", ".", ",")`, `"12,34.5" has thousands separators in the wrong places: with decimal separator "." and thousands separator ",", groups of 3 digits are expected, as in 1,234,567.5`},
		{`parse_number("1", concat(",", ","), "")`, `parse_number decimal separator ",," must be one character`},
		{`parse_number("1", ",", concat(".", "."))`, `parse_number thousands separator ".." must be one character, or "" for none`},
		{`parse_number("1", ",", concat(",", ""))`, `parse_number separators are not valid: decimal separator and thousands separator are both ","`},
		{`parse_number(row.Notes)`, `"" is not a number`},
		{`parse_bool("maybe")`, `"maybe" is not a boolean: expected true, yes, y, t or 1 for true, or false, no, n, f or 0 for false`},
		{`parse_bool("x", ["ja"], ["nein"])`, `"x" is not a boolean: expected ja for true, or nein for false`},
		{`parse_bool("x", [concat("x", "")], ["X"])`, `parse_bool words are not valid: boolean word "x" means both true and false`},
		{`xref("countries", "XX")`, `value "XX" is not in cross-reference table "countries"`},
		{`xref("currencies", "EUR")`, `value "EUR" is not in cross-reference table "currencies"`},
		{`int(row.Born)`, "type conversion error from 'string' to 'int'"},
		{`1 / (size(row.Notes))`, "division by zero"},
		{`dyn(row.Name) + 1 == 2`, "operator + does not apply to the types of these values"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := run(t, tt.src, Options{}, testInput())
			require.Nil(t, got)
			require.ErrorContains(t, err, tt.err)
			require.NotContains(t, err.Error(), "no such overload")
		})
	}
}

func TestStringSizeLimit(t *testing.T) {
	// Each replace makes the text eight times longer. With a generous cost
	// limit, the size limit stops the call that would build too much text.
	src := `replace(replace(replace(replace(replace(replace(replace(replace(row.Name, " ", "        "), " ", "        "), " ", "        "), " ", "        "), " ", "        "), " ", "        "), " ", "        "), " ", "        ")`
	_, err := run(t, src, Options{CostLimit: 1 << 40}, testInput())
	require.ErrorContains(t, err, "replace would build a string of 8388619 bytes, more than the limit of 4194304")
	_, err = run(t, src, Options{}, testInput())
	require.EqualError(t, err, "expression exceeded its cost limit of 100000")

	big := strings.Repeat("x", 1<<20)
	_, err = run(t, `concat(value, value, value, value, value)`, Options{CostLimit: 1 << 40}, &Input{Value: big})
	require.ErrorContains(t, err, "concat would build a string of 5242880 bytes")
	_, err = run(t, `join([value, value, value, value, value], "")`, Options{CostLimit: 1 << 40}, &Input{Value: big})
	require.ErrorContains(t, err, "join would build a string of")
}

func TestXrefWithoutLookup(t *testing.T) {
	in := testInput()
	in.Lookup = nil
	_, err := run(t, `xref("countries", "GB")`, Options{}, in)
	require.EqualError(t, err, `value "GB" is not in cross-reference table "countries"`)
	got, err := run(t, `xref("countries", "GB", "?")`, Options{}, in)
	require.NoError(t, err)
	require.Equal(t, "?", got)
}

func TestConstantRegexCompiledOnce(t *testing.T) {
	p, err := Compile(`regex_extract(row.Email, "@(.*)$")`, Options{})
	require.NoError(t, err)
	in := testInput()
	// The pattern is compiled when the program is planned; evaluating it
	// for many rows allocates nothing for the regular expression.
	allocs := testing.AllocsPerRun(100, func() {
		_, err := p.Eval(in)
		require.NoError(t, err)
	})
	require.Less(t, allocs, 10.0)
	dynamic, err := Compile(`regex_extract(row.Email, concat("@(.*)", "$"))`, Options{})
	require.NoError(t, err)
	dynAllocs := testing.AllocsPerRun(100, func() {
		_, err := dynamic.Eval(in)
		require.NoError(t, err)
	})
	require.Greater(t, dynAllocs, allocs+10, "a pattern built at run time is compiled per call")
}

func TestStringsAreCharacters(t *testing.T) {
	got, err := run(t, `size(value) == 4 && substring(value, 3) == "é"`, Options{}, &Input{Value: "caf" + "é"})
	require.NoError(t, err)
	require.Equal(t, true, got)
}

// TestDocExamples checks the examples of the package documentation.
func TestDocExamples(t *testing.T) {
	in := &Input{
		Header: []string{"first", "last", "mobile", "phone", "country"},
		Record: []string{"Ada", "Lovelace", " ", "+44 20", ""},
		Lookup: mapLookup{"countries": {"DE": "Germany"}},
	}
	examples := []string{
		`trim("  Ada ") == "Ada"`,
		`upper("Ada") == "ADA"`,
		`lower("ADA") == "ada"`,
		`concat(row.first, " ", row.last) == "Ada Lovelace"`,
		`join(["a", "b"], "-") == "a-b"`,
		`split("a;b", ";") == ["a", "b"]`,
		`substring("Lovelace", 4) == "lace"`,
		`substring("Lovelace", 0, 4) == "Love"`,
		`replace("1-2-3", "-", "") == "123"`,
		`regex_extract("Order 1234", "[0-9]+") == "1234"`,
		`regex_extract("id=42;", "id=([0-9]+)") == "42"`,
		`regex_extract("2024-05", "([0-9]+)-([0-9]+)", 2) == "05"`,
		`coalesce(row.mobile, row.phone) == "+44 20"`,
		`default(row.country, "DE") == "DE"`,
		`parse_date("2024-05-01") == "2024-05-01"`,
		`parse_date("01.05.2024", "DD.MM.YYYY") == "2024-05-01"`,
		`parse_timestamp("2024-05-01T09:00:00+02:00") == "2024-05-01T07:00:00Z"`,
		`parse_timestamp("01.05.2024 09:00 +02:00", "DD.MM.YYYY HH:mm Z") == "2024-05-01T07:00:00Z"`,
		`parse_timestamp("01.05.2024 09:00", "DD.MM.YYYY HH:mm", "Europe/Berlin") == "2024-05-01T07:00:00Z"`,
		`parse_number("-1234.50") == "-1234.50"`,
		`parse_number("1.234,50", ",", ".") == "1234.50"`,
		`parse_bool("Yes") == true`,
		`parse_bool("ja", ["ja"], ["nein"]) == true`,
		`xref("countries", "DE") == "Germany"`,
		`xref("countries", "XX", "unknown") == "unknown"`,
		`(row.mobile == " " ? dyn(null) : lower(row.mobile)) == null`,
	}
	for _, src := range examples {
		t.Run(src, func(t *testing.T) {
			got, err := run(t, src, Options{}, in)
			require.NoError(t, err)
			require.Equal(t, true, got)
		})
	}
}
