package values

import (
	"fmt"
	"strings"
	"time"
)

// fields holds the parts of a date or time that a pattern read from a value.
type fields struct {
	year, month, day           int
	hour, minute, second, nsec int
	twelveHour, pm             bool
	hasOffset                  bool
	offset                     int // seconds east of UTC
}

// mismatch says why a value does not fit a pattern. invalid is true when
// the value has the pattern's shape but names a date or time that does not
// exist (month 13, February 30, hour 25).
type mismatch struct {
	reason  string
	invalid bool
}

var (
	monthNames = [12]string{"January", "February", "March", "April", "May", "June",
		"July", "August", "September", "October", "November", "December"}
	isoDate = &DateLayout{pattern: "YYYY-MM-DD", items: []item{
		{tokYear4, "YYYY"}, {tokLiteral, "-"}, {tokMonth2, "MM"}, {tokLiteral, "-"}, {tokDay2, "DD"},
	}}
	isoTime = []item{
		{tokHour2, "HH"}, {tokLiteral, ":"}, {tokMinute, "mm"}, {tokLiteral, ":"}, {tokSecond, "ss"},
	}
)

// match reads s with the layout's items.
func (l *DateLayout) match(s string) (fields, *mismatch) {
	var f fields
	pos, m := matchItems(l.items, s, &f, 0)
	if m != nil {
		return f, m
	}
	if pos != len(s) {
		return f, &mismatch{reason: fmt.Sprintf("unexpected %q at character %d after the end of the format", s[pos:], runeIndex(s, pos))}
	}
	return f, f.validate()
}

// matchISOTimestamp reads an RFC 3339 timestamp whose offset may be
// missing and whose date and time may be separated by a space.
func matchISOTimestamp(s string) (fields, *mismatch) {
	var f fields
	pos, m := matchItems(isoDate.items, s, &f, 0)
	if m != nil {
		return f, m
	}
	if pos == len(s) {
		return f, &mismatch{reason: "it has no time of day"}
	}
	if c := s[pos]; c != 'T' && c != 't' && c != ' ' {
		return f, &mismatch{reason: fmt.Sprintf(`expected "T" or a space at character %d`, runeIndex(s, pos))}
	}
	if pos, m = matchItems(isoTime, s, &f, pos+1); m != nil {
		return f, m
	}
	if pos < len(s) && s[pos] == '.' {
		if pos, m = matchItems([]item{{tokFraction, "SSS"}}, s, &f, pos+1); m != nil {
			return f, m
		}
	}
	if pos < len(s) {
		if pos, m = matchItems([]item{{tokZone, "Z"}}, s, &f, pos); m != nil {
			return f, m
		}
	}
	if pos != len(s) {
		return f, &mismatch{reason: fmt.Sprintf("unexpected %q at character %d", s[pos:], runeIndex(s, pos))}
	}
	return f, f.validate()
}

// matchItems reads items from s starting at byte pos and returns the
// position after the last one.
func matchItems(items []item, s string, f *fields, pos int) (int, *mismatch) {
	for _, it := range items {
		next, ok := matchItem(it, s, f, pos)
		if !ok {
			return pos, &mismatch{reason: fmt.Sprintf("expected %s at character %d", it.describe(), runeIndex(s, pos))}
		}
		if next < 0 {
			return pos, &mismatch{reason: fmt.Sprintf("%s at character %d has more than 9 digits", it.describe(), runeIndex(s, pos))}
		}
		pos = next
	}
	return pos, nil
}

// matchItem reads one item. It returns the position after it, or -1 when
// a fraction of a second is too long.
func matchItem(it item, s string, f *fields, pos int) (int, bool) {
	rest := s[pos:]
	switch it.kind {
	case tokLiteral:
		return pos + len(it.text), strings.HasPrefix(rest, it.text)
	case tokYear4:
		return fixedDigits(rest, pos, 4, &f.year)
	case tokYear2:
		next, ok := fixedDigits(rest, pos, 2, &f.year)
		if f.year < 69 {
			f.year += 2000
		} else {
			f.year += 1900
		}
		return next, ok
	case tokMonth2:
		return fixedDigits(rest, pos, 2, &f.month)
	case tokMonth1:
		return someDigits(rest, pos, 2, &f.month)
	case tokDay2:
		return fixedDigits(rest, pos, 2, &f.day)
	case tokDay1:
		return someDigits(rest, pos, 2, &f.day)
	case tokHour2:
		return fixedDigits(rest, pos, 2, &f.hour)
	case tokHour1:
		return someDigits(rest, pos, 2, &f.hour)
	case tokHour12x2:
		f.twelveHour = true
		return fixedDigits(rest, pos, 2, &f.hour)
	case tokHour12x1:
		f.twelveHour = true
		return someDigits(rest, pos, 2, &f.hour)
	case tokMinute:
		return fixedDigits(rest, pos, 2, &f.minute)
	case tokSecond:
		return fixedDigits(rest, pos, 2, &f.second)
	case tokFraction:
		n := leadingDigits(rest)
		if n == 0 {
			return pos, false
		}
		if n > 9 {
			return -1, true
		}
		f.nsec = atoi(rest[:n])
		for i := n; i < 9; i++ {
			f.nsec *= 10
		}
		return pos + n, true
	case tokMonthAbbr:
		for i, name := range monthNames {
			if len(rest) >= 3 && strings.EqualFold(rest[:3], name[:3]) {
				f.month = i + 1
				return pos + 3, true
			}
		}
		return pos, false
	case tokMonthName:
		for i, name := range monthNames {
			if len(rest) >= len(name) && strings.EqualFold(rest[:len(name)], name) {
				f.month = i + 1
				return pos + len(name), true
			}
		}
		return pos, false
	case tokAMPM:
		if len(rest) >= 2 && (strings.EqualFold(rest[:2], "AM") || strings.EqualFold(rest[:2], "PM")) {
			f.pm = strings.EqualFold(rest[:2], "PM")
			return pos + 2, true
		}
		return pos, false
	case tokZone:
		return matchOffset(rest, pos, f)
	}
	return pos, false
}

// matchOffset reads Z, ±hh:mm or ±hhmm.
func matchOffset(rest string, pos int, f *fields) (int, bool) {
	if rest == "" {
		return pos, false
	}
	if rest[0] == 'Z' || rest[0] == 'z' {
		f.hasOffset, f.offset = true, 0
		return pos + 1, true
	}
	if rest[0] != '+' && rest[0] != '-' {
		return pos, false
	}
	var h, m int
	n := 1
	next, ok := fixedDigits(rest[n:], n, 2, &h)
	if !ok {
		return pos, false
	}
	n = next
	if n < len(rest) && rest[n] == ':' {
		n++
	}
	next, ok = fixedDigits(rest[n:], n, 2, &m)
	if !ok || h > 23 || m > 59 {
		return pos, false
	}
	f.hasOffset = true
	f.offset = (h*60 + m) * 60
	if rest[0] == '-' {
		f.offset = -f.offset
	}
	return pos + next, true
}

// fixedDigits reads exactly n ASCII digits.
func fixedDigits(rest string, pos, n int, dst *int) (int, bool) {
	if leadingDigits(rest) < n {
		return pos, false
	}
	*dst = atoi(rest[:n])
	return pos + n, true
}

// someDigits reads 1 to max ASCII digits.
func someDigits(rest string, pos, max int, dst *int) (int, bool) {
	n := min(leadingDigits(rest), max)
	if n == 0 {
		return pos, false
	}
	*dst = atoi(rest[:n])
	return pos + n, true
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// atoi converts a short run of ASCII digits.
func atoi(digits string) int {
	v := 0
	for i := 0; i < len(digits); i++ {
		v = v*10 + int(digits[i]-'0')
	}
	return v
}

// describe says in words what an item reads.
func (it item) describe() string {
	switch it.kind {
	case tokLiteral:
		return fmt.Sprintf("%q", it.text)
	case tokYear4:
		return "a 4-digit year (YYYY)"
	case tokYear2:
		return "a 2-digit year (YY)"
	case tokMonth2:
		return "a 2-digit month (MM)"
	case tokMonth1:
		return "a month number (M)"
	case tokMonthAbbr:
		return "a month abbreviation like Jan (MMM)"
	case tokMonthName:
		return "a month name like January (MMMM)"
	case tokDay2:
		return "a 2-digit day (DD)"
	case tokDay1:
		return "a day number (D)"
	case tokHour2:
		return "a 2-digit hour (HH)"
	case tokHour1:
		return "an hour (H)"
	case tokHour12x2:
		return "a 2-digit hour from 01 to 12 (hh)"
	case tokHour12x1:
		return "an hour from 1 to 12 (h)"
	case tokMinute:
		return "2-digit minutes (mm)"
	case tokSecond:
		return "2-digit seconds (ss)"
	case tokFraction:
		return "a fraction of a second (SSS)"
	case tokAMPM:
		return "AM or PM (A)"
	case tokZone:
		return "a UTC offset like +02:00 or Z (Z)"
	}
	return it.text
}

// validate checks that the parts name a date and time that exist and turns
// a 12-hour clock into a 24-hour one.
func (f *fields) validate() *mismatch {
	bad := func(format string, args ...any) *mismatch {
		return &mismatch{reason: fmt.Sprintf(format, args...), invalid: true}
	}
	switch {
	case f.year == 0:
		return bad("year 0000 does not exist")
	case f.month < 1 || f.month > 12:
		return bad("month %d does not exist", f.month)
	case f.day < 1:
		return bad("day %d does not exist", f.day)
	}
	if n := daysIn(f.year, f.month); f.day > n {
		return bad("%s %04d has %d days", time.Month(f.month), f.year, n)
	}
	if f.twelveHour {
		if f.hour < 1 || f.hour > 12 {
			return bad("hour %d does not exist on a 12-hour clock (1 to 12)", f.hour)
		}
		f.hour %= 12
		if f.pm {
			f.hour += 12
		}
		f.twelveHour = false
	}
	switch {
	case f.hour > 23:
		return bad("hour %d does not exist (00 to 23)", f.hour)
	case f.minute > 59:
		return bad("minute %d does not exist (00 to 59)", f.minute)
	case f.second > 59:
		return bad("second %d does not exist (00 to 59)", f.second)
	}
	return nil
}

// daysIn returns the number of days of a month.
func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// hasTimeOfDay reports whether the parts carry a time other than midnight.
func (f *fields) hasTimeOfDay() bool {
	return f.hour != 0 || f.minute != 0 || f.second != 0 || f.nsec != 0
}

// date formats the date parts as YYYY-MM-DD.
func (f *fields) date() string {
	if f.year < 0 || f.year > 9999 || f.month < 0 || f.month > 99 || f.day < 0 || f.day > 99 {
		return fmt.Sprintf("%04d-%02d-%02d", f.year, f.month, f.day)
	}
	// Every imported date goes through here: no fmt.
	b := [10]byte{byte('0' + f.year/1000), byte('0' + f.year/100%10), byte('0' + f.year/10%10), byte('0' + f.year%10), '-',
		byte('0' + f.month/10), byte('0' + f.month%10), '-', byte('0' + f.day/10), byte('0' + f.day%10)}
	return string(b[:])
}
