package textenc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFindInvalid(t *testing.T) {
	start, end := string([]byte{MarkerStart}), string([]byte{MarkerEnd})
	tests := []struct {
		name   string
		s      string
		want   int64
		wantOK bool
	}{
		{name: "none", s: "Zoë; Müller; €"},
		{name: "empty"},
		{name: "valid U+FFFD is not a marker", s: "a\uFFFDb"},
		{name: "only a marker", s: m(0), want: 0, wantOK: true},
		{name: "marker inside text", s: "abc" + m(12345) + "def", want: 12345, wantOK: true},
		{name: "first of two markers", s: m(7) + "x" + m(3), want: 7, wantOK: true},
		{name: "largest offset", s: "x" + m(1<<63-1), want: 1<<63 - 1, wantOK: true},
		{name: "cut inside a marker", s: "x" + start + "12", want: -1, wantOK: true},
		{name: "no digits", s: start + end, want: -1, wantOK: true},
		{name: "not digits", s: start + "1a" + end, want: -1, wantOK: true},
		{name: "sign", s: start + "+1" + end, want: -1, wantOK: true},
		{name: "overflow", s: start + "9223372036854775808" + end, want: -1, wantOK: true},
		{name: "too many digits", s: start + "00000000000000000001" + end, want: -1, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FindInvalid(tt.s)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestFindInvalidInDecodedRow(t *testing.T) {
	out, _ := decode(t, []byte("id;name\r\n1;Zo\xeb\r\n2;M\x81ller\r\n"), Windows1252, nil)
	rows := splitLines(string(out))
	require.Len(t, rows, 3)
	for i, want := range []struct {
		off int64
		ok  bool
	}{{0, false}, {0, false}, {19, true}} {
		off, ok := FindInvalid(rows[i])
		require.Equal(t, want.ok, ok, "row %d", i+1)
		require.Equal(t, want.off, off, "row %d", i+1)
	}
}

func splitLines(s string) []string {
	var lines []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		lines = append(lines, s[:i])
		s = s[min(i+1, len(s)):]
	}
	return lines
}
