package values

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// mustLayouts compiles patterns or fails the test.
func mustLayouts(tb testing.TB, patterns ...string) []*DateLayout {
	tb.Helper()
	out := make([]*DateLayout, len(patterns))
	for i, p := range patterns {
		l, err := ParseLayout(p)
		require.NoError(tb, err, p)
		out[i] = l
	}
	return out
}

func TestParseLayout(t *testing.T) {
	tests := []struct {
		pattern          string
		hasTime, hasZone bool
		iso              bool
	}{
		{pattern: "YYYY-MM-DD"},
		{pattern: "DD/MM/YY"},
		{pattern: "D.M.YYYY"},
		{pattern: "MMM D, YYYY"},
		{pattern: "D MMMM YYYY"},
		{pattern: "YYYYMMDD"},
		{pattern: "YYYY-MM-DDTHH:mm:ss.SSSZ", hasTime: true, hasZone: true},
		{pattern: "DD/MM/YYYY H:mm", hasTime: true},
		{pattern: "MM/DD/YYYY hh:mm:ss A", hasTime: true},
		{pattern: "MM/DD/YYYY h:mm A", hasTime: true},
		{pattern: "DD MMM YYYY 'at' HH:mm", hasTime: true},
		{pattern: "DD/MM/YYYY ''HH''", hasTime: true},
		{pattern: "ISO", iso: true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			l, err := ParseLayout(tt.pattern)
			require.NoError(t, err)
			require.Equal(t, tt.pattern, l.String())
			require.Equal(t, tt.hasTime, l.HasTime())
			require.Equal(t, tt.hasZone, l.HasZone())
			require.Equal(t, tt.iso, l.IsISO())
		})
	}
}

func TestParseLayoutErrors(t *testing.T) {
	tests := []struct {
		pattern string
		err     string
	}{
		{"", `date format is empty`},
		{"yyyy-MM-dd", `date format "yyyy-MM-dd" is not valid: "yyyy" is not a format token (use YYYY for a 4-digit year or YY for a 2-digit year)`},
		{"YYYY-MM-dd", `date format "YYYY-MM-dd" is not valid: "dd" is not a format token (use DD or D for the day of the month)`},
		{"YYY-MM-DD", `"YYY" is not a format token`},
		{"YYYY-MMMMM-DD", `"MMMMM" is not a format token`},
		{"DDD YYYY", `"DDD" is not a format token`},
		{"YYYY-MM-DD HH:m", `"m" is not a format token (use mm for the minutes)`},
		{"YYYY-MM-DD HH:mm:s", `"s" is not a format token (use ss for the seconds)`},
		{"YYYY-MM-DD HH:mm:ss.SS", `"SS" is not a format token (use SSS for a fraction of a second)`},
		{"YYYY-MM-DD hh:mm a", `"a" is not a format token (use A for AM/PM)`},
		{"YYYY-MM-DD at HH", `"a" is not a format token (use A for AM/PM)`},
		{"YYYY-MM-DD um HH", `"u" is not a format token (quote letters that are meant literally, as in 'at')`},
		{"YYYY-MM-DD 'at HH", `the quote at character 12 is not closed`},
		{"YYYY-MM-DD-YY", `the year appears twice (YYYY and YY)`},
		{"MD/YYYY", `M must be followed by a separator, since it has 1 or 2 digits and the next part is a number`},
		{"YYYY-MM", `it has no day`},
		{"MM-DD", `it has no year`},
		{"YYYY-DD", `it has no month`},
		{"YYYY-MM-DD mm", `it has minutes but no hour`},
		{"YYYY-MM-DD HH ss", `it has seconds but no minutes`},
		{"YYYY-MM-DD HH:mm SSS", `it has a fraction of a second but no seconds`},
		{"YYYY-MM-DDZ", `it has a UTC offset but no time of day`},
		{"YYYY-MM-DD HH:mm A", `A (AM/PM) needs the 12-hour tokens hh or h, not HH`},
		{"YYYY-MM-DD hh:mm", `hh is an hour on a 12-hour clock and needs A (AM/PM)`},
		{"YYYY-MM-DD\xff", `date format "YYYY-MM-DD\xff" is not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			l, err := ParseLayout(tt.pattern)
			require.Nil(t, l)
			require.ErrorContains(t, err, tt.err)
		})
	}
}
