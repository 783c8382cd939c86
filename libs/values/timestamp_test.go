package values

import (
	"testing"
	"time"
	_ "time/tzdata" // the tests must not depend on the machine's zone files

	"github.com/stretchr/testify/require"
)

func mustZone(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(tb, err)
	return loc
}

func TestParseTimestamp(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	tests := []struct {
		name    string
		value   string
		layouts []string
		loc     *time.Location
		want    string
	}{
		{"rfc 3339 utc", "2024-05-01T09:00:00Z", nil, nil, "2024-05-01T09:00:00Z"},
		{"rfc 3339 offset", "2024-05-01T09:00:00+02:00", nil, nil, "2024-05-01T07:00:00Z"},
		{"rfc 3339 negative offset", "2024-05-01T09:00:00-05:30", nil, nil, "2024-05-01T14:30:00Z"},
		{"rfc 3339 fraction", "2024-05-01T09:00:00.123456789Z", nil, nil, "2024-05-01T09:00:00.123456789Z"},
		{"fraction trailing zeros dropped by RFC3339Nano", "2024-05-01T09:00:00.500Z", nil, nil, "2024-05-01T09:00:00.5Z"},
		{"space instead of T", "2024-05-01 09:00:00Z", nil, nil, "2024-05-01T09:00:00Z"},
		{"lower case t and z", "2024-05-01t09:00:00z", nil, nil, "2024-05-01T09:00:00Z"},
		{"offset wins over zone", "2024-05-01T09:00:00+02:00", nil, ny, "2024-05-01T07:00:00Z"},
		{"no offset read in zone, summer", "2024-07-01 10:00:00", nil, ny, "2024-07-01T14:00:00Z"},
		{"no offset read in zone, winter", "2024-01-15T10:00:00", nil, ny, "2024-01-15T15:00:00Z"},
		{"no offset in UTC", "2024-01-15 10:00:00", nil, time.UTC, "2024-01-15T10:00:00Z"},
		{"just before the gap", "2024-03-10 01:59:59", nil, ny, "2024-03-10T06:59:59Z"},
		{"just after the gap", "2024-03-10 03:00:00", nil, ny, "2024-03-10T07:00:00Z"},
		{"just after the overlap", "2024-11-03 02:00:00", nil, ny, "2024-11-03T07:00:00Z"},
		{"ISO layout", "2024-05-01 09:00:00", []string{"ISO"}, ny, "2024-05-01T13:00:00Z"},
		{"layout 24-hour", "01/07/2024 22:05", []string{"DD/MM/YYYY HH:mm"}, ny, "2024-07-02T02:05:00Z"},
		{"layout H", "01/07/2024 7:05", []string{"DD/MM/YYYY H:mm"}, time.UTC, "2024-07-01T07:05:00Z"},
		{"layout hh PM", "07/01/2024 10:00 PM", []string{"MM/DD/YYYY hh:mm A"}, ny, "2024-07-02T02:00:00Z"},
		{"layout h am lower case", "07/01/2024 9:30 am", []string{"MM/DD/YYYY h:mm A"}, time.UTC, "2024-07-01T09:30:00Z"},
		{"12 AM is midnight", "07/01/2024 12:15 AM", []string{"MM/DD/YYYY hh:mm A"}, time.UTC, "2024-07-01T00:15:00Z"},
		{"12 PM is noon", "07/01/2024 12:15 PM", []string{"MM/DD/YYYY hh:mm A"}, time.UTC, "2024-07-01T12:15:00Z"},
		{"SSS one digit", "2024-05-01 09:00:00.5", []string{"YYYY-MM-DD HH:mm:ss.SSS"}, time.UTC, "2024-05-01T09:00:00.5Z"},
		{"SSS nine digits", "2024-05-01 09:00:00.000000001", []string{"YYYY-MM-DD HH:mm:ss.SSS"}, time.UTC, "2024-05-01T09:00:00.000000001Z"},
		{"Z token offset with colon", "2024-05-01 09:00 +02:00", []string{"YYYY-MM-DD HH:mm Z"}, nil, "2024-05-01T07:00:00Z"},
		{"Z token offset without colon", "2024-05-01 09:00 -0130", []string{"YYYY-MM-DD HH:mm Z"}, nil, "2024-05-01T10:30:00Z"},
		{"Z token Z", "2024-05-01 09:00 Z", []string{"YYYY-MM-DD HH:mm Z"}, nil, "2024-05-01T09:00:00Z"},
		{"date-only layout is midnight", "2024-07-01", []string{"YYYY-MM-DD"}, ny, "2024-07-01T04:00:00Z"},
		{"month name", "1 July 2024 09:00", []string{"D MMMM YYYY HH:mm"}, time.UTC, "2024-07-01T09:00:00Z"},
		{"two-digit year", "01.07.69 09:00", []string{"DD.MM.YY HH:mm"}, time.UTC, "1969-07-01T09:00:00Z"},
		{"second layout matches", "2024-07-01T09:00:00Z", []string{"DD/MM/YYYY HH:mm", "ISO"}, nil, "2024-07-01T09:00:00Z"},
		{"readings agree", "2024-07-01 09:00", []string{"YYYY-MM-DD HH:mm", "YYYY-MM-DD H:mm"}, time.UTC, "2024-07-01T09:00:00Z"},
		{"half-hour zone", "2024-07-01 09:00:00", nil, mustZone(t, "Asia/Kolkata"), "2024-07-01T03:30:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTimestamp(tt.value, mustLayouts(t, tt.layouts...), tt.loc)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseTimestampErrors(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	tests := []struct {
		name    string
		value   string
		layouts []string
		loc     *time.Location
		err     string
	}{
		{"no offset and no zone", "2024-05-01 09:00:00", nil, nil,
			`"2024-05-01 09:00:00" has no UTC offset: the profile must set a time zone, or the value must carry an offset such as +02:00 or Z`},
		{"no offset and no zone with layout", "01/05/2024 09:00", []string{"DD/MM/YYYY HH:mm"}, nil,
			`"01/05/2024 09:00" has no UTC offset: the profile must set a time zone`},
		{"DST gap", "2024-03-10 02:30:00", nil, ny,
			`"2024-03-10 02:30:00" does not exist in time zone America/New_York: the clocks skip this local time`},
		{"DST gap with layout", "03/10/2024 2:30 AM", []string{"MM/DD/YYYY h:mm A"}, ny,
			`"03/10/2024 2:30 AM" does not exist in time zone America/New_York`},
		{"DST overlap", "2024-11-03 01:30:00", nil, ny,
			`"2024-11-03 01:30:00" is ambiguous in time zone America/New_York: this local time happens twice (at UTC offsets -04:00 and -05:00); the value must carry an offset`},
		{"DST overlap with layout", "11/03/2024 01:00", []string{"MM/DD/YYYY HH:mm"}, ny,
			`"11/03/2024 01:00" is ambiguous in time zone America/New_York`},
		{"half-hour DST gap", "2024-10-06 02:15:00", nil, mustZone(t, "Australia/Lord_Howe"),
			`"2024-10-06 02:15:00" does not exist in time zone Australia/Lord_Howe`},
		{"skipped day", "2011-12-30 12:00:00", nil, mustZone(t, "Pacific/Apia"),
			`"2011-12-30 12:00:00" does not exist in time zone Pacific/Apia`},
		{"not rfc 3339", "05/01/2024 09:00", nil, ny,
			`"05/01/2024 09:00" is not an RFC 3339 timestamp like 2024-05-01T09:00:00Z (expected a 4-digit year (YYYY) at character 1); set a timestamp format to read other forms`},
		{"date only", "2024-05-01", nil, ny, `"2024-05-01" is not an RFC 3339 timestamp like 2024-05-01T09:00:00Z (it has no time of day)`},
		{"no seconds", "2024-05-01T09:00Z", nil, nil, `(expected ":" at character 17)`},
		{"bad separator", "2024-05-01_09:00:00Z", nil, nil, `(expected "T" or a space at character 11)`},
		{"trailing text", "2024-05-01T09:00:00Z!", nil, nil, `(unexpected "!" at character 21)`},
		{"hour 24", "2024-05-01T24:00:00Z", nil, nil, `"2024-05-01T24:00:00Z" is not a valid timestamp: hour 24 does not exist (00 to 23)`},
		{"minute 60", "2024-05-01T23:60:00Z", nil, nil, `minute 60 does not exist (00 to 59)`},
		{"second 60", "2024-05-01T23:59:60Z", nil, nil, `second 60 does not exist (00 to 59)`},
		{"invalid date", "2023-02-29T10:00:00Z", nil, nil, `"2023-02-29T10:00:00Z" is not a valid timestamp: February 2023 has 28 days`},
		{"hour 13 on 12-hour clock", "07/01/2024 13:00 PM", []string{"MM/DD/YYYY hh:mm A"}, ny,
			`"07/01/2024 13:00 PM" is not a valid timestamp: hour 13 does not exist on a 12-hour clock (1 to 12)`},
		{"hour 0 on 12-hour clock", "07/01/2024 00:00 AM", []string{"MM/DD/YYYY hh:mm A"}, ny, `hour 0 does not exist on a 12-hour clock`},
		{"missing AM/PM", "07/01/2024 10:00", []string{"MM/DD/YYYY hh:mm A"}, ny,
			`"07/01/2024 10:00" does not match timestamp format MM/DD/YYYY hh:mm A: expected " " at character 17`},
		{"fraction too long", "2024-05-01 09:00:00.1234567890", []string{"YYYY-MM-DD HH:mm:ss.SSS"}, ny,
			`a fraction of a second (SSS) at character 21 has more than 9 digits`},
		{"bad offset", "2024-05-01 09:00 +2", []string{"YYYY-MM-DD HH:mm Z"}, nil,
			`expected a UTC offset like +02:00 or Z (Z) at character 18`},
		{"offset out of range", "2024-05-01 09:00 +24:00", []string{"YYYY-MM-DD HH:mm Z"}, nil, `expected a UTC offset like +02:00 or Z (Z)`},
		{"no layout matches", "2024-05-01", []string{"DD/MM/YYYY", "MM/DD/YYYY HH:mm"}, ny,
			`"2024-05-01" does not match any of the timestamp formats DD/MM/YYYY, MM/DD/YYYY HH:mm (DD/MM/YYYY: expected "/" at character 3; MM/DD/YYYY HH:mm: expected "/" at character 3)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTimestamp(tt.value, mustLayouts(t, tt.layouts...), tt.loc)
			require.Empty(t, got)
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestParseTimestampAmbiguousLayouts(t *testing.T) {
	got, err := ParseTimestamp("03/04/2024 10:00", mustLayouts(t, "DD/MM/YYYY HH:mm", "MM/DD/YYYY HH:mm"), time.UTC)
	require.Empty(t, got)
	var amb *AmbiguousDateError
	require.ErrorAs(t, err, &amb)
	require.Equal(t, `"03/04/2024 10:00" reads as 2024-04-03T10:00:00Z (format DD/MM/YYYY HH:mm) or 2024-03-04T10:00:00Z (format MM/DD/YYYY HH:mm); keep only one of these formats`, err.Error())
}
