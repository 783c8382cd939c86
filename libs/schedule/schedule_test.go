package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func mustParse(tb testing.TB, cron, tz string) *Spec {
	tb.Helper()
	s, err := Parse(&ferryv1.Schedule{Cron: cron, TimeZone: tz})
	require.NoError(tb, err)
	return s
}

func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	require.NoError(tb, err)
	return t
}

func fmtAll(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Format(time.RFC3339)
	}
	return out
}

func TestFireTimes(t *testing.T) {
	for _, tc := range []struct {
		name, cron, tz, after string
		n                     int
		want                  []string
	}{
		{"new york spring forward: 02:30 does not exist, fires at 03:00 EDT", "30 2 * * *", "America/New_York", "2026-03-06T12:00:00-05:00", 4,
			[]string{"2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"}},
		{"new york fall back: 02:30 exists once", "30 2 * * *", "America/New_York", "2026-10-31T00:00:00-04:00", 3,
			[]string{"2026-10-31T02:30:00-04:00", "2026-11-01T02:30:00-05:00", "2026-11-02T02:30:00-05:00"}},
		{"new york fall back: 01:00 happens twice, fires at the first (EDT)", "0 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00", 3,
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-02T01:00:00-05:00", "2026-11-03T01:00:00-05:00"}},
		{"new york spring forward: 01:00 unaffected", "0 1 * * *", "America/New_York", "2026-03-07T12:00:00-05:00", 2,
			[]string{"2026-03-08T01:00:00-05:00", "2026-03-09T01:00:00-04:00"}},
		{"new york spring forward: 02:00 and 02:30 both map to 03:00, one fire", "*/30 1-3 * * *", "America/New_York", "2026-03-08T00:00:00-05:00", 6,
			[]string{"2026-03-08T01:00:00-05:00", "2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00",
				"2026-03-09T01:00:00-04:00", "2026-03-09T01:30:00-04:00"}},
		{"new york fall back: the repeated hour fires once", "*/30 1-3 * * *", "America/New_York", "2026-11-01T00:00:00-04:00", 7,
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T02:30:00-05:00",
				"2026-11-01T03:00:00-05:00", "2026-11-01T03:30:00-05:00", "2026-11-02T01:00:00-05:00"}},
		{"london spring forward: 01:30 fires at 02:00 BST", "30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z", 2,
			[]string{"2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"}},
		{"london fall back: 01:30 fires once, in BST", "30 1 * * *", "Europe/London", "2026-10-24T12:00:00+01:00", 2,
			[]string{"2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00Z"}},
		{"utc by default", "15 */6 * * *", "", "2026-01-01T00:00:00Z", 3,
			[]string{"2026-01-01T00:15:00Z", "2026-01-01T06:15:00Z", "2026-01-01T12:15:00Z"}},
		{"@daily", "@daily", "America/New_York", "2026-03-07T00:00:00-05:00", 2,
			[]string{"2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00"}},
		{"@monthly", "@monthly", "UTC", "2026-01-15T00:00:00Z", 2, []string{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
		{"names, lists and weekdays", "0 9 * JAN,FEB MON-FRI", "UTC", "2026-01-02T10:00:00Z", 2,
			[]string{"2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"}},
		{"day of month or day of week when both are restricted", "0 0 13 * FRI", "UTC", "2026-02-01T00:00:00Z", 3,
			[]string{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z"}},
		{"strictly after", "0 * * * *", "UTC", "2026-01-01T05:00:00Z", 1, []string{"2026-01-01T06:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, tc.cron, tc.tz)
			got := s.NextN(at(t, tc.after), tc.n)
			require.Equal(t, tc.want, fmtAllIn(got, s.Location()))
			// Prev is Next's mirror: the instant before each one.
			for i := 1; i < len(got); i++ {
				require.Equal(t, got[i-1], s.Prev(got[i].Add(-time.Nanosecond)), "prev of %s", got[i])
				require.Equal(t, got[i], s.Prev(got[i]), "prev of %s at it", got[i])
			}
		})
	}
}

func fmtAllIn(ts []time.Time, loc *time.Location) []string {
	for i := range ts {
		ts[i] = ts[i].In(loc)
	}
	return fmtAll(ts)
}

func TestNoTwoFiresAtOneInstant(t *testing.T) {
	// Every minute across both New York changes: the gap's wall times all
	// collapse onto 03:00 EDT once, the overlap's second hour never fires.
	s := mustParse(t, "* * * * *", "America/New_York")
	for day, want := range map[string]int{
		// Six hours hold 360 instants; the gap's minutes add none.
		"2026-03-08T00:00:00-05:00": 360,
		// The repeated hour (01:00-01:59 EST) fires no second time.
		"2026-11-01T00:00:00-04:00": 300,
	} {
		from := at(t, day)
		got := s.Between(from, from.Add(6*time.Hour), 10000)
		seen := map[time.Time]bool{}
		for i, g := range got {
			require.False(t, seen[g], "two fires at %s", g)
			seen[g] = true
			if i > 0 {
				require.True(t, g.After(got[i-1]))
			}
		}
		require.Len(t, got, want, day)
	}
}

func TestDue(t *testing.T) {
	last := at(t, "2026-01-01T10:00:00Z")
	now := at(t, "2026-01-01T10:05:30Z")
	s := mustParse(t, "* * * * *", "")
	due, fire := s.Due(last, now, 2*time.Second)
	require.True(t, fire)
	require.Equal(t, at(t, "2026-01-01T10:05:00Z"), due)
	_, fire = s.Due(due, now, 2*time.Second)
	require.False(t, fire, "fired already")

	none, err := Parse(&ferryv1.Schedule{Cron: "* * * * *", CatchUp: ferryv1.CatchUp_CATCH_UP_NONE})
	require.NoError(t, err)
	_, fire = none.Due(last, now, 2*time.Second)
	require.False(t, fire, "missed instants are skipped")
	_, fire = none.Due(last, at(t, "2026-01-01T10:05:01Z"), 2*time.Second)
	require.True(t, fire, "on time")
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ cron, tz, want string }{
		{"", "", "schedule.cron: empty"},
		{"* * * *", "", `schedule.cron "* * * *"`},
		{"61 * * * *", "", `schedule.cron "61 * * * *"`},
		{"* * * * * *", "", `schedule.cron "* * * * * *"`},
		{"@every 5m", "", "@every is not supported"},
		{"CRON_TZ=UTC * * * * *", "", "schedule.timeZone"},
		{"0 0 30 2 *", "", "never fires"},
		{"* * * * *", "Mars/Olympus", `schedule.timeZone "Mars/Olympus"`},
		{"* * * * *", "Local", `schedule.timeZone "Local"`},
	} {
		_, err := Parse(&ferryv1.Schedule{Cron: tc.cron, TimeZone: tc.tz})
		require.ErrorContains(t, err, tc.want, tc.cron)
	}
}

func TestNextFireTimes(t *testing.T) {
	now := at(t, "2026-03-07T12:00:00-05:00")
	got := NextFireTimes(&ferryv1.Triggers{Schedule: &ferryv1.Schedule{Cron: "30 2 * * *", TimeZone: "America/New_York"}}, now, 5)
	require.Len(t, got, 5)
	require.Equal(t, at(t, "2026-03-08T03:00:00-04:00"), got[0].AsTime().In(time.UTC).In(time.FixedZone("", -4*3600)).Truncate(0))
	require.Nil(t, NextFireTimes(&ferryv1.Triggers{}, now, 5))
	require.Nil(t, NextFireTimes(nil, now, 5))
}
