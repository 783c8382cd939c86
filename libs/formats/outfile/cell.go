package outfile

import (
	"time"
	"unicode/utf8"
)

// appendText appends the text form of v that CSV writes: numbers with the
// column's decimal separator, booleans with its words, dates and timestamps
// with its date format. JSONL writes dates and timestamps the same way.
func (c *column) appendText(b []byte, v *Value) []byte {
	switch v.Kind {
	case String, JSON:
		return append(b, v.Text...)
	case Integer, Decimal:
		return c.appendNumber(b, v.Num)
	case Bool:
		if v.Bool {
			return append(b, c.trueWord...)
		}
		return append(b, c.falseWord...)
	case Date:
		return c.appendDate(b, v.Time)
	case Timestamp:
		return c.appendTimestamp(b, v.Time)
	}
	return b
}

// appendNumber appends the canonical decimal num with the column's decimal
// separator; it never goes through a float.
func (c *column) appendNumber(b []byte, num string) []byte {
	if c.DecimalSeparator == '.' {
		return append(b, num...)
	}
	for i := 0; i < len(num); i++ {
		if num[i] == '.' {
			b = append(b, num[:i]...)
			b = utf8.AppendRune(b, c.DecimalSeparator)
			return append(b, num[i+1:]...)
		}
	}
	return append(b, num...)
}

// appendDate appends the calendar day of t (in t's own location, UTC for
// the values Ferry passes) as YYYY-MM-DD or with the date format.
func (c *column) appendDate(b []byte, t time.Time) []byte {
	y, m, d := t.Date()
	if c.dateISO && y >= 0 && y <= 9999 {
		return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
			byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
	}
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if c.dateISO {
		return day.AppendFormat(b, time.DateOnly)
	}
	return append(b, c.DateFormat.Format(day)...)
}

// appendTimestamp appends t in UTC as RFC 3339 or with the date format.
func (c *column) appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	if c.dateISO {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	return append(b, c.DateFormat.Format(t)...)
}

// dayOf returns the UTC midnight of t's calendar day.
func dayOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
