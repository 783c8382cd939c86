package xls

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClassifyFormat(t *testing.T) {
	tests := []struct {
		code string
		want dateKind
	}{
		{"General", notDate},
		{"0.00", notDate},
		{"#,##0.00", notDate},
		{"0%", notDate},
		{"0.00E+00", notDate},
		{"@", notDate},
		{`0.0 "days"`, notDate},
		{`#,##0.00\ [$€-407]`, notDate},
		{`[Red]0.00;[Blue]-0.00`, notDate},
		{`_-* #,##0_-;\-* #,##0_-;_-* "-"_-;_-@_-`, notDate},
		{`"unterminated`, notDate},
		{"m/d/yyyy", kindDate},
		{"d-mmm-yy", kindDate},
		{"mmm yyyy", kindDate},
		{"mmmm", kindDate},
		{`dd\.mm\.yyyy`, kindDate},
		{"[$-F800]dddd, mmmm dd, yyyy", kindDate},
		{"[DBNum1][$-804]yyyy\"年\"m\"月\"d\"日\"", kindDate},
		{"ge.m.d", kindDate},
		{"h:mm", kindTime},
		{"h:mm AM/PM", kindTime},
		{"h:mm:ss a/p", kindTime},
		{"mm:ss", kindTime},
		{"mm:ss.0", kindTime},
		{"hh:mm:ss.000", kindTime},
		{"m/d/yyyy h:mm", kindDateTime},
		{`yyyy\-mm\-dd\ hh:mm:ss`, kindDateTime},
		{"[h]:mm:ss", kindElapsed},
		{"[mm]:ss", kindElapsed},
		{"[ss].00", kindElapsed},
		{"[Red][h]:mm", kindElapsed},
		{"yyyy-mm-dd;@", kindDate},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			require.Equal(t, tt.want, classifyFormat(tt.code))
		})
	}
}

func TestFormatDate(t *testing.T) {
	tests := []struct {
		name string
		v    float64
		kind dateKind
		is04 bool
		want string // "" when the value stays a number
	}{
		{"date", 45366, kindDate, false, "2024-03-15"},
		{"date with a time", 45366.25, kindDate, false, "2024-03-15T06:00:00"},
		{"datetime at midnight", 45366, kindDateTime, false, "2024-03-15T00:00:00"},
		{"no drift at 09:30", 45366.395833333336, kindDateTime, false, "2024-03-15T09:30:00"},
		{"rounded up to the second", 45366 + 59.6/86400, kindDateTime, false, "2024-03-15T00:01:00"},
		{"rounded into the next day", 45366 + 86399.6/86400, kindDateTime, false, "2024-03-16T00:00:00"},
		{"time", 0.75, kindTime, false, "18:00:00"},
		{"time rounded to midnight", 0.9999999, kindTime, false, "00:00:00"},
		{"time past a day", 2.5, kindTime, false, "1900-01-02T12:00:00"},
		{"elapsed", 1.5, kindElapsed, false, "36:00:00"},
		{"long elapsed", 100.25, kindElapsed, false, "2406:00:00"},
		{"Excel's 1900-02-29", 60, kindDate, false, "1900-02-29"},
		{"day 0", 0, kindDate, false, "1899-12-31"},
		{"day 1", 1, kindDate, false, "1900-01-01"},
		{"negative", -1, kindDate, false, ""},
		{"last day", 2958465.5, kindDateTime, false, "9999-12-31T12:00:00"},
		{"past the last day", 2958466, kindDate, false, ""},
		{"rounded past the last day", 2958465.999999999, kindDateTime, false, ""},
		{"NaN", math.NaN(), kindDate, false, ""},
		{"1904 day 0", 0, kindDate, true, "1904-01-01"},
		{"1904 date", 43904, kindDate, true, "2024-03-15"},
		{"1904 last day", 2957003, kindDate, true, "9999-12-31"},
		{"1904 past the last day", 2957004, kindDate, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := formatDate(tt.v, tt.kind, tt.is04)
			require.Equal(t, tt.want != "", ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestFormatNumber(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1, "1"},
		{-42, "-42"},
		{1234567890123456, "1234567890123456"},
		{12345678901234567890, "12345678901234567000"},
		{0.1, "0.1"},
		{1.0 / 3, "0.3333333333333333"},
		{1e-7, "0.0000001"},
		{1e21, "1000000000000000000000"},
		{math.MaxFloat64, "17976931348623157" + strings.Repeat("0", 292)},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got, ok := formatNumber(tt.v)
			require.True(t, ok)
			require.Equal(t, tt.want, got)
		})
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		_, ok := formatNumber(v)
		require.False(t, ok)
	}
}

// FuzzFormatNumber checks the number rule on any float64: no exponent, no
// trailing ".0", and the text reads back as the same number.
func FuzzFormatNumber(f *testing.F) {
	for _, v := range []float64{0, 1, -1.5, 0.1, 1e21, 1e-300, 5e-324, math.MaxFloat64} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		v := math.Float64frombits(bits)
		s, ok := formatNumber(v)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			require.False(t, ok)
			return
		}
		require.True(t, ok)
		require.NotContains(t, s, "e")
		require.False(t, strings.HasSuffix(s, ".0"), s)
		back, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err)
		require.Equal(t, v == 0, back == 0)
		if v != 0 {
			require.Equal(t, v, back)
		}
	})
}

func TestDecodeRK(t *testing.T) {
	tests := []struct {
		rk   uint32
		want float64
	}{
		{rkInt(0), 0},
		{rkInt(536870911), 536870911},
		{rkInt(-536870912), -536870912},
		{rkInt(1234) | 1, 12.34},
		{rkFloat(1.5), 1.5},
		{rkFloat(-1024.25), -1024.25},
		{rkFloat(5) | 1, 0.05},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, decodeRK(tt.rk), "rk %#x", tt.rk)
	}
}

func TestColumnName(t *testing.T) {
	for col, want := range map[int]string{0: "A", 25: "Z", 26: "AA", 255: "IV", 701: "ZZ", 702: "AAA"} {
		require.Equal(t, want, columnName(col))
	}
}

func TestMergeSweep(t *testing.T) {
	m := newMergeSweep([]mergeRange{
		{r1: 5, r2: 9, c1: 2, c2: 3},
		{r1: 0, r2: 1, c1: 0, c2: 255},
		{r1: 5, r2: 5, c1: 5, c2: 6},
	})
	tests := []struct {
		row, col int
		hidden   bool
	}{
		{0, 0, false}, {0, 1, true}, {0, 300, false}, {1, 0, true}, {2, 0, false},
		{5, 2, false}, {5, 3, true}, {5, 5, false}, {5, 6, true}, {5, 7, false},
		{7, 2, true}, {9, 3, true}, {10, 2, false},
	}
	for _, tt := range tests {
		m.moveTo(tt.row)
		require.Equal(t, tt.hidden, m.hidden(tt.row, tt.col), "row %d col %d", tt.row, tt.col)
	}
}

func TestUTF8Builder(t *testing.T) {
	tests := []struct {
		name  string
		units []rune
		want  string
	}{
		{"ascii", []rune{'a', 'b'}, "ab"},
		{"latin-1", []rune{0xEB, 0xFF}, "ëÿ"},
		{"BMP", []rune{0x65E5, 0x672C}, "日本"},
		{"surrogate pair", []rune{0xD83D, 0xDE42}, "🙂"},
		{"lone high surrogate", []rune{0xD83D, 'a'}, "\uFFFDa"},
		{"lone low surrogate", []rune{0xDE42, 'a'}, "\uFFFDa"},
		{"high surrogate at the end", []rune{'a', 0xD83D}, "a\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d utf8Builder
			for _, u := range tt.units {
				d.put(u)
			}
			require.Equal(t, tt.want, d.String())
		})
	}
}
