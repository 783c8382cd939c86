package outfile

import (
	"bytes"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/formats/textenc"
)

// TestEveryCharacterReadsBack encodes every character each encoding holds
// and decodes the result with Ferry's reader: what is written is what is
// read, so an encoder that maps a character to a different one (a "best
// fit") would fail here.
func TestEveryCharacterReadsBack(t *testing.T) {
	for _, name := range textenc.Names() {
		t.Run(name, func(t *testing.T) {
			enc, err := textenc.Lookup(name)
			require.NoError(t, err)
			te := newTextEncoder(enc, false)
			want := []byte("x")
			out, _, _, ok := te.append(nil, want)
			require.True(t, ok)
			held := 0
			var ch []byte
			for r := rune(0); r <= utf8.MaxRune; r++ {
				if r >= 0xD800 && r <= 0xDFFF {
					continue
				}
				ch = utf8.AppendRune(ch[:0], r)
				n := len(out)
				if out, _, _, ok = te.append(out, ch); !ok {
					out = out[:n]
					continue
				}
				want = append(want, ch...)
				held++
			}
			got, err := io.ReadAll(textenc.NewDecoder(bytes.NewReader(out), enc))
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, got), "%s does not read back", name)
			require.Greater(t, held, 127)
		})
	}
}

// TestByteOrderMarkCharacter checks that a field starting with U+FEFF or
// U+FFFE is quoted, so that at the start of a file without a byte-order mark
// it is not taken for one.
func TestByteOrderMarkCharacter(t *testing.T) {
	cols := []Column{{Header: "a", Kind: String}}
	for _, encoding := range []string{"utf-8", "utf-16le", "utf-16be"} {
		for _, text := range []string{"\uFEFFx", "\uFFFEx"} {
			out, _ := write(t, cols, Options{Format: CSV, Encoding: encoding, NoHeader: true}, []Value{str(text)})
			enc, err := textenc.Lookup(encoding)
			require.NoError(t, err)
			require.Equal(t, [][]string{{text}}, readCSV(t, out, enc, ','), encoding)
		}
	}
}
