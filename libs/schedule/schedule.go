// Package schedule turns a Schedule (a cron expression and an IANA time zone)
// into fire instants, with explicit daylight-saving rules.
//
// A cron expression names local wall-clock times. Fire instants are those
// wall times, in order, mapped to instants in the zone:
//   - a wall time that does not exist (the spring-forward gap) fires once at
//     the first valid instant after the gap (02:30 on 2026-03-08 in
//     America/New_York fires at 03:00 EDT);
//   - a wall time that happens twice (the fall-back overlap) fires once, at
//     its first occurrence (01:30 on 2026-11-01 in America/New_York fires at
//     01:30 EDT, never at 01:30 EST);
//   - two wall times that map to the same instant fire once.
package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// horizon bounds how far Next and Prev look: a cron expression that matches
// no day within it ("0 0 30 2 *") never fires.
const horizon = 5 * 366 // days

// slack bounds how far a wall time's instant can be from the same wall time
// read as UTC plus the zone's offset at another moment: no zone moves its
// clocks by more than this at once.
const slack = 3 * time.Hour

// starBit marks a cron field given as "*" (robfig/cron's convention).
const starBit = 1 << 63

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Spec is a parsed schedule.
type Spec struct {
	cron    string
	loc     *time.Location
	catchUp ferryv1.CatchUp
	minute  uint64
	hour    uint64
	dom     uint64
	month   uint64
	dow     uint64
}

// Parse checks a schedule and returns it parsed. The time zone is UTC when
// empty; the catch-up policy is CATCH_UP_LAST when unspecified.
func Parse(s *ferryv1.Schedule) (*Spec, error) {
	if s == nil {
		return nil, fmt.Errorf("schedule: no schedule")
	}
	expr := strings.TrimSpace(s.GetCron())
	switch {
	case expr == "":
		return nil, fmt.Errorf("schedule.cron: empty: want five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly")
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return nil, fmt.Errorf("schedule.cron %q: give the time zone in schedule.timeZone, not in the expression", expr)
	case strings.HasPrefix(expr, "@every"):
		return nil, fmt.Errorf("schedule.cron %q: @every is not supported: want five fields or @hourly, @daily, @weekly, @monthly, @yearly", expr)
	}
	parsed, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule.cron %q: %w", expr, err)
	}
	ss, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("schedule.cron %q: not a calendar schedule", expr)
	}
	loc := time.UTC
	if tz := strings.TrimSpace(s.GetTimeZone()); tz != "" {
		if strings.EqualFold(tz, "local") {
			return nil, fmt.Errorf("schedule.timeZone %q: name an IANA time zone such as \"Europe/London\"", tz)
		}
		loc, err = time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("schedule.timeZone %q: not an IANA time zone (such as \"America/New_York\"): %w", tz, err)
		}
	}
	cu := s.GetCatchUp()
	if cu == ferryv1.CatchUp_CATCH_UP_UNSPECIFIED {
		cu = ferryv1.CatchUp_CATCH_UP_LAST
	}
	if _, ok := ferryv1.CatchUp_name[int32(cu)]; !ok {
		return nil, fmt.Errorf("schedule.catchUp %d: want last or none", cu)
	}
	sp := &Spec{cron: expr, loc: loc, catchUp: cu, minute: ss.Minute, hour: ss.Hour, dom: ss.Dom, month: ss.Month, dow: ss.Dow}
	// A schedule that never fires is a mistake ("0 0 30 2 *").
	if sp.Next(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("schedule.cron %q: never fires (no such day)", expr)
	}
	return sp, nil
}

// Location is the schedule's time zone.
func (s *Spec) Location() *time.Location { return s.loc }

// CatchUp is the schedule's catch-up policy (never unspecified).
func (s *Spec) CatchUp() ferryv1.CatchUp { return s.catchUp }

// String is the cron expression.
func (s *Spec) String() string { return s.cron }

func (s *Spec) dayMatches(d time.Time) bool {
	if s.month&(1<<uint(d.Month())) == 0 {
		return false
	}
	domMatch := s.dom&(1<<uint(d.Day())) != 0
	dowMatch := s.dow&(1<<uint(d.Weekday())) != 0
	// As in cron: when either day field is "*", both must match; when
	// both are restricted, either may.
	if s.dom&starBit != 0 || s.dow&starBit != 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

// instant maps the wall time y-m-d h:mi in the schedule's zone to its fire
// instant: its only occurrence, its first occurrence in an overlap, or the
// first instant after the gap it falls in.
func (s *Spec) instant(y int, m time.Month, d, h, mi int) time.Time {
	naive := time.Date(y, m, d, h, mi, 0, 0, time.UTC)
	// The zone's offsets a day either side bracket the wall time's
	// instant; each offset that maps the wall time back to itself is an
	// occurrence of it.
	var (
		best   time.Time
		latest time.Time
	)
	seen := map[int]bool{}
	for _, probe := range []time.Time{naive.Add(-24 * time.Hour), naive, naive.Add(24 * time.Hour)} {
		_, off := probe.In(s.loc).Zone()
		if seen[off] {
			continue
		}
		seen[off] = true
		cand := naive.Add(-time.Duration(off) * time.Second)
		if cand.After(latest) {
			latest = cand
		}
		if _, o := cand.In(s.loc).Zone(); o == off && (best.IsZero() || cand.Before(best)) {
			best = cand
		}
	}
	if !best.IsZero() {
		return best.In(s.loc)
	}
	// A gap: the latest candidate lies after the transition, in the zone
	// that begins with it.
	start, _ := latest.In(s.loc).ZoneBounds()
	if start.IsZero() {
		return latest.In(s.loc)
	}
	return start.In(s.loc)
}

// Next returns the first fire instant strictly after after, or the zero time
// when there is none within five years.
func (s *Spec) Next(after time.Time) time.Time {
	local := after.In(s.loc)
	wall := time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(), local.Nanosecond(), time.UTC)
	day := time.Date(local.Year(), local.Month(), local.Day()-1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < horizon; i, day = i+1, day.AddDate(0, 0, 1) {
		if !s.dayMatches(day) {
			continue
		}
		for h := 0; h < 24; h++ {
			if s.hour&(1<<uint(h)) == 0 {
				continue
			}
			for mi := 0; mi < 60; mi++ {
				if s.minute&(1<<uint(mi)) == 0 {
					continue
				}
				naive := time.Date(day.Year(), day.Month(), day.Day(), h, mi, 0, 0, time.UTC)
				if naive.Before(wall.Add(-slack)) {
					continue
				}
				if t := s.instant(day.Year(), day.Month(), day.Day(), h, mi); t.After(after) {
					return t
				}
			}
		}
	}
	return time.Time{}
}

// Prev returns the last fire instant at or before t, or the zero time when
// there is none within five years.
func (s *Spec) Prev(t time.Time) time.Time {
	local := t.In(s.loc)
	wall := time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(), local.Nanosecond(), time.UTC)
	day := time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < horizon; i, day = i+1, day.AddDate(0, 0, -1) {
		if !s.dayMatches(day) {
			continue
		}
		for h := 23; h >= 0; h-- {
			if s.hour&(1<<uint(h)) == 0 {
				continue
			}
			for mi := 59; mi >= 0; mi-- {
				if s.minute&(1<<uint(mi)) == 0 {
					continue
				}
				naive := time.Date(day.Year(), day.Month(), day.Day(), h, mi, 0, 0, time.UTC)
				if naive.After(wall.Add(slack)) {
					continue
				}
				if f := s.instant(day.Year(), day.Month(), day.Day(), h, mi); !f.After(t) {
					return f
				}
			}
		}
	}
	return time.Time{}
}

// NextN returns the next n fire instants after after, in order.
func (s *Spec) NextN(after time.Time, n int) []time.Time {
	var out []time.Time
	for len(out) < n {
		t := s.Next(after)
		if t.IsZero() {
			break
		}
		out = append(out, t)
		after = t
	}
	return out
}

// Between returns the fire instants in (from, to], in order, at most limit of
// them (the first ones).
func (s *Spec) Between(from, to time.Time, limit int) []time.Time {
	var out []time.Time
	for len(out) < limit {
		t := s.Next(from)
		if t.IsZero() || t.After(to) {
			break
		}
		out = append(out, t)
		from = t
	}
	return out
}

// Due returns the last fire instant in (last, now] for a schedule last fired
// (or changed) at last, and whether a scheduler fires it now: always with
// CATCH_UP_LAST, however many instants were missed (one run, never a
// burst); with CATCH_UP_NONE only when it is at most grace old. The zero
// time means no instant is in (last, now].
func (s *Spec) Due(last, now time.Time, grace time.Duration) (time.Time, bool) {
	t := s.Prev(now)
	if t.IsZero() || !t.After(last) {
		return time.Time{}, false
	}
	if s.catchUp == ferryv1.CatchUp_CATCH_UP_NONE && now.Sub(t) > grace {
		return t, false
	}
	return t, true
}

// NextFireTimes returns the next n instants the schedule of t fires after
// now, or nil when t has no schedule or it does not parse.
func NextFireTimes(t *ferryv1.Triggers, now time.Time, n int) []*timestamppb.Timestamp {
	if t.GetSchedule() == nil {
		return nil
	}
	sp, err := Parse(t.GetSchedule())
	if err != nil {
		return nil
	}
	var out []*timestamppb.Timestamp
	for _, f := range sp.NextN(now, n) {
		out = append(out, timestamppb.New(f))
	}
	return out
}
