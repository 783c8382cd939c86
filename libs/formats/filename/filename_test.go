package filename

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFill(t *testing.T) {
	at := time.Date(2024, 5, 1, 23, 30, 0, 0, time.FixedZone("x", 3600))
	tests := []struct{ tmpl, ext, want, err string }{
		{"users_{date:2006-01-02}_{run}.csv", "csv", "users_2024-05-01_r1.csv", ""},
		{"{profile}-{dataset}-v{version}", "xlsx", "p-d-v3.xlsx", ""},
		{"{profile}.{ext}", "jsonl", "p.jsonl", ""},
		{"{date}", "csv", "2024-05-01.csv", ""},
		{"{date:2006/01/02}", "csv", "", "must not contain a slash"},
		{"../{run}", "csv", "", "must not contain a slash"},
		{"{nope}", "csv", "", "unknown placeholder {nope}"},
		{"a\tb", "csv", "", "control character"},
		{"", "", "", "is empty"},
	}
	for _, tt := range tests {
		got, err := Fill(tt.tmpl, "p", "d", "r1", 3, at, tt.ext)
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err, tt.tmpl)
			continue
		}
		require.NoError(t, err, tt.tmpl)
		require.Equal(t, tt.want, got, "the date is the run's time in UTC")
	}
}
