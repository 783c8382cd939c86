package values

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ISO is the pattern that stands for ISO 8601: YYYY-MM-DD for dates and
// RFC 3339 (with a "T" or a space between date and time) for timestamps.
const ISO = "ISO"

// DateLayout is a compiled date or time pattern, written with the tokens
// users know from spreadsheets rather than Go layouts:
//
//	YYYY  4-digit year                 YY    2-digit year (00-68 is 2000-2068, 69-99 is 1969-1999)
//	MM    2-digit month (01-12)        M     month, 1 or 2 digits
//	MMM   month abbreviation (Jan)     MMMM  month name (January)
//	DD    2-digit day (01-31)          D     day, 1 or 2 digits
//	HH    2-digit hour (00-23)         H     hour, 1 or 2 digits (0-23)
//	hh    2-digit hour (01-12)         h     hour, 1 or 2 digits (1-12); both need A
//	mm    2-digit minutes              ss    2-digit seconds
//	SSS   fraction of a second, 1 to 9 digits
//	A     AM or PM (any case)
//	Z     UTC offset: Z, +02:00 or +0200
//
// Month names are English and matched without regard to case. Any other
// character stands for itself, except ASCII letters: "T" is a literal, and
// other letters must be quoted ('at') so that a mistyped token such as "dd"
// or "yyyy" is reported instead of silently matching nothing. Two single
// quotes in a row stand for one quote. The pattern "ISO" means ISO 8601.
type DateLayout struct {
	pattern string
	iso     bool
	items   []item
	hasTime bool
	hasZone bool
}

// tokenKind is one element of a compiled pattern.
type tokenKind int

const (
	tokLiteral tokenKind = iota
	tokYear4
	tokYear2
	tokMonth2
	tokMonth1
	tokMonthAbbr
	tokMonthName
	tokDay2
	tokDay1
	tokHour2
	tokHour1
	tokHour12x2
	tokHour12x1
	tokMinute
	tokSecond
	tokFraction
	tokAMPM
	tokZone
)

// item is a token or a run of literal text in a compiled pattern.
type item struct {
	kind tokenKind
	text string // the literal text, or the token as the user wrote it
}

// tokens maps a letter and how often it repeats to a token.
var tokens = map[string]tokenKind{
	"YYYY": tokYear4, "YY": tokYear2,
	"MMMM": tokMonthName, "MMM": tokMonthAbbr, "MM": tokMonth2, "M": tokMonth1,
	"DD": tokDay2, "D": tokDay1,
	"HH": tokHour2, "H": tokHour1, "hh": tokHour12x2, "h": tokHour12x1,
	"mm": tokMinute, "ss": tokSecond, "SSS": tokFraction,
	"A": tokAMPM, "Z": tokZone,
}

// tokenHints suggest the right token for letters that are not tokens.
var tokenHints = map[rune]string{
	'Y': "use YYYY for a 4-digit year or YY for a 2-digit year",
	'y': "use YYYY for a 4-digit year or YY for a 2-digit year",
	'M': "use MM, M, MMM or MMMM for the month",
	'D': "use DD or D for the day of the month",
	'd': "use DD or D for the day of the month",
	'H': "use HH or H for the hour",
	'h': "use hh or h for the hour on a 12-hour clock",
	'm': "use mm for the minutes",
	's': "use ss for the seconds",
	'S': "use SSS for a fraction of a second",
	'a': "use A for AM/PM",
	'A': "use A for AM/PM",
	'z': "use Z for the UTC offset",
	'Z': "use Z for the UTC offset",
}

// ParseLayout compiles a date or time pattern. The error names the pattern
// and the token that is wrong.
func ParseLayout(pattern string) (*DateLayout, error) {
	if pattern == ISO {
		return &DateLayout{pattern: pattern, iso: true}, nil
	}
	if pattern == "" {
		return nil, fmt.Errorf("date format is empty")
	}
	if !utf8.ValidString(pattern) {
		return nil, fmt.Errorf("date format %q is not valid UTF-8", pattern)
	}
	l := &DateLayout{pattern: pattern}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			l.items = append(l.items, item{kind: tokLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '\'':
			end, text, ok := quoted(pattern, i)
			if !ok {
				return nil, fmt.Errorf("date format %q is not valid: the quote at character %d is not closed", pattern, runeIndex(pattern, i))
			}
			lit.WriteString(text)
			i = end
		case c == 'T':
			lit.WriteByte(c)
			i++
		case isASCIILetter(c):
			n := 1
			for i+n < len(pattern) && pattern[i+n] == c {
				n++
			}
			run := pattern[i : i+n]
			kind, ok := tokens[run]
			if !ok {
				msg := fmt.Sprintf("date format %q is not valid: %q is not a format token", pattern, run)
				if hint, ok := tokenHints[rune(c)]; ok {
					msg += " (" + hint + ")"
				} else {
					msg += " (quote letters that are meant literally, as in 'at')"
				}
				return nil, fmt.Errorf("%s", msg)
			}
			flush()
			l.items = append(l.items, item{kind: kind, text: run})
			i += n
		default:
			_, size := utf8.DecodeRuneInString(pattern[i:])
			lit.WriteString(pattern[i : i+size])
			i += size
		}
	}
	flush()
	if err := l.check(); err != nil {
		return nil, fmt.Errorf("date format %q is not valid: %w", pattern, err)
	}
	return l, nil
}

// quoted reads the quoted literal that starts at pattern[start] (a quote)
// and returns the index after the closing quote and the literal text.
func quoted(pattern string, start int) (end int, text string, ok bool) {
	if strings.HasPrefix(pattern[start:], "''") {
		return start + 2, "'", true
	}
	var b strings.Builder
	for i := start + 1; i < len(pattern); i++ {
		if pattern[i] != '\'' {
			b.WriteByte(pattern[i])
			continue
		}
		if i+1 < len(pattern) && pattern[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		return i + 1, b.String(), true
	}
	return 0, "", false
}

// check rejects patterns that cannot describe a date or that would read a
// value in two ways.
func (l *DateLayout) check() error {
	seen := map[string]string{}
	var prev *item
	for i := range l.items {
		it := &l.items[i]
		if it.kind != tokLiteral {
			part := it.kind.part()
			if first, dup := seen[part]; dup {
				return fmt.Errorf("the %s appears twice (%s and %s)", part, first, it.text)
			}
			seen[part] = it.text
		}
		if prev != nil && prev.kind.variableWidth() && it.startsWithDigit() {
			return fmt.Errorf("%s must be followed by a separator, since it has 1 or 2 digits and the next part is a number", prev.text)
		}
		prev = it
	}
	has := func(part string) bool { _, ok := seen[part]; return ok }
	for _, part := range []string{"year", "month", "day"} {
		if !has(part) {
			return fmt.Errorf("it has no %s", part)
		}
	}
	switch {
	case has("minutes") && !has("hour"):
		return fmt.Errorf("it has minutes but no hour")
	case has("seconds") && !has("minutes"):
		return fmt.Errorf("it has seconds but no minutes")
	case has("fraction of a second") && !has("seconds"):
		return fmt.Errorf("it has a fraction of a second but no seconds")
	case has("UTC offset") && !has("hour"):
		return fmt.Errorf("it has a UTC offset but no time of day")
	}
	twelve := strings.HasPrefix(seen["hour"], "h")
	switch {
	case has("AM/PM") && !twelve:
		return fmt.Errorf("A (AM/PM) needs the 12-hour tokens hh or h, not %s", seen["hour"])
	case twelve && !has("AM/PM"):
		return fmt.Errorf("%s is an hour on a 12-hour clock and needs A (AM/PM)", seen["hour"])
	}
	l.hasTime = has("hour")
	l.hasZone = has("UTC offset")
	return nil
}

// part names the date or time part a token reads.
func (k tokenKind) part() string {
	switch k {
	case tokYear4, tokYear2:
		return "year"
	case tokMonth2, tokMonth1, tokMonthAbbr, tokMonthName:
		return "month"
	case tokDay2, tokDay1:
		return "day"
	case tokHour2, tokHour1, tokHour12x2, tokHour12x1:
		return "hour"
	case tokMinute:
		return "minutes"
	case tokSecond:
		return "seconds"
	case tokFraction:
		return "fraction of a second"
	case tokAMPM:
		return "AM/PM"
	case tokZone:
		return "UTC offset"
	}
	return ""
}

// variableWidth reports whether a token reads a varying number of digits.
func (k tokenKind) variableWidth() bool {
	switch k {
	case tokMonth1, tokDay1, tokHour1, tokHour12x1, tokFraction:
		return true
	}
	return false
}

// startsWithDigit reports whether the text an item matches may start with a digit.
func (it *item) startsWithDigit() bool {
	switch it.kind {
	case tokLiteral:
		return it.text[0] >= '0' && it.text[0] <= '9'
	case tokMonthAbbr, tokMonthName, tokAMPM, tokZone:
		return false
	}
	return true
}

// String returns the pattern as the user wrote it.
func (l *DateLayout) String() string { return l.pattern }

// HasTime reports whether the pattern reads a time of day. It is false for
// ISO, which reads a time only when it parses a timestamp.
func (l *DateLayout) HasTime() bool { return l.hasTime }

// HasZone reports whether the pattern reads a UTC offset. It is false for
// ISO, whose timestamps may or may not carry an offset.
func (l *DateLayout) HasZone() bool { return l.hasZone }

// IsISO reports whether the layout is the ISO 8601 pattern "ISO".
func (l *DateLayout) IsISO() bool { return l.iso }

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// runeIndex converts a byte offset into a 1-based character position.
func runeIndex(s string, byteOffset int) int {
	return utf8.RuneCountInString(s[:byteOffset]) + 1
}
