package values

import (
	"fmt"
	"time"
)

// ParseTimestamp parses s with the layouts, in order, and returns the
// instant as RFC 3339 in UTC (time.RFC3339Nano of the UTC time, e.g.
// 2024-05-01T07:00:00Z).
//
// With no layouts only RFC 3339 is accepted, with a "T" or a space between
// date and time. A value without a UTC offset is read as local time in loc;
// when loc is nil such a value is an error, since the profile must set a
// time zone or the value must carry an offset. A local time that does not
// exist in loc (skipped when clocks go forward) or that happens twice (when
// clocks go back) is an error: Ferry never picks one of two instants. A value
// that reads as different instants under two layouts is an
// *AmbiguousDateError.
func ParseTimestamp(s string, layouts []*DateLayout, loc *time.Location) (string, error) {
	if len(layouts) == 0 {
		f, m := matchISOTimestamp(s)
		if m != nil {
			if m.invalid {
				return "", fmt.Errorf("%q is not a valid timestamp: %s", s, m.reason)
			}
			return "", fmt.Errorf("%q is not an RFC 3339 timestamp like 2024-05-01T09:00:00Z (%s); set a timestamp format to read other forms", s, m.reason)
		}
		return instant(s, &f, loc)
	}
	if len(layouts) == 1 && !layouts[0].iso {
		// The common case, once per row: one format, nothing to compare.
		if f, m := layouts[0].match(s); m == nil {
			if v, err := instant(s, &f, loc); err == nil {
				return v, nil
			}
		}
	}
	var (
		found    []Reading
		failures []failure
	)
	for _, l := range layouts {
		var (
			f fields
			m *mismatch
		)
		if l.iso {
			f, m = matchISOTimestamp(s)
		} else {
			f, m = l.match(s)
		}
		if m != nil {
			failures = append(failures, l.failure(s, "timestamp", m))
			continue
		}
		v, err := instant(s, &f, loc)
		if err != nil {
			failures = append(failures, failure{l.pattern, err.Error(), err.Error()})
			continue
		}
		found = appendReading(found, Reading{Value: v, Layout: l.pattern, Label: "format " + l.pattern})
	}
	switch {
	case len(found) == 1:
		return found[0].Value, nil
	case len(found) > 1:
		return "", &AmbiguousDateError{Value: s, Readings: found, Advice: "keep only one of these formats"}
	}
	return "", noMatch(s, "timestamp", failures)
}

// instant turns the parts into an instant, reading a value without an
// offset in loc.
func instant(s string, f *fields, loc *time.Location) (string, error) {
	if f.hasOffset {
		t := time.Date(f.year, time.Month(f.month), f.day, f.hour, f.minute, f.second, f.nsec, time.FixedZone("", f.offset))
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	if loc == nil {
		return "", fmt.Errorf("%q has no UTC offset: the profile must set a time zone, or the value must carry an offset such as +02:00 or Z", s)
	}
	t, err := resolveLocal(s, f, loc)
	if err != nil {
		return "", err
	}
	return t.UTC().Format(time.RFC3339Nano), nil
}

// resolveLocal finds the one instant at which the clocks in loc show the
// local time in f.
//
// time.Date silently picks an instant for a local time that does not exist
// or that happens twice, so the candidates are worked out here: every UTC
// offset loc uses within a day of the local time gives one candidate, and a
// candidate counts when loc really uses that offset at that instant.
func resolveLocal(s string, f *fields, loc *time.Location) (time.Time, error) {
	wall := time.Date(f.year, time.Month(f.month), f.day, f.hour, f.minute, f.second, f.nsec, time.UTC)
	var offsets []int
	for t, end := wall.Add(-26*time.Hour), wall.Add(26*time.Hour); ; {
		_, off := t.In(loc).Zone()
		if !containsInt(offsets, off) {
			offsets = append(offsets, off)
		}
		_, next := t.In(loc).ZoneBounds()
		if next.IsZero() || next.After(end) {
			break
		}
		t = next
	}
	var found []time.Time
	for _, off := range offsets {
		t := wall.Add(-time.Duration(off) * time.Second)
		if _, actual := t.In(loc).Zone(); actual == off {
			found = append(found, t.In(loc))
		}
	}
	switch len(found) {
	case 0:
		return time.Time{}, fmt.Errorf("%q does not exist in time zone %s: the clocks skip this local time", s, loc)
	case 1:
		return found[0], nil
	}
	zones := make([]string, len(found))
	for i, t := range found {
		zones[i] = t.Format("-07:00")
	}
	return time.Time{}, fmt.Errorf("%q is ambiguous in time zone %s: this local time happens twice (at UTC offsets %s); the value must carry an offset", s, loc, joinAnd(zones))
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// joinAnd joins words as "a, b and c".
func joinAnd(words []string) string {
	out := ""
	for i, w := range words {
		switch {
		case i == 0:
		case i == len(words)-1:
			out += " and "
		default:
			out += ", "
		}
		out += w
	}
	return out
}
