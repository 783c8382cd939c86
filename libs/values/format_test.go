package values

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFormat(t *testing.T) {
	afternoon := time.Date(2024, 5, 1, 14, 5, 9, 120_000_000, time.UTC)
	berlin := time.FixedZone("CEST", 2*3600)
	tests := []struct {
		pattern string
		t       time.Time
		want    string
	}{
		{"YYYY-MM-DD", afternoon, "2024-05-01"},
		{"DD/MM/YY", afternoon, "01/05/24"},
		{"D.M.YYYY", afternoon, "1.5.2024"},
		{"MMM D, YYYY", afternoon, "May 1, 2024"},
		{"D MMMM YYYY", time.Date(2024, 9, 30, 0, 0, 0, 0, time.UTC), "30 September 2024"},
		{"YYYYMMDD", afternoon, "20240501"},
		{"YYYY-MM-DDTHH:mm:ss.SSSZ", afternoon, "2024-05-01T14:05:09.120Z"},
		{"YYYY-MM-DDTHH:mm:ss.SSSZ", afternoon.In(berlin), "2024-05-01T16:05:09.120+02:00"},
		{"YYYY-MM-DD HH:mm:ssZ", afternoon.In(time.FixedZone("", -(3*3600 + 30*60))), "2024-05-01 10:35:09-03:30"},
		{"HH:mm:ss.SSS DD/MM/YYYY", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), "00:00:00.000 01/05/2024"},
		{"HH:mm:ss.SSS DD/MM/YYYY", time.Date(2024, 5, 1, 0, 0, 0, 123_456_789, time.UTC), "00:00:00.123456789 01/05/2024"},
		{"HH:mm:ss.SSS DD/MM/YYYY", time.Date(2024, 5, 1, 0, 0, 0, 1_000, time.UTC), "00:00:00.000001 01/05/2024"},
		{"DD/MM/YYYY H:mm", time.Date(2024, 5, 1, 7, 3, 0, 0, time.UTC), "01/05/2024 7:03"},
		{"MM/DD/YYYY hh:mm:ss A", time.Date(2024, 5, 1, 0, 30, 0, 0, time.UTC), "05/01/2024 12:30:00 AM"},
		{"MM/DD/YYYY hh:mm:ss A", time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC), "05/01/2024 12:30:00 PM"},
		{"MM/DD/YYYY h:mm A", time.Date(2024, 5, 1, 23, 59, 0, 0, time.UTC), "05/01/2024 11:59 PM"},
		{"DD MMM YYYY 'at' HH:mm", afternoon, "01 May 2024 at 14:05"},
		{"DD/MM/YYYY ''HH''", afternoon, "01/05/2024 '14'"},
		{"YYYY-MM-DD", time.Date(987, 1, 2, 0, 0, 0, 0, time.UTC), "0987-01-02"},
		{"DD/MM/YY", time.Date(1969, 1, 2, 0, 0, 0, 0, time.UTC), "02/01/69"},
		{"ISO", afternoon, "2024-05-01T14:05:09.12Z"},
		{"ISO", afternoon.In(berlin), "2024-05-01T16:05:09.12+02:00"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.want, func(t *testing.T) {
			l := mustLayouts(t, tt.pattern)[0]
			require.Equal(t, tt.want, l.Format(tt.t))
		})
	}
}

// TestFormatRoundTrip checks that what Format writes, the parsers read back
// as the same date or instant.
func TestFormatRoundTrip(t *testing.T) {
	instants := []time.Time{
		time.Date(2024, 5, 1, 14, 5, 9, 0, time.UTC),
		time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(2000, 2, 29, 12, 0, 0, 1, time.UTC),
		time.Date(1999, 1, 1, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2030, 7, 4, 9, 30, 0, 500_000_000, time.UTC),
	}
	timestamps := []string{
		"YYYY-MM-DDTHH:mm:ss.SSSZ",
		"DD/MM/YYYY HH:mm:ss.SSS Z",
		"MMMM D, YYYY h:mm:ss.SSS A Z",
		"D MMM YYYY 'at' H:mm:ss.SSSZ",
		"ISO",
	}
	for _, p := range timestamps {
		l := mustLayouts(t, p)
		for _, want := range instants {
			s := l[0].Format(want)
			got, err := ParseTimestamp(s, l, nil)
			require.NoError(t, err, "%s: %s", p, s)
			require.Equal(t, want.Format(time.RFC3339Nano), got, "%s: %s", p, s)
		}
	}
	for _, p := range []string{"YYYY-MM-DD", "DD/MM/YY", "M/D/YYYY", "D MMMM YYYY", "YYYYMMDD", "MMM D, YYYY"} {
		l := mustLayouts(t, p)
		for _, want := range instants {
			day := time.Date(want.Year(), want.Month(), want.Day(), 0, 0, 0, 0, time.UTC)
			s := l[0].Format(day)
			got, err := ParseDate(s, l)
			require.NoError(t, err, "%s: %s", p, s)
			require.Equal(t, day.Format(time.DateOnly), got, "%s: %s", p, s)
		}
	}
}
