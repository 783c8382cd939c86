package textenc

import (
	"bytes"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzDecode decodes any bytes in every encoding and checks that nothing
// panics, that the output without markers is valid UTF-8, that marker
// offsets increase strictly within the input, that the output matches
// referenceDecode whatever the cutting of the reads and the size of the
// buffers, and that valid UTF-8
// passes through unchanged.
func FuzzDecode(f *testing.F) {
	for _, tt := range invalidCases {
		f.Add([]byte(tt.input))
	}
	f.Add([]byte(western))
	f.Add(encLossy(f, Windows1252, western))
	f.Add(cat(bomUTF16LE, encLossy(f, UTF16LE, western+"😀\uFFFD")))
	f.Add(cat(bomUTF16BE, encLossy(f, UTF16BE, "a😀b")))
	f.Add(encLossy(f, ShiftJIS, "日本語テキスト,ソ表ポ,ｱ\r\n"))
	f.Add(encLossy(f, GBK, "中文文本,€\r\n"))
	f.Add([]byte("\xef\xbb\xbf\xef\xbf\xbd\xff\xfe"))
	f.Fuzz(func(t *testing.T, input []byte) {
		for _, e := range allEncodings {
			// Buffers of 4 KiB behave as the default ones for the short
			// inputs fuzzing makes, without allocating 128 KiB each time;
			// TestDecodeMatchesReference covers the default sizes.
			got, d := decodeSize(t, input, e, nil, 4<<10, 4<<10)
			checkOutput(t, input, got, d)
			want, wantEnc := referenceDecode(input, e)
			requireSame(t, want, got, input)
			require.Equal(t, wantEnc, d.Encoding())
			small, _ := decodeSize(t, input, e, iotest.HalfReader, 5, reserve+3)
			requireSame(t, want, small, input)
			if e == UTF8 && utf8.Valid(input) {
				requireSame(t, bytes.TrimPrefix(input, bomUTF8), got, input)
			}
		}
	})
}
