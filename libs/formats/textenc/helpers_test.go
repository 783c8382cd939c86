package textenc

import (
	"bytes"
	"io"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding"
)

var allEncodings = []Encoding{UTF8, UTF16LE, UTF16BE, Windows1252, ISO88591, ISO885915, ShiftJIS, GBK}

// m returns the marker for an invalid run at file offset off.
func m(off int64) string {
	return string([]byte{MarkerStart}) + strconv.FormatInt(off, 10) + string([]byte{MarkerEnd})
}

// enc encodes s in e with golang.org/x/text, without a byte-order mark.
func enc(tb testing.TB, e Encoding, s string) []byte {
	tb.Helper()
	if e == UTF8 {
		return []byte(s)
	}
	b, err := e.XEncoding().NewEncoder().Bytes([]byte(s))
	require.NoError(tb, err, "encode %q in %s", s, e)
	return b
}

// encLossy encodes s in e, replacing what e cannot encode.
func encLossy(tb testing.TB, e Encoding, s string) []byte {
	tb.Helper()
	if e == UTF8 {
		return []byte(s)
	}
	b, err := encoding.ReplaceUnsupported(e.XEncoding().NewEncoder()).Bytes([]byte(s))
	require.NoError(tb, err, "encode %q in %s", s, e)
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// decode decodes input as e, reading it through wrap if wrap is not nil, and
// returns the output and the Decoder.
func decode(tb testing.TB, input []byte, e Encoding, wrap func(io.Reader) io.Reader) ([]byte, *Decoder) {
	tb.Helper()
	return decodeSize(tb, input, e, wrap, bufSize, bufSize)
}

// decodeSize is decode with buffers of the given sizes.
func decodeSize(tb testing.TB, input []byte, e Encoding, wrap func(io.Reader) io.Reader, inSize, outSize int) ([]byte, *Decoder) {
	tb.Helper()
	var r io.Reader = bytes.NewReader(input)
	if wrap != nil {
		r = wrap(r)
	}
	d := newDecoderSize(r, e, inSize, outSize)
	out, err := io.ReadAll(d)
	require.NoError(tb, err)
	return out, d
}

// splitMarkers returns out without its markers and the offsets they carry.
func splitMarkers(tb testing.TB, out []byte) ([]byte, []int64) {
	tb.Helper()
	var text []byte
	var offsets []int64
	for {
		i := bytes.IndexByte(out, MarkerStart)
		if i < 0 {
			return append(text, out...), offsets
		}
		text = append(text, out[:i]...)
		end := bytes.IndexByte(out[i:], MarkerEnd)
		require.Positive(tb, end, "marker not closed in %q", out)
		off, err := strconv.ParseInt(string(out[i+1:i+end]), 10, 64)
		require.NoError(tb, err, "marker %q", out[i:i+end+1])
		offsets = append(offsets, off)
		out = out[i+end+1:]
	}
}

// checkOutput checks the invariants of any decoding of input: valid UTF-8
// between markers, marker offsets strictly increasing within the input, one
// marker per invalid run counted.
func checkOutput(tb testing.TB, input, out []byte, d *Decoder) {
	tb.Helper()
	text, offsets := splitMarkers(tb, out)
	require.True(tb, utf8.Valid(text), "output without markers is not valid UTF-8: %q", text)
	require.Equal(tb, int64(len(offsets)), d.Invalid(), "markers and Invalid()")
	for i, off := range offsets {
		require.Less(tb, off, int64(len(input)), "marker offset beyond the input")
		require.GreaterOrEqual(tb, off, int64(0))
		if i > 0 {
			require.Greater(tb, off, offsets[i-1], "marker offsets not increasing")
		}
	}
}

// bomLen returns the length of the byte-order mark that input starts with.
func bomLen(input []byte) int {
	for _, bom := range [][]byte{bomUTF8, bomUTF16LE, bomUTF16BE} {
		if bytes.HasPrefix(input, bom) {
			return len(bom)
		}
	}
	return 0
}

// requireSame requires got to equal want and shows only where they start to
// differ, as inputs can be large.
func requireSame(tb testing.TB, want, got, input []byte) {
	tb.Helper()
	if bytes.Equal(want, got) {
		return
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	from := max(0, i-40)
	short := func(b []byte) []byte { return b[min(from, len(b)):min(i+40, len(b))] }
	tb.Fatalf("outputs differ at byte %d of %d and %d:\nwant …%q…\ngot  …%q…\ninput (%d bytes) starts %q",
		i, len(want), len(got), short(want), short(got), len(input), input[:min(len(input), 200)])
}
