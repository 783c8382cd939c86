package values

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseDate(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		layouts []string
		want    string
	}{
		{"iso default", "2024-03-04", nil, "2024-03-04"},
		{"iso layout", "2024-03-04", []string{"ISO"}, "2024-03-04"},
		{"YYYY MM DD", "2024/03/04", []string{"YYYY/MM/DD"}, "2024-03-04"},
		{"compact", "20240304", []string{"YYYYMMDD"}, "2024-03-04"},
		{"day first", "03/04/2024", []string{"DD/MM/YYYY"}, "2024-04-03"},
		{"month first", "03/04/2024", []string{"MM/DD/YYYY"}, "2024-03-04"},
		{"D and M one digit", "3.4.2024", []string{"D.M.YYYY"}, "2024-04-03"},
		{"D and M two digits", "13.12.2024", []string{"D.M.YYYY"}, "2024-12-13"},
		{"YY 00", "01/02/00", []string{"DD/MM/YY"}, "2000-02-01"},
		{"YY 68", "01/02/68", []string{"DD/MM/YY"}, "2068-02-01"},
		{"YY 69", "01/02/69", []string{"DD/MM/YY"}, "1969-02-01"},
		{"YY 99", "01/02/99", []string{"DD/MM/YY"}, "1999-02-01"},
		{"MMM", "Mar 4, 2024", []string{"MMM D, YYYY"}, "2024-03-04"},
		{"MMM any case", "4-SEP-2024", []string{"D-MMM-YYYY"}, "2024-09-04"},
		{"MMMM", "4 September 2024", []string{"D MMMM YYYY"}, "2024-09-04"},
		{"MMMM lower case", "4 may 2024", []string{"D MMMM YYYY"}, "2024-05-04"},
		{"quoted literal", "4 of May 2024", []string{"D 'of' MMMM YYYY"}, "2024-05-04"},
		{"midnight time", "2024-03-04 00:00:00", []string{"YYYY-MM-DD HH:mm:ss"}, "2024-03-04"},
		{"leap day 2024", "2024-02-29", nil, "2024-02-29"},
		{"leap day 2000", "29/02/2000", []string{"DD/MM/YYYY"}, "2000-02-29"},
		{"second layout", "2024-03-04", []string{"DD/MM/YYYY", "YYYY-MM-DD"}, "2024-03-04"},
		{"only one reading valid", "13/04/2024", []string{"DD/MM/YYYY", "MM/DD/YYYY"}, "2024-04-13"},
		{"readings agree", "04/04/2024", []string{"DD/MM/YYYY", "MM/DD/YYYY"}, "2024-04-04"},
		{"same date, other layout", "2024-03-04", []string{"ISO", "YYYY-MM-DD"}, "2024-03-04"},
		{"year before 1000 padded", "01/02/0012", []string{"DD/MM/YYYY"}, "0012-02-01"},
		{"year 9999", "31/12/9999", []string{"DD/MM/YYYY"}, "9999-12-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDate(tt.value, mustLayouts(t, tt.layouts...))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseDateErrors(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		layouts []string
		err     string
	}{
		{"not iso", "hello", nil, `"hello" is not a date in ISO 8601 form YYYY-MM-DD; set a date format to read other forms`},
		{"year first slashes", "2024/03/04", nil, `"2024/03/04" is not a date in ISO 8601 form YYYY-MM-DD; set a date format to read other forms`},
		{"mixed separators", "03/04-2024", nil, `"03/04-2024" is not a date in ISO 8601 form YYYY-MM-DD; set a date format`},
		{"only day first valid", "13/04/2024", nil, `"13/04/2024" is not a date in ISO 8601 form YYYY-MM-DD: it looks like 13 April 2024 (day first), but dates are never guessed; set the date format DD/MM/YYYY to read it`},
		{"only month first valid", "04-13-2024", nil, `"04-13-2024" is not a date in ISO 8601 form YYYY-MM-DD: it looks like April 13, 2024 (month first), but dates are never guessed; set the date format MM-DD-YYYY to read it`},
		{"same both ways", "05/05/2024", nil, `"05/05/2024" is not a date in ISO 8601 form YYYY-MM-DD: it looks like 5 May 2024 (day first), but dates are never guessed; set the date format DD/MM/YYYY to read it`},
		{"neither reading valid", "32/13/2024", nil, `"32/13/2024" is not a valid date in any order of day and month, and not in ISO 8601 form YYYY-MM-DD`},
		{"not a leap year", "2023-02-29", nil, `"2023-02-29" is not a valid date: February 2023 has 28 days`},
		{"1900 not a leap year", "29/02/1900", []string{"DD/MM/YYYY"}, `"29/02/1900" is not a valid date: February 1900 has 28 days`},
		{"april has 30 days", "31/04/2024", []string{"DD/MM/YYYY"}, `"31/04/2024" is not a valid date: April 2024 has 30 days`},
		{"month 13", "2024-13-01", nil, `"2024-13-01" is not a valid date: month 13 does not exist`},
		{"day 0", "2024-01-00", nil, `"2024-01-00" is not a valid date: day 0 does not exist`},
		{"year 0", "0000-01-01", nil, `"0000-01-01" is not a valid date: year 0000 does not exist`},
		{"short month", "2024-3-01", []string{"YYYY-MM-DD"}, `"2024-3-01" does not match date format YYYY-MM-DD: expected a 2-digit month (MM) at character 6`},
		{"trailing text", "2024-03-01x", []string{"YYYY-MM-DD"}, `"2024-03-01x" does not match date format YYYY-MM-DD: unexpected "x" at character 11 after the end of the format`},
		{"bad month name", "4 Mai 2024", []string{"D MMMM YYYY"}, `"4 Mai 2024" does not match date format D MMMM YYYY: expected a month name like January (MMMM) at character 3`},
		{"bad abbreviation", "4 Sept 2024", []string{"D MMM YYYY"}, `"4 Sept 2024" does not match date format D MMM YYYY: expected " " at character 6`},
		{"two-digit year needed", "01/02/2024", []string{"DD/MM/YY"}, `unexpected "24" at character 9 after the end of the format`},
		{"time of day", "2024-03-04 10:30", []string{"YYYY-MM-DD HH:mm"}, `"2024-03-04 10:30" is not a date: it has a time of day (10:30:00), which a date cannot hold`},
		{"zone in date format", "2024-03-04 10:30Z", []string{"YYYY-MM-DD HH:mmZ"}, `date format YYYY-MM-DD HH:mmZ has a UTC offset (Z), which a date cannot hold`},
		{"no layout matches", "31/04/2024", []string{"DD/MM/YYYY", "MM/DD/YYYY"},
			`"31/04/2024" does not match any of the date formats DD/MM/YYYY, MM/DD/YYYY (DD/MM/YYYY: April 2024 has 30 days; MM/DD/YYYY: month 31 does not exist)`},
		{"iso layout is strict", "2024/03/04", []string{"ISO"}, `"2024/03/04" does not match date format ISO: expected "-" at character 5`},
		{"empty", "", nil, `"" is not a date in ISO 8601 form YYYY-MM-DD`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDate(tt.value, mustLayouts(t, tt.layouts...))
			require.Empty(t, got)
			require.ErrorContains(t, err, tt.err)
			var amb *AmbiguousDateError
			require.False(t, errors.As(err, &amb), "not ambiguous: %v", err)
		})
	}
}

func TestParseDateAmbiguous(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		layouts []string
		err     string
		dates   []string
	}{
		{"slashes", "03/04/2024", nil,
			`"03/04/2024" reads as 3 April 2024 (day first) or March 4, 2024 (month first); set the date format (DD/MM/YYYY or MM/DD/YYYY) to say which`,
			[]string{"2024-04-03", "2024-03-04"}},
		{"dots and two-digit year", "3.4.24", nil,
			`"3.4.24" reads as 3 April 2024 (day first) or March 4, 2024 (month first); set the date format (DD.MM.YY or MM.DD.YY) to say which`,
			[]string{"2024-04-03", "2024-03-04"}},
		{"dashes", "03-04-2024", nil,
			`"03-04-2024" reads as 3 April 2024 (day first) or March 4, 2024 (month first)`,
			[]string{"2024-04-03", "2024-03-04"}},
		{"two-digit year 1900s", "1/2/85", nil,
			`"1/2/85" reads as 1 February 1985 (day first) or January 2, 1985 (month first)`,
			[]string{"1985-02-01", "1985-01-02"}},
		{"two layouts", "03/04/2024", []string{"DD/MM/YYYY", "MM/DD/YYYY"},
			`"03/04/2024" reads as 3 April 2024 (format DD/MM/YYYY) or 4 March 2024 (format MM/DD/YYYY); keep only one of these formats`,
			[]string{"2024-04-03", "2024-03-04"}},
		{"three layouts, two agree", "03/04/2024", []string{"DD/MM/YYYY", "D/M/YYYY", "MM/DD/YYYY"},
			`"03/04/2024" reads as 3 April 2024 (format DD/MM/YYYY) or 4 March 2024 (format MM/DD/YYYY)`,
			[]string{"2024-04-03", "2024-03-04"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDate(tt.value, mustLayouts(t, tt.layouts...))
			require.Empty(t, got)
			var amb *AmbiguousDateError
			require.ErrorAs(t, err, &amb)
			require.ErrorContains(t, err, tt.err)
			require.Equal(t, tt.value, amb.Value)
			var dates []string
			for _, r := range amb.Readings {
				dates = append(dates, r.Value)
			}
			require.Equal(t, tt.dates, dates)
		})
	}
}

func FuzzParseDate(f *testing.F) {
	for _, seed := range []struct{ value, pattern string }{
		{"2024-03-04", "ISO"}, {"03/04/2024", "DD/MM/YYYY"}, {"3.4.24", "D.M.YY"}, {"4 May 2024", "D MMMM YYYY"},
		{"2024-03-04 10:00 PM", "YYYY-MM-DD hh:mm A"}, {"03/04/2024", "MM/DD/YYYY"},
	} {
		f.Add(seed.value, seed.pattern)
	}
	f.Fuzz(func(t *testing.T, value, pattern string) {
		layout, err := ParseLayout(pattern)
		if err != nil {
			return
		}
		got, err := ParseDate(value, []*DateLayout{layout})
		if err == nil {
			again, err := ParseDate(got, nil)
			require.NoError(t, err, "%q read with %q gives %q", value, pattern, got)
			require.Equal(t, got, again)
		}
		_, _ = ParseTimestamp(value, []*DateLayout{layout}, time.UTC)
		_, _ = ParseDate(value, nil)
	})
}

// BenchmarkParseDate is the parse_date(value, "DD/MM/YYYY") every row of a
// file with a day-first date column goes through.
func BenchmarkParseDate(b *testing.B) {
	layouts := mustLayouts(b, "DD/MM/YYYY")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDate("27/08/1988", layouts); err != nil {
			b.Fatal(err)
		}
	}
}
