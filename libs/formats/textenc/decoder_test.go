package textenc

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

const western = "Zoë; Müller; €; “quotes”; ½"

func TestDecodeText(t *testing.T) {
	le := func(s string) []byte { return enc(t, UTF16LE, s) }
	be := func(s string) []byte { return enc(t, UTF16BE, s) }
	sjis := func(s string) []byte { return enc(t, ShiftJIS, s) }
	csv := "id\tname\r\n1\t\"Zoë \"\"Z\"\"\"\r\n"
	tests := []struct {
		name    string
		enc     Encoding
		input   []byte
		want    string
		wantEnc Encoding
	}{
		{name: "utf-8", enc: UTF8, input: []byte(western + "日本語😀"), want: western + "日本語😀", wantEnc: UTF8},
		{name: "utf-8 bom removed", enc: UTF8, input: cat(bomUTF8, []byte(western)), want: western, wantEnc: UTF8},
		{name: "utf-8 only a bom", enc: UTF8, input: bomUTF8, want: "", wantEnc: UTF8},
		{name: "empty", enc: Windows1252, input: nil, want: "", wantEnc: Windows1252},
		{name: "zero width no-break space after the start stays", enc: UTF8, input: []byte("a\uFEFFb"), want: "a\uFEFFb", wantEnc: UTF8},
		{name: "windows-1252", enc: Windows1252, input: enc(t, Windows1252, western), want: western, wantEnc: Windows1252},
		{name: "windows-1252 bytes 0x80-0xff", enc: Windows1252, input: []byte("\x80\x82\x8a\x9f\xa0\xa4\xff"), want: "€‚ŠŸ\u00a0¤ÿ", wantEnc: Windows1252},
		{name: "iso-8859-1", enc: ISO88591, input: []byte("Zo\xeb; M\xfcller; \xbd; \x80\x9f"), want: "Zoë; Müller; ½; \u0080\u009f", wantEnc: ISO88591},
		{name: "iso-8859-15", enc: ISO885915, input: []byte("\xa4 \xbc \xe9"), want: "€ Œ é", wantEnc: ISO885915},
		{name: "utf-16le bom", enc: UTF16LE, input: cat(bomUTF16LE, le(western)), want: western, wantEnc: UTF16LE},
		{name: "utf-16be bom", enc: UTF16BE, input: cat(bomUTF16BE, be(western)), want: western, wantEnc: UTF16BE},
		{name: "utf-16le without bom", enc: UTF16LE, input: le(western), want: western, wantEnc: UTF16LE},
		{name: "utf-16be without bom", enc: UTF16BE, input: be(western), want: western, wantEnc: UTF16BE},
		{name: "utf-16 surrogate pair", enc: UTF16LE, input: cat(bomUTF16LE, le("a😀b")), want: "a😀b", wantEnc: UTF16LE},
		{name: "utf-16 excel unicode text", enc: UTF16LE, input: cat(bomUTF16LE, le(csv)), want: csv, wantEnc: UTF16LE},
		{name: "shift_jis", enc: ShiftJIS, input: sjis("日本語テキスト"), want: "日本語テキスト", wantEnc: ShiftJIS},
		{name: "shift_jis second byte 0x5c and 0x7c", enc: ShiftJIS, input: []byte("\x83\x5c,\x95\x5c,\x83\x7c\r\n"), want: "ソ,表,ポ\r\n", wantEnc: ShiftJIS},
		{name: "shift_jis half-width katakana and 0x80", enc: ShiftJIS, input: []byte("\xb1\xdf\x80"), want: "ｱﾟ\u0080", wantEnc: ShiftJIS},
		{name: "shift_jis windows extension", enc: ShiftJIS, input: sjis("①㈱"), want: "①㈱", wantEnc: ShiftJIS},
		{name: "gbk", enc: GBK, input: []byte("\xd6\xd0\xce\xc4\xce\xc4\xb1\xbe"), want: "中文文本", wantEnc: GBK},
		{name: "gbk euro and extension", enc: GBK, input: cat([]byte("\x80"), enc(t, GBK, "丂")), want: "€丂", wantEnc: GBK},
		{name: "utf-8 bom overrides windows-1252", enc: Windows1252, input: cat(bomUTF8, []byte(western)), want: western, wantEnc: UTF8},
		{name: "utf-16le bom overrides utf-8", enc: UTF8, input: cat(bomUTF16LE, le(western)), want: western, wantEnc: UTF16LE},
		{name: "utf-16be bom overrides utf-16le", enc: UTF16LE, input: cat(bomUTF16BE, be(western)), want: western, wantEnc: UTF16BE},
		{name: "utf-16le bom overrides shift_jis", enc: ShiftJIS, input: cat(bomUTF16LE, le("日本")), want: "日本", wantEnc: UTF16LE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(bytes.NewReader(tt.input), tt.enc)
			require.Equal(t, tt.enc, d.Encoding(), "before the first Read")
			out, err := io.ReadAll(d)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(out))
			require.Equal(t, tt.wantEnc, d.Encoding())
			require.Zero(t, d.Invalid())
		})
	}
}

// invalidCases are inputs with invalid bytes and their exact decoding.
var invalidCases = []struct {
	name  string
	enc   Encoding
	input string
	want  string
}{
	{"windows-1252 undefined byte at offset 10", Windows1252, "0123456789\x81x", "0123456789" + m(10) + "x"},
	{"windows-1252 adjacent undefined bytes", Windows1252, "a\x81\x8d\x8f\x90\x9db\x9d", "a" + m(1) + "b" + m(7)},
	{"windows-1252 after a utf-8 bom is utf-8", Windows1252, "\xef\xbb\xbfa\x81", "a" + m(4)},
	{"iso-8859-15 c1 byte", ISO885915, "x\x80\x9fy\xa4", "x" + m(1) + "y€"},
	{"utf-8 lone 0xff", UTF8, "ab\xffcd", "ab" + m(2) + "cd"},
	{"utf-8 continuation byte", UTF8, "\x80", m(0)},
	{"utf-8 overlong", UTF8, "a\xc0\xafb", "a" + m(1) + "b"},
	{"utf-8 overlong three bytes", UTF8, "a\xe0\x80\xafb", "a" + m(1) + "b"},
	{"utf-8 surrogate", UTF8, "a\xed\xa0\x80b", "a" + m(1) + "b"},
	{"utf-8 above U+10FFFF", UTF8, "\xf4\x90\x80\x80", m(0)},
	{"utf-8 bytes f5-ff", UTF8, "\xf5|\xf8|\xfe", m(0) + "|" + m(2) + "|" + m(4)},
	{"utf-8 truncated at end of file", UTF8, "x\xe2\x82", "x" + m(1)},
	{"utf-8 truncated four-byte at end of file", UTF8, "x\xf0\x9f\x98", "x" + m(1)},
	{"utf-8 truncated before a valid character", UTF8, "\xe2\x82\xe2\x82\xac", m(0) + "€"},
	{"utf-8 truncated before ascii", UTF8, "\xe2\x82,x", m(0) + ",x"},
	{"utf-8 run of invalid bytes is one marker", UTF8, "a\xff\xfe\xc0\x80\xed\xa0\x80\xe2b", "a" + m(1) + "b"},
	{"utf-8 offsets count the bom", UTF8, "\xef\xbb\xbfa\xff", "a" + m(4)},
	{"utf-8 valid U+FFFD stays", UTF8, "a\xef\xbf\xbdb", "a\uFFFDb"},
	{"utf-8 valid U+FFFD next to invalid", UTF8, "\xef\xbf\xbd\xff\xef\xbf\xbd", "\uFFFD" + m(3) + "\uFFFD"},
	{"utf-16le lone high surrogate", UTF16LE, "\xff\xfea\x00\x00\xd8b\x00", "a" + m(4) + "b"},
	{"utf-16le lone low surrogate", UTF16LE, "a\x00\x00\xdcb\x00", "a" + m(2) + "b"},
	{"utf-16le high surrogate then high surrogate pair", UTF16LE, "\x00\xd8\x3d\xd8\x00\xde", m(0) + "😀"},
	{"utf-16le two low surrogates are one run", UTF16LE, "\x00\xdc\x00\xdca\x00", m(0) + "a"},
	{"utf-16le high surrogate at end of file", UTF16LE, "a\x00\x3d\xd8", "a" + m(2)},
	{"utf-16le high surrogate and odd byte at end of file", UTF16LE, "a\x00\x3d\xd8\x00", "a" + m(2)},
	{"utf-16le odd trailing byte", UTF16LE, "\xff\xfea\x00A", "a" + m(4)},
	{"utf-16le valid U+FFFD stays", UTF16LE, "\xff\xfe\xfd\xff\x00\xdc\xfd\xff", "\uFFFD" + m(4) + "\uFFFD"},
	{"utf-16be lone surrogate", UTF16BE, "\xfe\xff\x00a\xd8\x00\x00b", "a" + m(4) + "b"},
	{"utf-16be valid U+FFFD stays", UTF16BE, "\xff\xfd", "\uFFFD"},
	{"shift_jis invalid single bytes", ShiftJIS, "a\xa0b\xfdc\xffd", "a" + m(1) + "b" + m(3) + "c" + m(5) + "d"},
	{"shift_jis lead byte before a delimiter", ShiftJIS, "\x83,x", m(0) + ",x"},
	{"shift_jis lead byte before 0x7f", ShiftJIS, "\x83\x7f", m(0) + "\x7f"},
	{"shift_jis unmapped pair keeps an ascii second byte", ShiftJIS, "\x85\x40\x83\x5c", m(0) + "@ソ"},
	{"shift_jis unmapped pair with a non-ascii second byte", ShiftJIS, "\x85\x9f\x83\x5c", m(0) + "ソ"},
	{"shift_jis lead byte before a lead byte", ShiftJIS, "\xfc\xfd\x83\x5c", m(0) + "ソ"},
	{"shift_jis lead byte at end of file", ShiftJIS, "\x83\x5c\x83", "ソ" + m(2)},
	{"gbk invalid 0xff", GBK, "a\xffb", "a" + m(1) + "b"},
	{"gbk lead byte before a delimiter", GBK, "\xd6,\xd6\xd0", m(0) + ",中"},
	{"gbk four-byte gb18030 sequence", GBK, "\x81\x30\x81\x30", m(0) + "0" + m(2) + "0"},
	{"gbk lead byte before 0xff", GBK, "\xd6\xff", m(0)},
	{"gbk lead byte at end of file", GBK, "\xd6\xd0\xd6", "中" + m(2)},
}

func TestDecodeInvalid(t *testing.T) {
	for _, tt := range invalidCases {
		t.Run(tt.name, func(t *testing.T) {
			out, d := decode(t, []byte(tt.input), tt.enc, nil)
			require.Equal(t, tt.want, string(out))
			require.Equal(t, int64(strings.Count(tt.want, string([]byte{MarkerStart}))), d.Invalid())
			checkOutput(t, []byte(tt.input), out, d)
		})
	}
}

// TestDecodeLargeOffsets checks offsets and runs past the buffer sizes.
func TestDecodeLargeOffsets(t *testing.T) {
	ascii := strings.Repeat("abcdefgh", 10000)
	tests := []struct {
		name  string
		enc   Encoding
		input []byte
		want  string
	}{
		{"windows-1252", Windows1252, []byte(ascii + "\x81" + ascii + "\x81"), ascii + m(80000) + ascii + m(160001)},
		{"utf-8", UTF8, []byte(ascii + "\xff" + ascii + "\xe2\x82"), ascii + m(80000) + ascii + m(160001)},
		{"utf-8 long invalid run", UTF8, []byte("a" + strings.Repeat("\xff", 100000) + "b"), "a" + m(1) + "b"},
		{"windows-1252 long invalid run", Windows1252, []byte("a" + strings.Repeat("\x81", 100000) + "b"), "a" + m(1) + "b"},
		{"utf-16le", UTF16LE, cat(enc(t, UTF16LE, ascii), []byte{0, 0xdc}, enc(t, UTF16LE, "x")), ascii + m(160000) + "x"},
		{"shift_jis", ShiftJIS, cat(enc(t, ShiftJIS, strings.Repeat("日本語", 15000)), []byte{0xa0}), strings.Repeat("日本語", 15000) + m(90000)},
		{"gbk long invalid run", GBK, []byte("a" + strings.Repeat("\xff", 100000) + "b"), "a" + m(1) + "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, wrap := range readerWrappers {
				out, _ := decode(t, tt.input, tt.enc, wrap.fn)
				require.Equal(t, tt.want, string(out), wrap.name)
			}
		})
	}
}

// TestDecodeManyMarkers checks input whose markers make the output many
// times longer than the input, across the buffer sizes.
func TestDecodeManyMarkers(t *testing.T) {
	tests := []struct {
		enc  Encoding
		unit string
	}{
		{UTF8, "a\xff"},
		{UTF8, "\xe2\x82\xac\xc0"},
		{Windows1252, "\x80\x81"},
		{ISO885915, "\xa4\x80"},
		{UTF16LE, "a\x00\x00\xdc"},
		{UTF16BE, "\xd8\x00\x00a"},
		{ShiftJIS, "\x83\x5c\xa0"},
		{GBK, "\xd6\xd0\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.enc.Name(), func(t *testing.T) {
			input := []byte(strings.Repeat(tt.unit, 25000))
			want, _ := referenceDecode(input, tt.enc)
			require.Greater(t, len(want), max(len(input), 2*bufSize))
			for _, wrap := range append(readerWrappers, struct {
				name string
				fn   func(io.Reader) io.Reader
			}{"whole", nil}) {
				got, d := decode(t, input, tt.enc, wrap.fn)
				requireSame(t, want, got, input)
				require.Equal(t, int64(25000), d.Invalid(), wrap.name)
			}
		})
	}
}

var readerWrappers = []struct {
	name string
	fn   func(io.Reader) io.Reader
}{
	{"one byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data with eof", iotest.DataErrReader},
	{"one byte with eof", func(r io.Reader) io.Reader { return iotest.DataErrReader(iotest.OneByteReader(r)) }},
	{"empty reads", func(r io.Reader) io.Reader { return &stutterReader{r: r} }},
}

// stutterReader returns nothing on every other Read.
type stutterReader struct {
	r    io.Reader
	skip bool
}

func (s *stutterReader) Read(p []byte) (int, error) {
	s.skip = !s.skip
	if s.skip {
		return 0, nil
	}
	return s.r.Read(p)
}

// TestDecodeChunking checks that how the underlying reader and the caller
// cut the input changes nothing.
func TestDecodeChunking(t *testing.T) {
	type input struct {
		name  string
		enc   Encoding
		input []byte
	}
	inputs := []input{
		{"utf-8", UTF8, cat(bomUTF8, []byte(strings.Repeat(western+"日本語😀\uFFFD\r\n", 50)))},
		{"windows-1252", Windows1252, enc(t, Windows1252, strings.Repeat(western+"\r\n", 50))},
		{"utf-16le", UTF16LE, cat(bomUTF16LE, enc(t, UTF16LE, strings.Repeat(western+"😀\uFFFD\r\n", 50)))},
		{"utf-16be", UTF16BE, cat(bomUTF16BE, enc(t, UTF16BE, strings.Repeat(western+"😀\r\n", 50)))},
		{"shift_jis", ShiftJIS, enc(t, ShiftJIS, strings.Repeat("日本語テキスト,ソ表ポ,ｱ\r\n", 50))},
		{"gbk", GBK, enc(t, GBK, strings.Repeat("中文文本,€\r\n", 50))},
	}
	for _, tt := range invalidCases {
		inputs = append(inputs, input{tt.name, tt.enc, []byte(tt.input)})
	}
	for _, tt := range inputs {
		t.Run(tt.name, func(t *testing.T) {
			want, _ := decode(t, tt.input, tt.enc, nil)
			require.NoError(t, iotest.TestReader(NewDecoder(bytes.NewReader(tt.input), tt.enc), want))
			for _, wrap := range readerWrappers {
				got, _ := decode(t, tt.input, tt.enc, wrap.fn)
				require.Equal(t, string(want), string(got), wrap.name)
			}
			got, err := io.ReadAll(iotest.OneByteReader(NewDecoder(bytes.NewReader(tt.input), tt.enc)))
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "reading one byte at a time")
		})
	}
}

func TestDecodeReadError(t *testing.T) {
	broken := errors.New("disk on fire")
	tests := []struct {
		name    string
		r       io.Reader
		want    string
		wantErr error
	}{
		{"error after data", io.MultiReader(strings.NewReader("ab\xe2\x82\xac"), iotest.ErrReader(broken)), "ab€", broken},
		{"incomplete character before the error is dropped", io.MultiReader(strings.NewReader("ab\xe2\x82"), iotest.ErrReader(broken)), "ab", broken},
		{"error at once", iotest.ErrReader(broken), "", broken},
		{"timeout", iotest.TimeoutReader(strings.NewReader("abc")), "abc", iotest.ErrTimeout},
		{"no progress", iotest.ErrReader(nil), "", io.ErrNoProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(tt.r, UTF8)
			out, err := io.ReadAll(d)
			require.ErrorIs(t, err, tt.wantErr)
			require.ErrorContains(t, err, "read utf-8 text: ")
			require.Equal(t, tt.want, string(out))
			n, err := d.Read(make([]byte, 8))
			require.Zero(t, n)
			require.ErrorIs(t, err, tt.wantErr, "the error sticks")
		})
	}
}

func TestDecodeEmptyRead(t *testing.T) {
	d := NewDecoder(iotest.ErrReader(errors.New("must not be read")), UTF8)
	n, err := d.Read(nil)
	require.Zero(t, n)
	require.NoError(t, err)
}

// TestDecodeBoundedMemory checks that decoding allocates the same whatever
// the size of the input.
func TestDecodeBoundedMemory(t *testing.T) {
	for _, e := range allEncodings {
		t.Run(e.Name(), func(t *testing.T) {
			allocs := func(n int) float64 {
				input := bytes.Repeat(encLossy(t, e, "Zoë,日本,\x81\xff\r\n"), n)
				buf := make([]byte, 32<<10)
				return testing.AllocsPerRun(3, func() {
					d := NewDecoder(bytes.NewReader(input), e)
					for {
						if _, err := d.Read(buf); err != nil {
							require.ErrorIs(t, err, io.EOF)
							return
						}
					}
				})
			}
			require.Equal(t, allocs(100), allocs(8000))
		})
	}
}
