package values

import (
	"strconv"
	"time"
)

// Format writes t with the layout's tokens, reading the date and time in
// t's location (pass a UTC time to write UTC). It is the inverse of the
// parsers: a value written with a layout reads back with the same layout as
// the same date or instant, except for what the tokens leave out (the
// century with YY, the time of day without H or h, the seconds without ss).
//
// SSS writes the fraction of a second with at least 3 digits and as many
// more as it takes to be exact (.000, .120, .1234). Z writes "Z" for UTC and
// ±hh:mm otherwise, in whole minutes. Month names are English. A year
// outside 0000-9999 is written with as many digits as it has. The ISO layout
// writes RFC 3339 (time.RFC3339Nano); a caller that writes a date as ISO
// 8601 writes YYYY-MM-DD itself.
func (l *DateLayout) Format(t time.Time) string {
	if l.iso {
		return t.Format(time.RFC3339Nano)
	}
	return string(l.appendFormat(make([]byte, 0, len(l.pattern)+16), t))
}

// appendFormat is Format appending to b.
func (l *DateLayout) appendFormat(b []byte, t time.Time) []byte {
	for _, it := range l.items {
		switch it.kind {
		case tokLiteral:
			b = append(b, it.text...)
		case tokYear4:
			b = appendPadded(b, t.Year(), 4)
		case tokYear2:
			b = appendPadded(b, (t.Year()%100+100)%100, 2)
		case tokMonth2:
			b = appendPadded(b, int(t.Month()), 2)
		case tokMonth1:
			b = strconv.AppendInt(b, int64(t.Month()), 10)
		case tokMonthAbbr:
			b = append(b, monthNames[t.Month()-1][:3]...)
		case tokMonthName:
			b = append(b, monthNames[t.Month()-1]...)
		case tokDay2:
			b = appendPadded(b, t.Day(), 2)
		case tokDay1:
			b = strconv.AppendInt(b, int64(t.Day()), 10)
		case tokHour2:
			b = appendPadded(b, t.Hour(), 2)
		case tokHour1:
			b = strconv.AppendInt(b, int64(t.Hour()), 10)
		case tokHour12x2:
			b = appendPadded(b, hour12(t.Hour()), 2)
		case tokHour12x1:
			b = strconv.AppendInt(b, int64(hour12(t.Hour())), 10)
		case tokMinute:
			b = appendPadded(b, t.Minute(), 2)
		case tokSecond:
			b = appendPadded(b, t.Second(), 2)
		case tokFraction:
			b = appendFraction(b, t.Nanosecond())
		case tokAMPM:
			if t.Hour() < 12 {
				b = append(b, "AM"...)
			} else {
				b = append(b, "PM"...)
			}
		case tokZone:
			b = appendOffset(b, t)
		}
	}
	return b
}

// appendPadded appends v with at least width digits.
func appendPadded(b []byte, v, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var digits [20]byte
	s := strconv.AppendInt(digits[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendFraction appends nanoseconds as a fraction with at least 3 digits
// and no trailing zeros beyond them.
func appendFraction(b []byte, nsec int) []byte {
	var digits [9]byte
	for i := 8; i >= 0; i-- {
		digits[i] = byte('0' + nsec%10)
		nsec /= 10
	}
	n := 9
	for n > 3 && digits[n-1] == '0' {
		n--
	}
	return append(b, digits[:n]...)
}

// appendOffset appends "Z" for UTC or the offset as ±hh:mm.
func appendOffset(b []byte, t time.Time) []byte {
	_, offset := t.Zone()
	if offset == 0 {
		return append(b, 'Z')
	}
	sign := byte('+')
	if offset < 0 {
		sign, offset = '-', -offset
	}
	b = append(b, sign)
	b = appendPadded(b, offset/3600, 2)
	b = append(b, ':')
	return appendPadded(b, offset%3600/60, 2)
}

// hour12 converts an hour of the day (0-23) to the 12-hour clock (1-12).
func hour12(h int) int {
	if h%12 == 0 {
		return 12
	}
	return h % 12
}
