package textenc

import (
	"bytes"
	"unicode/utf8"
)

// Detect proposes an encoding for sample, the first bytes of a file, and
// says why in a short phrase for a person. In order, it looks for a
// byte-order mark; for NUL in every other byte (UTF-16 without a byte-order
// mark); for valid UTF-8, a multi-byte sequence cut off at the end of the
// sample not counting against it; for UTF-8 with more multi-byte characters
// than invalid sequences, as reading such a file as Windows-1252 would change
// every non-ASCII character; for valid Shift-JIS or GBK in which the
// double-byte characters look like Japanese or Chinese text; and otherwise
// proposes Windows-1252. Detect never fails, but it is a guess: a user must
// be able to override it.
func Detect(sample []byte) (Encoding, string) {
	switch {
	case bytes.HasPrefix(sample, bomUTF8):
		return UTF8, "UTF-8 byte-order mark"
	case bytes.HasPrefix(sample, bomUTF16LE):
		return UTF16LE, "UTF-16 LE byte-order mark"
	case bytes.HasPrefix(sample, bomUTF16BE):
		return UTF16BE, "UTF-16 BE byte-order mark"
	case len(sample) == 0:
		return UTF8, "empty sample: UTF-8 assumed"
	}
	if e, ok := detectUTF16(sample); ok {
		if e == UTF16BE {
			return e, "NUL in every other byte: UTF-16 BE without byte-order mark"
		}
		return e, "NUL in every other byte: UTF-16 LE without byte-order mark"
	}
	if valid := sample[:completeUTF8(sample)]; utf8.Valid(valid) {
		if isASCII(valid) {
			return UTF8, "only ASCII bytes: valid UTF-8"
		}
		return UTF8, "valid UTF-8"
	}
	if multi, invalid := scanUTF8(sample); multi > invalid {
		return UTF8, "mostly valid UTF-8; the invalid bytes will be rejected"
	}
	sjis, gbk := scanDBCS(ShiftJIS, sample), scanDBCS(GBK, sample)
	switch {
	case sjis.likely() && (!gbk.likely() || sjis.typical >= gbk.typical):
		return ShiftJIS, "not valid UTF-8; Shift-JIS double-byte sequences"
	case gbk.likely():
		return GBK, "not valid UTF-8; GBK double-byte sequences"
	}
	for _, c := range sample {
		if 0x80 <= c && c <= 0x9F && sbcsTables[kindWindows1252][c].n > 0 {
			return Windows1252, "not valid UTF-8; bytes 0x80-0x9F used as Windows-1252 punctuation"
		}
	}
	return Windows1252, "not valid UTF-8; 8-bit text read as Windows-1252"
}

// detectUTF16 reports UTF-16 without a byte-order mark when at least a
// quarter of the 16-bit units have a NUL high byte and a low byte that is
// text (not a control character other than tab, CR and LF), and units with
// a NUL low byte are rare.
func detectUTF16(sample []byte) (Encoding, bool) {
	var le, be, leText, beText int // units with NUL in the second or first byte
	for i := 0; i+1 < len(sample); i += 2 {
		b0, b1 := sample[i], sample[i+1]
		if b1 == 0 {
			le++
			if isTextByte(b0) {
				leText++
			}
		}
		if b0 == 0 {
			be++
			if isTextByte(b1) {
				beText++
			}
		}
	}
	units := len(sample) / 2
	switch {
	case 4*leText >= units && 10*leText >= 9*le && 10*be <= le:
		return UTF16LE, true
	case 4*beText >= units && 10*beText >= 9*be && 10*le <= be:
		return UTF16BE, true
	}
	return Encoding{}, false
}

func isTextByte(c byte) bool {
	return c >= 0x20 || c == '\t' || c == '\n' || c == '\r'
}

// scanUTF8 counts the valid multi-byte characters and the invalid runs in
// sample, leaving out a sequence cut off at its end.
func scanUTF8(sample []byte) (multi, invalid int) {
	b := sample[:completeUTF8(sample)]
	inRun := false
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			inRun = false
			continue
		}
		_, size := utf8.DecodeRune(b[i:])
		switch {
		case size > 1:
			multi++
			inRun = false
		case !inRun:
			invalid++
			inRun = true
		}
		i += size
	}
	return multi, invalid
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// dbcsStats counts what a sample looks like as Shift-JIS or GBK.
type dbcsStats struct {
	high    int // bytes 0x80-0xFF
	invalid int // invalid sequences
	typical int // bytes of characters typical of the language
}

// likely reports a sample without invalid sequences in which characters
// typical of the language make up at least half of the non-ASCII bytes.
// Western 8-bit text rarely gets there: its accented letters and
// punctuation mostly stand alone among ASCII letters.
func (s dbcsStats) likely() bool {
	return s.invalid == 0 && s.typical > 0 && 2*s.typical >= s.high
}

// scanDBCS walks sample as Shift-JIS or GBK. Typical Shift-JIS characters
// are kana (first byte 0x82 or 0x83), double-byte characters with a second
// byte above 0x7F, and characters right after another character of the same
// width, that is, runs of double-byte characters or of half-width katakana.
// Typical GBK characters are those of GB2312, both bytes 0xA1-0xFE.
func scanDBCS(e Encoding, sample []byte) dbcsStats {
	var s dbcsStats
	t := e.newTransformer()
	var buf [2 * utf8.UTFMax]byte
	prevWidth := 0 // of the previous non-ASCII character, 0 after ASCII
	for i := 0; i < len(sample); {
		c := sample[i]
		if c < utf8.RuneSelf {
			i++
			prevWidth = 0
			continue
		}
		w := e.dbcsWidth(c)
		if w == 2 && i+1 == len(sample) {
			break // cut off by the end of the sample
		}
		s.high++
		if w == 0 {
			s.invalid++
			i++
			continue
		}
		n, _, _ := t.Transform(buf[:], sample[i:i+w], true)
		if r, _ := utf8.DecodeRune(buf[:n]); r == utf8.RuneError {
			s.invalid++
			i++
			continue
		}
		high := 1
		if w == 2 && sample[i+1] >= utf8.RuneSelf {
			high = 2
			s.high++
		}
		switch {
		case e == GBK:
			if w == 2 && c >= 0xA1 && sample[i+1] >= 0xA1 {
				s.typical += high
			}
		case w == 2 && (c == 0x82 || c == 0x83 || high == 2) || prevWidth == w:
			s.typical += high
		}
		prevWidth = w
		i += w
	}
	return s
}
