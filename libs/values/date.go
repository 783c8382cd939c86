package values

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// dayMonthRE matches dates written with the day and month first in either
// order, such as 03/04/2024, 3.4.24 or 03-04-2024.
var dayMonthRE = regexp.MustCompile(`^([0-9]{1,2})([./-])([0-9]{1,2})([./-])([0-9]{4}|[0-9]{2})$`)

// ParseDate parses s with the layouts, in order, and returns it as
// YYYY-MM-DD.
//
// With no layouts only ISO 8601 (YYYY-MM-DD) is accepted. A value such as
// 03/04/2024 is then refused with an *AmbiguousDateError when it reads as two
// different dates (day first and month first), and with an error that asks
// for a date format otherwise: a date is never guessed.
//
// With several layouts, a value that reads as different dates under two of
// them is an *AmbiguousDateError; readings that agree are fine. A layout
// with a time of day accepts only midnight, since a date cannot hold a time;
// a layout with a UTC offset is refused.
func ParseDate(s string, layouts []*DateLayout) (string, error) {
	if len(layouts) == 0 {
		return parseISODate(s)
	}
	if len(layouts) == 1 && !layouts[0].hasZone {
		// The common case, once per row: one format, nothing to compare.
		l := layouts[0]
		f, m := l.matchDate(s)
		if m == nil && !f.hasTimeOfDay() {
			return f.date(), nil
		}
	}
	var (
		found    []Reading
		failures []failure
	)
	for _, l := range layouts {
		if l.hasZone {
			return "", fmt.Errorf("date format %s has a UTC offset (Z), which a date cannot hold", l.pattern)
		}
		f, m := l.matchDate(s)
		if m != nil {
			failures = append(failures, l.failure(s, "date", m))
			continue
		}
		if f.hasTimeOfDay() {
			reason := fmt.Sprintf("it has a time of day (%02d:%02d:%02d), which a date cannot hold", f.hour, f.minute, f.second)
			failures = append(failures, failure{l.pattern, fmt.Sprintf("%q is not a date: %s", s, reason), reason})
			continue
		}
		found = appendReading(found, Reading{Value: f.date(), Layout: l.pattern, Label: "format " + l.pattern})
	}
	switch {
	case len(found) == 1:
		return found[0].Value, nil
	case len(found) > 1:
		return "", &AmbiguousDateError{Value: s, Readings: found, Advice: "keep only one of these formats"}
	}
	return "", noMatch(s, "date", failures)
}

// matchDate reads s as a date with the layout; ISO means YYYY-MM-DD.
func (l *DateLayout) matchDate(s string) (fields, *mismatch) {
	if l.iso {
		return isoDate.match(s)
	}
	return l.match(s)
}

// parseISODate accepts YYYY-MM-DD and explains what else s looks like.
func parseISODate(s string) (string, error) {
	f, m := isoDate.match(s)
	if m == nil {
		return f.date(), nil
	}
	if m.invalid {
		return "", fmt.Errorf("%q is not a valid date: %s", s, m.reason)
	}
	groups := dayMonthRE.FindStringSubmatch(s)
	if groups == nil || groups[2] != groups[4] {
		return "", fmt.Errorf("%q is not a date in ISO 8601 form YYYY-MM-DD; set a date format to read other forms", s)
	}
	a, b, year := atoi(groups[1]), atoi(groups[3]), atoi(groups[5])
	if len(groups[5]) == 2 {
		year += 2000
		if year >= 2069 {
			year -= 100
		}
	}
	sep := groups[2]
	dayFirst := fields{year: year, month: b, day: a}
	monthFirst := fields{year: year, month: a, day: b}
	dayOK, monthOK := dayFirst.validate() == nil, monthFirst.validate() == nil
	yearTok := "YYYY"
	if len(groups[5]) == 2 {
		yearTok = "YY"
	}
	dayFormat := strings.Join([]string{"DD", "MM", yearTok}, sep)
	monthFormat := strings.Join([]string{"MM", "DD", yearTok}, sep)
	switch {
	case dayOK && monthOK && dayFirst != monthFirst:
		return "", &AmbiguousDateError{Value: s, Readings: []Reading{
			{Value: dayFirst.date(), Label: "day first", Layout: dayFormat, monthFirst: false},
			{Value: monthFirst.date(), Label: "month first", Layout: monthFormat, monthFirst: true},
		}, Advice: fmt.Sprintf("set the date format (%s or %s) to say which", dayFormat, monthFormat)}
	case dayOK:
		return "", fmt.Errorf("%q is not a date in ISO 8601 form YYYY-MM-DD: it looks like %s (day first), but dates are never guessed; set the date format %s to read it",
			s, spellDate(dayFirst.date(), false), dayFormat)
	case monthOK:
		return "", fmt.Errorf("%q is not a date in ISO 8601 form YYYY-MM-DD: it looks like %s (month first), but dates are never guessed; set the date format %s to read it",
			s, spellDate(monthFirst.date(), true), monthFormat)
	}
	return "", fmt.Errorf("%q is not a valid date in any order of day and month, and not in ISO 8601 form YYYY-MM-DD", s)
}

// Reading is one way to read an ambiguous value.
type Reading struct {
	// Value is the canonical text of the reading: YYYY-MM-DD for a date,
	// RFC 3339 for a timestamp.
	Value string
	// Layout is the pattern that gives this reading.
	Layout string
	// Label says where the reading comes from, e.g. "day first" or
	// "format DD/MM/YYYY".
	Label string

	monthFirst bool
}

// AmbiguousDateError reports a date or timestamp that reads as two or more
// different values. Ferry never picks one.
type AmbiguousDateError struct {
	// Value is the text that was parsed.
	Value string
	// Readings lists the different values, in the order of the layouts.
	Readings []Reading
	// Advice says how to resolve the ambiguity.
	Advice string
}

// Error says what the value reads as, e.g. `"03/04/2024" reads as 3 April
// 2024 (day first) or March 4, 2024 (month first); ...`.
func (e *AmbiguousDateError) Error() string {
	parts := make([]string, len(e.Readings))
	for i, r := range e.Readings {
		parts[i] = fmt.Sprintf("%s (%s)", spellDate(r.Value, r.monthFirst), r.Label)
	}
	msg := fmt.Sprintf("%q reads as %s", e.Value, joinOr(parts))
	if e.Advice != "" {
		msg += "; " + e.Advice
	}
	return msg
}

// appendReading adds r unless a reading with the same value is present.
func appendReading(rs []Reading, r Reading) []Reading {
	for _, have := range rs {
		if have.Value == r.Value {
			return rs
		}
	}
	return append(rs, r)
}

// spellDate writes a YYYY-MM-DD date in words, 3 April 2024 or, for a
// month-first reading, March 4, 2024. Other values are returned unchanged.
func spellDate(value string, monthFirst bool) string {
	d, err := time.Parse("2006-01-02", value)
	if err != nil {
		return value
	}
	if monthFirst {
		return d.Format("January 2, 2006")
	}
	return d.Format("2 January 2006")
}

// joinOr joins words as "a, b or c".
func joinOr(words []string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// failure says why a value does not fit one layout.
type failure struct {
	layout   string
	sentence string // a sentence naming the value, for a single layout
	reason   string // the reason alone, for a list of layouts
}

// failure describes why s does not fit the layout.
func (l *DateLayout) failure(s, what string, m *mismatch) failure {
	if m.invalid {
		return failure{l.pattern, fmt.Sprintf("%q is not a valid %s: %s", s, what, m.reason), m.reason}
	}
	return failure{l.pattern, fmt.Sprintf("%q does not match %s format %s: %s", s, what, l.pattern, m.reason), m.reason}
}

// noMatch reports a value that no layout reads.
func noMatch(s, what string, failures []failure) error {
	if len(failures) == 1 {
		return fmt.Errorf("%s", failures[0].sentence)
	}
	patterns := make([]string, len(failures))
	reasons := make([]string, len(failures))
	for i, f := range failures {
		patterns[i] = f.layout
		reasons[i] = f.layout + ": " + f.reason
	}
	return fmt.Errorf("%q does not match any of the %s formats %s (%s)", s, what, strings.Join(patterns, ", "), strings.Join(reasons, "; "))
}
