package xls

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// dateKind says how a number format shows a number.
type dateKind uint8

const (
	notDate  dateKind = iota
	kindDate          // date parts only: 2024-03-15
	kindTime          // time parts only: 09:30:00
	kindDateTime
	kindElapsed // [h], [m] or [s]: a duration, 36:00:00
)

// builtinDateKinds are the built-in number formats that show dates and
// times ([MS-XLS] 2.4.126, ECMA-376 18.8.30), for format ids that have no
// FORMAT record. 27-36 and 50-58 are the East Asian locales' ones.
var builtinDateKinds = map[uint16]dateKind{
	14: kindDate, 15: kindDate, 16: kindDate, 17: kindDate,
	18: kindTime, 19: kindTime, 20: kindTime, 21: kindTime,
	22: kindDateTime,
	45: kindTime, 46: kindElapsed, 47: kindTime,
	27: kindDate, 28: kindDate, 29: kindDate, 30: kindDate, 31: kindDate,
	32: kindTime, 33: kindTime, 34: kindTime, 35: kindTime, 36: kindDate,
	50: kindDate, 51: kindDate, 52: kindDate, 53: kindDate, 54: kindDate,
	55: kindTime, 56: kindTime, 57: kindDate, 58: kindDate,
}

// classifyFormat tells whether a number format code shows dates or times.
// It looks at the first section only, after dropping quoted text, escaped
// and padding characters and bracketed parts other than elapsed time.
func classifyFormat(code string) dateKind {
	if i := strings.IndexByte(code, ';'); i >= 0 {
		// A ';' inside quotes would end the section early; such codes show
		// numbers, and a shorter section only finds fewer date letters.
		code = code[:i]
	}
	lower := strings.ToLower(code)
	var tokens []byte // y, d, g (era), m, h, s in order of appearance
	var elapsed, ampm bool
	last := -2 // where the last token's letter was seen: "yyyy" is one token
	for i := 0; i < len(lower); i++ {
		switch ch := lower[i]; ch {
		case '"':
			j := strings.IndexByte(lower[i+1:], '"')
			if j < 0 {
				return notDate
			}
			i += j + 1
		case '\\', '_', '*':
			i++
		case '[':
			j := strings.IndexByte(lower[i+1:], ']')
			if j < 0 {
				return notDate
			}
			inner := lower[i+1 : i+1+j]
			if inner != "" && strings.Trim(inner, inner[:1]) == "" && strings.ContainsAny(inner[:1], "hms") {
				elapsed = true
				tokens = append(tokens, inner[0])
			}
			i += j + 1
		case '@', '#', '?':
			return notDate
		case 'a':
			switch {
			case strings.HasPrefix(lower[i:], "am/pm"):
				ampm = true
				i += 4
			case strings.HasPrefix(lower[i:], "a/p"):
				ampm = true
				i += 2
			}
		case 'g':
			if strings.HasPrefix(lower[i:], "general") {
				return notDate
			}
			if last != i-1 || tokens[len(tokens)-1] != ch {
				tokens = append(tokens, ch)
			}
			last = i
		case 'y', 'd', 'm', 'h', 's':
			if last != i-1 || tokens[len(tokens)-1] != ch {
				tokens = append(tokens, ch)
			}
			last = i
		}
	}
	var hasDate, hasTime bool
	for i, t := range tokens {
		switch t {
		case 'y', 'd', 'g':
			hasDate = true
		case 'h', 's':
			hasTime = true
		case 'm':
			// m is minutes right after hours or right before seconds.
			if (i > 0 && tokens[i-1] == 'h') || (i+1 < len(tokens) && tokens[i+1] == 's') {
				hasTime = true
			} else {
				hasDate = true
			}
		}
	}
	hasTime = hasTime || ampm
	switch {
	case elapsed:
		return kindElapsed
	case hasDate && hasTime:
		return kindDateTime
	case hasDate:
		return kindDate
	case hasTime:
		return kindTime
	}
	return notDate
}

const secondsPerDay = 86400

var (
	epoch1900 = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	epoch1904 = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
)

// maxSerial is the last day Excel shows: 9999-12-31.
func maxSerial(date1904 bool) int64 {
	if date1904 {
		return 2957003
	}
	return 2958465
}

// formatDate renders a date serial as ISO 8601, rounded to the second. It
// reports false for serials no calendar shows (negative, past 9999), which
// then stay numbers.
//
// In the 1900 system Excel counts the nonexistent 1900-02-29 as day 60;
// serials before it are one day later than the plain count from
// 1899-12-30, and day 60 itself is returned as Excel shows it.
func formatDate(v float64, kind dateKind, date1904 bool) (string, bool) {
	if math.IsNaN(v) || v < 0 || v >= float64(maxSerial(date1904)+1) {
		return "", false
	}
	// Rounding the whole count of seconds once keeps 45366.395833333336
	// at 09:30:00 instead of 09:29:59.99.
	secs := int64(math.Round(v * secondsPerDay))
	days, sod := secs/secondsPerDay, secs%secondsPerDay
	clock := fmt.Sprintf("%02d:%02d:%02d", sod/3600, sod/60%60, sod%60)
	switch kind {
	case kindElapsed:
		return fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs/60%60, secs%60), true
	case kindTime:
		if v < 1 {
			// A time of day: 23:59:59.7 shows as 00:00:00, not as a day.
			return clock, true
		}
	case kindDate:
		if sod == 0 {
			return calendarDay(days, date1904)
		}
	}
	day, ok := calendarDay(days, date1904)
	if !ok {
		return "", false
	}
	return day + "T" + clock, true
}

// calendarDay renders a whole date serial as YYYY-MM-DD.
func calendarDay(days int64, date1904 bool) (string, bool) {
	if days > maxSerial(date1904) {
		return "", false
	}
	if date1904 {
		return epoch1904.AddDate(0, 0, int(days)).Format(time.DateOnly), true
	}
	switch {
	case days == 60:
		return "1900-02-29", true
	case days < 60:
		days++
	}
	return epoch1900.AddDate(0, 0, int(days)).Format(time.DateOnly), true
}
