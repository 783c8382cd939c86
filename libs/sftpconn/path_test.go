package sftpconn_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/sftpconn"
)

func TestConfine(t *testing.T) {
	tests := []struct {
		base, dir, name string
		wantDir         string // "" means refused
		offending       string // quoted in the error
	}{
		{"/upload", "", "a.csv", "/upload", ""},
		{"/upload", ".", "a.csv", "/upload", ""},
		{"/upload", "sub/dir", "a.csv", "/upload/sub/dir", ""},
		{"/upload", "sub//dir/./", "a.csv", "/upload/sub/dir", ""},
		{"/upload/", "sub", "a.csv", "/upload/sub", ""},
		{"/", "sub", "a.csv", "/sub", ""},
		{"out", "2024-01-02", "a.csv", "out/2024-01-02", ""},
		{".", "sub", "a.csv", "sub", ""},
		{"/upload", "sub", "..data.csv", "/upload/sub", ""},
		{"/upload", "sub", "ünïcode ✓.csv", "/upload/sub", ""},
		{"/upload", "../x", "a.csv", "", `"../x"`},
		{"/upload", "a/../../x", "a.csv", "", `"a/../../x"`},
		{"/upload", "a/../b", "a.csv", "", `"a/../b"`},
		{"/upload", "..", "a.csv", "", `".."`},
		{"/upload", "/etc", "a.csv", "", `"/etc"`},
		{"/upload", "a\x00b", "a.csv", "", `"a\x00b"`},
		{"/upload", "a\nb", "a.csv", "", `"a\nb"`},
		{"/upload", `a\..\..\x`, "a.csv", "", `"a\\..\\..\\x"`},
		{"/upload", "sub", "", "", "empty"},
		{"/upload", "sub", ".", "", `"."`},
		{"/upload", "sub", "..", "", `".."`},
		{"/upload", "sub", "a/b.csv", "", `"a/b.csv"`},
		{"/upload", "sub", "/etc/passwd", "", `"/etc/passwd"`},
		{"/upload", "sub", "a\x00b", "", `"a\x00b"`},
		{"/upload", "sub", "a\nb", "", `"a\nb"`},
		{"/upload", "sub", "a\x7fb", "", `"a\x7fb"`},
		{"/upload", "sub", `a\b`, "", `"a\\b"`},
		{"", "sub", "a.csv", "", "empty"},
		{"../up", "sub", "a.csv", "", `"../up"`},
		{"up/../x", "sub", "a.csv", "", `"up/../x"`},
		{"up/", "sub", "a.csv", "", `"up/"`},
		{"/up\tload", "sub", "a.csv", "", `"/up\tload"`},
	}
	for _, tt := range tests {
		dir, name, err := sftpconn.Confine(tt.base, tt.dir, tt.name)
		if tt.wantDir == "" {
			require.Error(t, err, "%q %q %q", tt.base, tt.dir, tt.name)
			require.Equal(t, sftpconn.Permanent, sftpconn.ClassOf(err))
			require.Contains(t, err.Error(), tt.offending)
			continue
		}
		require.NoError(t, err, "%q %q %q", tt.base, tt.dir, tt.name)
		require.Equal(t, tt.wantDir, dir)
		require.Equal(t, tt.name, name)
	}
}

func TestSanitize(t *testing.T) {
	tests := map[string]string{
		"sales":            "sales",
		"2024-01-02":       "2024-01-02",
		"a/b":              "a_b",
		`a\b`:              "a_b",
		"a\x00b":           "a_b",
		"a\nb\r\t":         "a_b__",
		"del\x7f":          "del_",
		".":                "_.",
		"..":               "_..",
		".hidden":          "_.hidden",
		"../../etc/passwd": "_.._.._etc_passwd",
		"a.b.":             "a.b.",
		"ünïcode ✓":        "ünïcode ✓",
		"":                 "",
	}
	for in, want := range tests {
		got := sftpconn.Sanitize(in)
		require.Equal(t, want, got, "%q", in)
		// Whatever Sanitize returns is a valid file name for Confine, unless empty.
		if got != "" {
			_, _, err := sftpconn.Confine("/base", got, got)
			require.NoError(t, err, "%q", got)
		}
	}
}
