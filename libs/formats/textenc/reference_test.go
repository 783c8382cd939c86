package textenc

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"
)

// referenceDecode is the Decoder written the simple way: the whole input at
// once, one character at a time, without buffers, windows or fast paths.
func referenceDecode(input []byte, e Encoding) ([]byte, Encoding) {
	i := 0
	switch {
	case bytes.HasPrefix(input, []byte("\xef\xbb\xbf")):
		e, i = UTF8, 3
	case bytes.HasPrefix(input, []byte("\xff\xfe")):
		e, i = UTF16LE, 2
	case bytes.HasPrefix(input, []byte("\xfe\xff")):
		e, i = UTF16BE, 2
	}
	var out []byte
	inRun := false
	bad := func(at int) {
		if !inRun {
			out = append(out, m(int64(at))...)
		}
		inRun = true
	}
	good := func(r rune) {
		out = utf8.AppendRune(out, r)
		inRun = false
	}
	for i < len(input) {
		c := input[i]
		switch e {
		case UTF8:
			r, n := utf8.DecodeRune(input[i:])
			if r == utf8.RuneError && n == 1 {
				bad(i)
			} else {
				good(r)
			}
			i += n
		case Windows1252, ISO88591, ISO885915:
			if r := charmaps[e].DecodeByte(c); r == utf8.RuneError {
				bad(i)
			} else {
				good(r)
			}
			i++
		case UTF16LE, UTF16BE:
			unit := func(j int) rune {
				if e == UTF16LE {
					return rune(input[j]) | rune(input[j+1])<<8
				}
				return rune(input[j])<<8 | rune(input[j+1])
			}
			switch {
			case i+2 > len(input):
				bad(i)
				i++
			case !utf16.IsSurrogate(unit(i)):
				good(unit(i))
				i += 2
			case i+4 <= len(input) && utf16.DecodeRune(unit(i), unit(i+2)) != utf8.RuneError:
				good(utf16.DecodeRune(unit(i), unit(i+2)))
				i += 4
			default:
				bad(i)
				i += 2
			}
		case ShiftJIS, GBK:
			var single, lead bool
			if e == ShiftJIS {
				single = c < 0x81 || 0xa1 <= c && c <= 0xdf
				lead = 0x81 <= c && c <= 0x9f || 0xe0 <= c && c <= 0xfc
			} else {
				single = c <= 0x80
				lead = 0x81 <= c && c <= 0xfe
			}
			switch {
			case single:
				r, _ := utf8.DecodeRuneInString(xdecode(e, input[i:i+1]))
				good(r)
				i++
			case lead && i+1 < len(input):
				if s := xdecode(e, input[i:i+2]); utf8.RuneCountInString(s) == 1 && s != "\uFFFD" {
					r, _ := utf8.DecodeRuneInString(s)
					good(r)
					i += 2
					break
				}
				bad(i)
				i++
				if input[i] >= 0x80 {
					i++
				}
			default:
				bad(i)
				i++
			}
		}
	}
	return out, e
}

var charmaps = map[Encoding]*charmap.Charmap{Windows1252: charmap.Windows1252, ISO88591: charmap.ISO8859_1, ISO885915: charmap.ISO8859_15}

func xdecode(e Encoding, b []byte) string {
	s, err := e.XEncoding().NewDecoder().Bytes(b)
	if err != nil {
		panic(err)
	}
	return string(s)
}

// randomReader returns what it reads in pieces of random length, sometimes
// none.
type randomReader struct {
	r   io.Reader
	rng *rand.Rand
}

func (r *randomReader) Read(p []byte) (int, error) {
	if r.rng.IntN(8) == 0 {
		return 0, nil
	}
	n := len(p)
	switch r.rng.IntN(3) {
	case 0:
		n = min(n, 1+r.rng.IntN(4))
	case 1:
		n = min(n, 1+r.rng.IntN(5000))
	}
	return r.r.Read(p[:n])
}

var randomTexts = []string{
	"a", ",", ";", "\t", "\r\n", "\n", "\"", "'", "0123456789", "Hello World ",
	"ë", "ü", "€", "“", "”", "½", "ÿ", "Œ", "\u0080",
	"日本語", "テキスト", "ソ", "表", "ポ", "ｱ", "①",
	"中文", "文本", "丂", "😀", "\uFFFD", "\uFEFF",
}

// randomBad holds byte strings that are invalid, or start or end characters,
// in some encoding.
var randomBad = []string{
	"\x80", "\x81", "\x8d", "\x9f", "\xa0", "\xc0", "\xe2\x82", "\xf0\x9f", "\xed\xa0\x80", "\xfd", "\xfe", "\xff",
	"\x00\xd8", "\xd8\x00", "\x00\xdc", "\xdc\x00", "\x3d\xd8", "\xfd\xff", "\xff\xfd",
	"\x83", "\x85\x40", "\x81\x30", "\xef\xbb\xbf", "\x00",
}

func randomInput(tb testing.TB, rng *rand.Rand, e Encoding) []byte {
	var b []byte
	switch rng.IntN(6) {
	case 0:
		b = append(b, bomUTF8...)
	case 1:
		b = append(b, bomUTF16LE...)
	case 2:
		b = append(b, bomUTF16BE...)
	}
	size := rng.IntN(200)
	if rng.IntN(10) == 0 {
		size = rng.IntN(150 << 10)
	}
	for len(b) < size {
		switch rng.IntN(10) {
		case 0:
			for range 1 + rng.IntN(8) {
				b = append(b, byte(rng.IntN(256)))
			}
		case 1:
			b = append(b, randomBad[rng.IntN(len(randomBad))]...)
		case 2:
			b = append(b, strings.Repeat("abcdefghij", rng.IntN(500))...)
		default:
			var s strings.Builder
			for range 1 + rng.IntN(20) {
				s.WriteString(randomTexts[rng.IntN(len(randomTexts))])
			}
			b = append(b, encLossy(tb, e, s.String())...)
		}
	}
	return b
}

// TestDecodeMatchesReference compares the Decoder, reading through randomly
// cut reads into buffers of random sizes, with referenceDecode on random inputs, and with golang.org/x/text
// when the input is valid.
func TestDecodeMatchesReference(t *testing.T) {
	for _, e := range allEncodings {
		t.Run(e.Name(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(e.k)))
			for range 200 {
				input := randomInput(t, rng, e)
				want, wantEnc := referenceDecode(input, e)
				in, out := bufSize, bufSize
				if rng.IntN(2) == 0 {
					in, out = 1+rng.IntN(200), 1+rng.IntN(300)
				}
				got, d := decodeSize(t, input, e, func(r io.Reader) io.Reader { return &randomReader{r: r, rng: rng} }, in, out)
				requireSame(t, want, got, input)
				require.Equal(t, wantEnc, d.Encoding())
				checkOutput(t, input, got, d)
				if d.Invalid() == 0 {
					requireSame(t, []byte(xdecode(d.Encoding(), input[bomLen(input):])), got, input)
				}
			}
		})
	}
}

// TestReferenceDecode pins the reference decoder to the hand-written cases.
func TestReferenceDecode(t *testing.T) {
	for _, tt := range invalidCases {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := referenceDecode([]byte(tt.input), tt.enc)
			require.Equal(t, tt.want, string(got))
		})
	}
}
