package xlsx

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// fmtKind says how a numeric cell's number format shows its value.
type fmtKind uint8

const (
	kindNumber   fmtKind = iota // anything that is not a date, time or duration
	kindDate                    // a date without a time: 2024-03-15
	kindDateTime                // a date and a time: 2024-03-15T09:30:00
	kindTime                    // a time of day: 09:30:00
	kindDuration                // elapsed time, [h]:mm:ss: 36:30:00

	kindMask fmtKind = 0x7
	// fracSeconds is or-ed into a kind whose format shows fractions of a
	// second (ss.0): the value is then rounded to the millisecond.
	fracSeconds fmtKind = 0x8
)

// builtinFormats classifies the built-in number format ids that show dates
// and times (ECMA-376 Part 1, 18.8.30, plus the East Asian and Thai ids whose
// format depends on the locale). Ids 34, 35, 52, 53, 55 and 56 are a time in
// Chinese locales but a date in Japanese and Korean ones; they give a date
// and a time, which loses nothing in either case.
var builtinFormats = map[int]fmtKind{
	14: kindDate, 15: kindDate, 16: kindDate, 17: kindDate,
	18: kindTime, 19: kindTime, 20: kindTime, 21: kindTime,
	22: kindDateTime,
	27: kindDate, 28: kindDate, 29: kindDate, 30: kindDate, 31: kindDate,
	32: kindTime, 33: kindTime,
	34: kindDateTime, 35: kindDateTime,
	36: kindDate,
	45: kindTime, 46: kindDuration, 47: kindTime | fracSeconds,
	50: kindDate, 51: kindDate,
	52: kindDateTime, 53: kindDateTime,
	54: kindDate,
	55: kindDateTime, 56: kindDateTime,
	57: kindDate, 58: kindDate,
	71: kindDate, 72: kindDate, 73: kindDate, 74: kindDate,
	75: kindTime, 76: kindTime, 77: kindDateTime, 78: kindTime,
	79: kindDuration, 80: kindTime | fracSeconds, 81: kindDate,
}

// classifyFormat tells from a number format code whether it shows a date, a
// time, both, or elapsed time. It looks at the first section (positive
// numbers) and at the tokens outside quoted text, backslash escapes, the
// spacing and fill characters (_x, *x) and brackets: y, d, e (era year) and
// g (era name) are dates; h and s are times; m is a month unless h or s is
// present, then a minute (Excel's rule, simplified); [h], [m] and [s] are
// elapsed time, a duration whatever else the format holds. "General", AM/PM,
// A/P and the exponent E+ are not tokens. A format with an '@' text
// placeholder is not a date.
func classifyFormat(code string) fmtKind {
	var date, month, tm, elapsed, dotZero, text bool
	lower := strings.ToLower(code)
loop:
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		switch c {
		case ';':
			break loop
		case '"':
			j := strings.IndexByte(lower[i+1:], '"')
			if j < 0 {
				break loop
			}
			i += j + 1
		case '\\', '_', '*':
			i++
		case '[':
			j := strings.IndexByte(lower[i+1:], ']')
			if j < 0 {
				break loop
			}
			if isElapsed(lower[i+1 : i+1+j]) {
				elapsed = true
			}
			i += j + 1
		case '@':
			text = true
		case 'g':
			if strings.HasPrefix(lower[i:], "general") {
				i += len("general") - 1
				continue
			}
			date = true
		case 'a':
			if strings.HasPrefix(lower[i:], "am/pm") {
				i += len("am/pm") - 1
			} else if strings.HasPrefix(lower[i:], "a/p") {
				i += len("a/p") - 1
			}
		case 'e':
			if i+1 < len(lower) && (lower[i+1] == '+' || lower[i+1] == '-') {
				i++
				continue
			}
			date = true
		case 'y', 'd':
			date = true
		case 'm':
			month = true
		case 'h', 's':
			tm = true
		case '.':
			if i+1 < len(lower) && lower[i+1] == '0' {
				dotZero = true
			}
		}
	}
	var k fmtKind
	switch {
	case text:
		return kindNumber
	case elapsed:
		k = kindDuration
	case (date || month && !tm) && tm:
		k = kindDateTime
	case date || month && !tm:
		k = kindDate
	case tm:
		k = kindTime
	default:
		return kindNumber
	}
	if dotZero && k != kindDate {
		k |= fracSeconds
	}
	return k
}

// isElapsed reports whether the text in brackets is an elapsed-time token:
// one or more h, m or s, all the same letter.
func isElapsed(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != s[0] {
			return false
		}
	}
	return s[0] == 'h' || s[0] == 'm' || s[0] == 's'
}

// Serial numbers of 9999-12-31, the last day Excel can show.
const (
	maxSerial1900 = 2958465
	maxSerial1904 = maxSerial1900 - 1462
)

// formatSerial formats a serial date-time number as the format kind says, in
// ISO 8601 without a zone. ok is false when the value cannot be a date (it is
// negative, not finite, or past 9999-12-31); the caller then gives the
// number.
//
// The 1900 date system counts serial 1 as 1900-01-01 and keeps Lotus 1-2-3's
// fictitious 1900-02-29 at serial 60: that day is output as "1900-02-29", the
// text Excel shows, which no date parser accepts, so that the error surfaces
// where the value is used. Serial 0 is 1899-12-31 (Excel's "1900-01-00").
// The 1904 system counts serial 0 as 1904-01-01.
func formatSerial(dst []byte, v float64, k fmtKind, date1904 bool) ([]byte, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return dst, false
	}
	unit := int64(1000) // milliseconds per rounding step
	if k&fracSeconds != 0 {
		unit = 1
	}
	const msPerDay = 86_400_000
	if k&kindMask == kindDuration {
		if math.Abs(v) > 1e9 {
			return dst, false
		}
		neg := v < 0
		days := math.Floor(math.Abs(v))
		ms := roundTo((math.Abs(v)-days)*msPerDay, unit) + int64(days)*msPerDay
		if neg && ms != 0 {
			dst = append(dst, '-')
		}
		dst = strconv.AppendInt(dst, ms/3_600_000, 10)
		dst = append(dst, ':')
		dst = append2(dst, ms/60_000%60)
		dst = append(dst, ':')
		dst = append2(dst, ms/1000%60)
		return appendMillis(dst, ms, k), true
	}
	maxSerial := float64(maxSerial1900)
	if date1904 {
		maxSerial = maxSerial1904
	}
	if v < 0 || v >= maxSerial+1 {
		return dst, false
	}
	days := int64(v)
	ms := roundTo((v-float64(days))*msPerDay, unit)
	if ms >= msPerDay {
		days++
		ms -= msPerDay
	}
	if float64(days) > maxSerial {
		return dst, false
	}
	kind := k & kindMask
	if kind == kindDate || kind == kindDateTime {
		switch {
		case date1904:
			dst = appendDate(dst, time.Date(1904, 1, 1+int(days), 0, 0, 0, 0, time.UTC))
		case days == 60:
			dst = append(dst, "1900-02-29"...)
		case days < 60:
			dst = appendDate(dst, time.Date(1899, 12, 31+int(days), 0, 0, 0, 0, time.UTC))
		default:
			dst = appendDate(dst, time.Date(1899, 12, 30+int(days), 0, 0, 0, 0, time.UTC))
		}
		if kind == kindDate {
			return dst, true
		}
		dst = append(dst, 'T')
	}
	dst = append2(dst, ms/3_600_000)
	dst = append(dst, ':')
	dst = append2(dst, ms/60_000%60)
	dst = append(dst, ':')
	dst = append2(dst, ms/1000%60)
	return appendMillis(dst, ms, k), true
}

// roundTo rounds x milliseconds to a multiple of unit milliseconds. The
// fraction of a day comes from a double near 45 000, so it carries an error
// of about a microsecond: rounding to the second or millisecond removes it.
func roundTo(x float64, unit int64) int64 {
	return int64(math.Round(x/float64(unit))) * unit
}

func appendMillis(dst []byte, ms int64, k fmtKind) []byte {
	if k&fracSeconds == 0 {
		return dst
	}
	n := ms % 1000
	return append(dst, '.', byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
}

func append2(dst []byte, n int64) []byte {
	return append(dst, byte('0'+n/10%10), byte('0'+n%10))
}

func appendDate(dst []byte, t time.Time) []byte {
	y, m, d := t.Date()
	dst = append(dst, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	dst = append2(dst, int64(m))
	dst = append(dst, '-')
	return append2(dst, int64(d))
}

// isDecimal reports whether b is a plain decimal number as Excel writes it:
// an optional sign, digits with an optional fraction, and an optional
// exponent. It refuses what strconv.ParseFloat would also take: hex floats,
// underscores, Inf and NaN.
func isDecimal(b []byte) bool {
	i := 0
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		i++
	}
	digits := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			i++
		}
		exp := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(b)
}

// isShortInt reports whether b is an integer of at most 15 digits without a
// plus sign or leading zeros: such text is already the shortest decimal that
// round-trips through a double, so it is output as written.
func isShortInt(b []byte) bool {
	d := b
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 15 || (d[0] == '0' && len(d) > 1) || (d[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// appendNumber appends the shortest decimal that round-trips to v, never
// with an exponent and never with a trailing ".0"; -0 gives "0".
func appendNumber(dst []byte, v float64) []byte {
	if v == 0 {
		return append(dst, '0')
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}
