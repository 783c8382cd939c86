package xlsx

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClassifyFormat(t *testing.T) {
	tests := []struct {
		code string
		want fmtKind
	}{
		{"General", kindNumber},
		{"0", kindNumber},
		{"0.00", kindNumber},
		{"#,##0.00 €", kindNumber},
		{"0.00E+00", kindNumber},
		{"##0.0e-0", kindNumber},
		{"0%", kindNumber},
		{"@", kindNumber},
		{`0.0" days"`, kindNumber},
		{`0\h`, kindNumber},
		{`_(* #,##0_);_(* \(#,##0\);_(* "-"_);_(@_)`, kindNumber},
		{`[Red][<=100]0;[Blue]0`, kindNumber},
		{`[$-409]#,##0.00`, kindNumber},
		{"*m0", kindNumber},
		{"dd/mm/yyyy", kindDate},
		{"yyyy-mm-dd", kindDate},
		{"m/d/yy", kindDate},
		{"mmm-yy", kindDate},
		{"mmmm", kindDate},
		{"[$-409]mmmm d, yyyy;@", kindDate},
		{`yyyy"年"m"月"d"日"`, kindDate},
		{"[$-411]ggge.m.d", kindDate},
		{"DD.MM.YYYY", kindDate},
		{"yyyy-mm-dd hh:mm", kindDateTime},
		{"m/d/yyyy h:mm AM/PM", kindDateTime},
		{"yyyy-mm-dd hh:mm:ss.000", kindDateTime | fracSeconds},
		{"h:mm", kindTime},
		{"hh:mm:ss", kindTime},
		{"h:mm AM/PM", kindTime},
		{"h:mm a/p", kindTime},
		{"mm:ss", kindTime},
		{"mm:ss.0", kindTime | fracSeconds},
		{`hh"h"mm`, kindTime},
		{"[h]:mm", kindDuration},
		{"[h]:mm:ss", kindDuration},
		{"[mm]:ss", kindDuration},
		{"[ss].00", kindDuration | fracSeconds},
		{"[HH]:MM", kindDuration},
		{"0.00;dd/mm/yyyy", kindNumber}, // only the first section counts
		{"dd/mm/yyyy;0.00", kindDate},
		{`"unterminated`, kindNumber},
		{"[unterminated", kindNumber},
		{"", kindNumber},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			require.Equal(t, tt.want, classifyFormat(tt.code))
		})
	}
}

func TestFormatSerial(t *testing.T) {
	tests := []struct {
		name   string
		v      float64
		kind   fmtKind
		date04 bool
		want   string // "" when the value is not a date
	}{
		{name: "date", v: 45366, kind: kindDate, want: "2024-03-15"},
		{name: "date drops the time", v: 45366.75, kind: kindDate, want: "2024-03-15"},
		{name: "date time without drift", v: 45366.395833333336, kind: kindDateTime, want: "2024-03-15T09:30:00"},
		{name: "just below a second rounds up", v: 45366.395833321, kind: kindDateTime, want: "2024-03-15T09:30:00"},
		{name: "end of day rolls over", v: 45366.999999999, kind: kindDateTime, want: "2024-03-16T00:00:00"},
		{name: "time of day", v: 45366.395833333336, kind: kindTime, want: "09:30:00"},
		{name: "milliseconds", v: 0.5 + 0.25/86400, kind: kindTime | fracSeconds, want: "12:00:00.250"},
		{name: "serial 1", v: 1, kind: kindDate, want: "1900-01-01"},
		{name: "serial 59", v: 59, kind: kindDate, want: "1900-02-28"},
		{name: "fictitious 1900-02-29", v: 60, kind: kindDateTime, want: "1900-02-29T00:00:00"},
		{name: "serial 61", v: 61, kind: kindDate, want: "1900-03-01"},
		{name: "serial 0", v: 0, kind: kindDate, want: "1899-12-31"},
		{name: "last day", v: maxSerial1900 + 0.99999, kind: kindDateTime, want: "9999-12-31T23:59:59"},
		{name: "rounds past the last day", v: maxSerial1900 + 0.999999999, kind: kindDateTime},
		{name: "past the last day", v: maxSerial1900 + 1, kind: kindDate},
		{name: "negative", v: -1, kind: kindDate},
		{name: "NaN", v: math.NaN(), kind: kindDate},
		{name: "infinite", v: math.Inf(1), kind: kindTime},
		{name: "1904 serial 0", v: 0, kind: kindDate, date04: true, want: "1904-01-01"},
		{name: "1904 date time", v: 43904.395833333336, kind: kindDateTime, date04: true, want: "2024-03-15T09:30:00"},
		{name: "1904 last day", v: maxSerial1904, kind: kindDate, date04: true, want: "9999-12-31"},
		{name: "1904 past the last day", v: maxSerial1904 + 1, kind: kindDate, date04: true},
		{name: "duration", v: 1.5208333333333333, kind: kindDuration, want: "36:30:00"},
		{name: "negative duration", v: -1.25, kind: kindDuration, want: "-30:00:00"},
		{name: "zero duration", v: -0.0000000001, kind: kindDuration, want: "0:00:00"},
		{name: "duration with ms", v: 1.0 / 86400 / 8, kind: kindDuration | fracSeconds, want: "0:00:00.125"},
		{name: "huge duration", v: 1e12, kind: kindDuration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := formatSerial(nil, tt.v, tt.kind, tt.date04)
			require.Equal(t, tt.want != "", ok)
			if ok {
				require.Equal(t, tt.want, string(got))
			}
		})
	}
}

func TestNumbers(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		decimal bool
	}{
		{in: "0", want: "0", decimal: true},
		{in: "-0", want: "0", decimal: true},
		{in: "1234567890123456", want: "1234567890123456", decimal: true},
		{in: "9007199254740993", want: "9007199254740992", decimal: true},
		{in: "1.5", want: "1.5", decimal: true},
		{in: "1.0", want: "1", decimal: true},
		{in: "1E-7", want: "0.0000001", decimal: true},
		{in: "1e21", want: "1000000000000000000000", decimal: true},
		{in: "-2.5E+2", want: "-250", decimal: true},
		{in: ".5", want: "0.5", decimal: true},
		{in: "5.", want: "5", decimal: true},
		{in: "0x1p-2"},
		{in: "1_000"},
		{in: "Inf"},
		{in: "NaN"},
		{in: "1e"},
		{in: "."},
		{in: "-"},
		{in: ""},
		{in: "1,5"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.decimal, isDecimal([]byte(tt.in)))
			if !tt.decimal {
				return
			}
			r := &RowReader{w: &Workbook{}}
			got, err := r.number([]byte(tt.in), kindNumber)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestXString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"_x000D_", "\r"},
		{"a_x0009_b", "a\tb"},
		{"_x005F_x0041_", "_x0041_"},
		{"_x005f_", "_"},
		{"_xD83D__xDE00_", "😀"},
		{"_xD83D_", "\uFFFD"},
		{"_xDE00_", "\uFFFD"},
		{"_xD83D_x", "\uFFFDx"},
		{"_x00_", "_x00_"},
		{"_xZZZZ_", "_xZZZZ_"},
		{"_x0041", "_x0041"},
		{"__x0041_", "_A"},
		{"_x", "_x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, xstring([]byte(tt.in)))
		})
	}
}

func TestCellName(t *testing.T) {
	tests := []struct {
		col  int
		row  int64
		want string
	}{
		{1, 1, "A1"}, {26, 2, "Z2"}, {27, 3, "AA3"}, {702, 1, "ZZ1"}, {703, 1, "AAA1"},
		{MaxSheetColumns, MaxSheetRows, "XFD1048576"}, {100000, 1, "EQXD1"}, {16385, 0, "XFE"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, cellName(tt.col, tt.row))
		if tt.row > 0 && tt.col <= MaxSheetColumns {
			col, row, ok := parseRef([]byte(tt.want))
			require.True(t, ok)
			require.Equal(t, tt.col, col)
			require.Equal(t, tt.row, row)
		}
	}
}
