package mapping

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/values"
)

// The hand-written matches agree with the regular expressions they replace,
// and the ISO date shortcut with the full date parser.
func TestHandMatchesAgree(t *testing.T) {
	integerRE := regexp.MustCompile(`^[+-]?[0-9]+$`)
	decimalRE := regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?$`)
	for _, s := range []string{"", "+", "-", "0", "007", "-12", "+3", "1.", ".5", "1.5", "-.5", "+1.50", ".", "1e3", "1E+12", "1e", "1e12345",
		"1.5e-3", ".e1", "1.2.3", "١٢", "12a", " 1", "1 ", "--1", "1e+", "0x10", "1,5", "9999999999999999999999"} {
		require.Equal(t, integerRE.MatchString(s), isInteger(s), "integer %q", s)
		require.Equal(t, decimalRE.MatchString(s), isDecimal(s), "decimal %q", s)
	}
	for _, s := range []string{"2024-02-29", "2023-02-29", "2024-04-31", "2024-12-31", "0000-01-01", "0001-01-01", "2024-13-01", "2024-00-10",
		"2024-01-00", "2024-1-01", "2024/01/01", "20240101", "2024-01-01T", "9999-12-31", "1900-02-29", "2000-02-29"} {
		_, err := values.ParseDate(s, nil)
		require.Equal(t, err == nil, isoDate(s), "date %q", s)
	}
}

func FuzzHandMatches(f *testing.F) {
	integerRE := regexp.MustCompile(`^[+-]?[0-9]+$`)
	decimalRE := regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?$`)
	for _, s := range []string{"1.5e-3", "-12", "2024-02-29", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if integerRE.MatchString(s) != isInteger(s) || decimalRE.MatchString(s) != isDecimal(s) {
			t.Fatalf("%q: regexp and hand match disagree", s)
		}
		if _, err := values.ParseDate(s, nil); isoDate(s) && err != nil {
			t.Fatalf("%q: shortcut accepts what the parser refuses: %v", s, err)
		}
	})
}
