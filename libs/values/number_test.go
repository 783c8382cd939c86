package values

import (
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	plain  = NumberFormat{}
	us     = NumberFormat{Decimal: '.', Thousands: ','}
	german = NumberFormat{Decimal: ',', Thousands: '.'}
	french = NumberFormat{Decimal: ',', Thousands: ' '}
	swiss  = NumberFormat{Decimal: '.', Thousands: '\''}
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		value  string
		format NumberFormat
		want   string
	}{
		{"0", plain, "0"},
		{"42", plain, "42"},
		{"-42", plain, "-42"},
		{"+42", plain, "42"},
		{"007", plain, "7"},
		{"000", plain, "0"},
		{"-0", plain, "0"},
		{"-0.00", plain, "0.00"},
		{"1.50", plain, "1.50"},
		{"-1234.50", plain, "-1234.50"},
		{"0.000", plain, "0.000"},
		{"00.5", plain, "0.5"},
		{".5", plain, "0.5"},
		{"-.5", plain, "-0.5"},
		{"1234567.5", us, "1234567.5"},
		{"1,234,567.5", us, "1234567.5"},
		{"-1,234", us, "-1234"},
		{"999", us, "999"},
		{"1,000", us, "1000"},
		{"1.234.567,50", german, "1234567.50"},
		{"1234,5", german, "1234.5"},
		{"1 234 567,5", french, "1234567.5"},
		{"1\u00a0234,5", french, "1234.5"},
		{"1\u202f234\u202f567", french, "1234567"},
		{"1'234.5", swiss, "1234.5"},
		{"12345678901234567890.123456789", plain, "12345678901234567890.123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := ParseNumber(tt.value, tt.format)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseNumberErrors(t *testing.T) {
	tests := []struct {
		value  string
		format NumberFormat
		err    string
	}{
		{"", plain, `"" is not a number with decimal separator "." and no thousands separator`},
		{"-", plain, `"-" is not a number`},
		{"+", plain, `"+" is not a number`},
		{"abc", plain, `"abc" is not a number with decimal separator "." and no thousands separator`},
		{"1.234,5", us, `"1.234,5" is not a number with decimal separator "." and thousands separator ","`},
		{"1,234", plain, `"1,234" is not a number with decimal separator "." and no thousands separator`},
		{"1,5", plain, `"1,5" is not a number with decimal separator "."`},
		{" 1", plain, `" 1" is not a number`},
		{"1 ", plain, `"1 " is not a number`},
		{"1-", plain, `"1-" is not a number`},
		{"--1", plain, `"--1" is not a number`},
		{"+-1", plain, `"+-1" is not a number`},
		{"1e5", plain, `"1e5" is not a number`},
		{"1.2.3", plain, `"1.2.3" is not a number`},
		{"$1", plain, `"$1" is not a number`},
		{"\u0661", plain, `is not a number`},
		{"1.", plain, `"1." is not a number with decimal separator "." and no thousands separator: the decimal separator has no digits after it`},
		{"12,34.5", us, `"12,34.5" has thousands separators in the wrong places: with decimal separator "." and thousands separator ",", groups of 3 digits are expected, as in 1,234,567.5`},
		{"1234,567", us, `"1234,567" has thousands separators in the wrong places`},
		{",123", us, `",123" has thousands separators in the wrong places`},
		{"1,,234", us, `"1,,234" has thousands separators in the wrong places`},
		{"1,234,", us, `"1,234," has thousands separators in the wrong places`},
		{"1,234,.5", us, `"1,234,.5" has thousands separators in the wrong places`},
		{"0,001", us, `"0,001" has thousands separators in the wrong places`},
		{"1,234.567,8", us, `"1,234.567,8" is not a number with decimal separator "." and thousands separator ","`},
		{"1.5", german, `"1.5" has thousands separators in the wrong places: with decimal separator "," and thousands separator ".", groups of 3 digits are expected, as in 1.234.567,5`},
		{"12 34", french, `"12 34" has thousands separators in the wrong places: with decimal separator "," and thousands separator " " (a space), groups of 3 digits are expected, as in 1 234 567,5`},
		{"1 234", german, `"1 234" is not a number with decimal separator "," and thousands separator "."`},
		{"1" + "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", plain, `is too long for a number: its canonical form has more than 100 characters`},
		{"1", NumberFormat{Decimal: ',', Thousands: ','}, `number format is not valid: decimal separator and thousands separator are both ","`},
		{"1", NumberFormat{Decimal: '1'}, `number format is not valid: decimal separator "1" cannot be a digit, a sign or a space`},
		{"1", NumberFormat{Decimal: ' '}, `decimal separator " " cannot be a digit, a sign or a space`},
		{"1", NumberFormat{Thousands: '-'}, `thousands separator "-" cannot be a digit or a sign`},
		{"1", NumberFormat{Decimal: '\u00a0', Thousands: ' '}, `decimal separator "\u00a0" cannot be a digit, a sign or a space`},
		{"1\xff", plain, `"1\xff" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := ParseNumber(tt.value, tt.format)
			require.Empty(t, got)
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestParseInteger(t *testing.T) {
	tests := []struct {
		value  string
		format NumberFormat
		want   string
		err    string
	}{
		{value: "42", want: "42"},
		{value: "-007", want: "-7"},
		{value: "+1", want: "1"},
		{value: "1,234,567", format: us, want: "1234567"},
		{value: "1.234.567", format: german, want: "1234567"},
		{value: "9223372036854775807", want: "9223372036854775807"},
		{value: "-9223372036854775808", want: "-9223372036854775808"},
		{value: "9223372036854775808", err: `"9223372036854775808" is out of range for an integer (-9223372036854775808 to 9223372036854775807)`},
		{value: "-9223372036854775809", err: `"-9223372036854775809" is out of range for an integer`},
		{value: "1.0", err: `"1.0" is not an integer: it has a fractional part`},
		{value: "1,5", format: german, err: `"1,5" is not an integer: it has a fractional part`},
		{value: "1,234", err: `"1,234" is not a number with decimal separator "." and no thousands separator`},
		{value: "x", err: `"x" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := ParseInteger(tt.value, tt.format)
			if tt.err != "" {
				require.Empty(t, got)
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNumberFormatString(t *testing.T) {
	require.Equal(t, `decimal separator "." and no thousands separator`, plain.String())
	require.Equal(t, `decimal separator "," and thousands separator "."`, german.String())
	require.Equal(t, `decimal separator "," and thousands separator " " (a space)`, french.String())
}

func FuzzParseNumber(f *testing.F) {
	for _, seed := range []string{"0", "-1.50", "+007", "1,234,567.5", "1.234,5", ".5", "1 234", "1\u00a0234", "-0.0", "", "1.", "12,34"} {
		f.Add(seed, int32('.'), int32(','))
		f.Add(seed, int32(','), int32(' '))
	}
	f.Fuzz(func(t *testing.T, s string, dec, thousands int32) {
		format := NumberFormat{Decimal: rune(dec), Thousands: rune(thousands)}
		got, err := ParseNumber(s, format)
		if err != nil {
			require.Empty(t, got)
			return
		}
		again, err := ParseNumber(got, NumberFormat{})
		require.NoError(t, err, "canonical %q of %q does not parse", got, s)
		require.Equal(t, got, again, "canonical form of %q is not stable", s)
		require.LessOrEqual(t, len(got), MaxNumberLength)
		if _, err := ParseInteger(s, format); err == nil {
			require.NotContains(t, got, ".")
		}
	})
}
