package delimited

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriterRoundTrip(t *testing.T) {
	records := [][]string{
		{"id", "name", "note"},
		{"1", `say "hi"`, "a,b;c|d"},
		{"2", "line\nbreak", `back\slash`},
		{"3", "", "trailing empty"},
		{"#4", "  spaces  ", ""},
		{"5", "\r\n", `\"`},
	}
	dialects := map[string]Options{
		"rfc4180":            {},
		"semicolon":          {Delimiter: ';'},
		"pipe single quote":  {Delimiter: '|', Quote: '\''},
		"backslash":          {Escape: EscapeBackslash},
		"tab trailing":       {Delimiter: '\t', TrailingDelimiter: true},
		"comment":            {Comment: '#'},
		"trailing backslash": {Delimiter: ';', Escape: EscapeBackslash, TrailingDelimiter: true},
	}
	for name, o := range dialects {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf, o)
			for _, r := range records {
				require.NoError(t, w.Write(r))
			}
			require.NoError(t, w.Flush())
			r := NewReader(buf.Bytes(), 1, o)
			var got [][]string
			for {
				_, fields, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err, buf.String())
				got = append(got, append([]string(nil), fields...))
			}
			require.Equal(t, records, got, buf.String())
		})
	}
}
