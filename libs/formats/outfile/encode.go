package outfile

import (
	"slices"
	"unicode/utf8"

	"golang.org/x/text/transform"

	"github.com/ferrydata/ferry/libs/formats/textenc"
)

// textEncoder turns UTF-8 text into the output encoding, cell by cell, so
// that a character the encoding cannot hold is found in the cell it is in.
type textEncoder struct {
	name    string
	utf8    bool                  // UTF-8: text is copied once it is valid
	ascii   bool                  // ASCII is copied as is (all but UTF-16)
	t       transform.Transformer // strict encoder; nil for UTF-8
	replace bool
	// replacement is what a character that cannot be written becomes:
	// U+FFFD in UTF-8 and UTF-16 (where only invalid UTF-8 cannot be
	// written), '?' elsewhere. golang.org/x/text would write the ASCII
	// control character SUB (0x1A), which spreadsheets do not show.
	replacement []byte
	bom         []byte
}

func newTextEncoder(e textenc.Encoding, replace bool) *textEncoder {
	te := &textEncoder{name: e.Name(), replace: replace, replacement: []byte("?"), ascii: true}
	switch e {
	case textenc.UTF8:
		te.utf8 = true
		te.replacement = []byte(string(utf8.RuneError))
		te.bom = []byte{0xEF, 0xBB, 0xBF}
		return te
	case textenc.UTF16LE:
		te.bom = []byte{0xFF, 0xFE}
	case textenc.UTF16BE:
		te.bom = []byte{0xFE, 0xFF}
	}
	te.t = e.XEncoding().NewEncoder()
	if e == textenc.UTF16LE || e == textenc.UTF16BE {
		te.ascii = false
		te.replacement, _ = appendTransform(nil, te.t, []byte(string(utf8.RuneError)))
	}
	return te
}

// append appends src, UTF-8 text, encoded. A character the encoding cannot
// hold, or a byte that is not UTF-8, is replaced when e.replace is set (and
// counted in replaced); otherwise append stops and returns it as bad with
// ok false.
func (e *textEncoder) append(dst, src []byte) (out []byte, replaced int, bad rune, ok bool) {
	switch {
	case e.utf8:
		if utf8.Valid(src) {
			return append(dst, src...), 0, 0, true
		}
	case e.ascii && isASCII(src):
		return append(dst, src...), 0, 0, true
	case utf8.Valid(src):
		n := len(dst)
		out, err := appendTransform(dst, e.t, src)
		if err == nil {
			return out, 0, 0, true
		}
		dst = out[:n]
	}
	return e.appendSlow(dst, src)
}

// appendSlow encodes src one character at a time.
func (e *textEncoder) appendSlow(dst, src []byte) (out []byte, replaced int, bad rune, ok bool) {
	for len(src) > 0 {
		r, size := utf8.DecodeRune(src)
		ch := src[:size]
		src = src[size:]
		switch {
		case r == utf8.RuneError && size == 1:
		case e.utf8 || e.ascii && r < utf8.RuneSelf:
			dst = append(dst, ch...)
			continue
		default:
			n := len(dst)
			enc, err := appendTransform(dst, e.t, ch)
			if err == nil {
				dst = enc
				continue
			}
			dst = enc[:n]
		}
		if !e.replace {
			return dst, replaced, r, false
		}
		dst = append(dst, e.replacement...)
		replaced++
	}
	return dst, replaced, 0, true
}

// appendTransform appends src transformed by t to dst.
func appendTransform(dst []byte, t transform.Transformer, src []byte) ([]byte, error) {
	t.Reset()
	for {
		dst = slices.Grow(dst, 2*len(src)+16)
		nDst, nSrc, err := t.Transform(dst[len(dst):cap(dst)], src, true)
		dst = dst[:len(dst)+nDst]
		src = src[nSrc:]
		if err != transform.ErrShortDst {
			return dst, err
		}
	}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// firstUnfit returns the byte index and the character of the first
// character of s for which fits is false, or -1; a byte that is not UTF-8
// counts as utf8.RuneError, whatever fits says.
func firstUnfit(s string, fits func(r rune) bool) (int, rune) {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i, r
			}
		}
		if !fits(r) {
			return i, r
		}
	}
	return -1, 0
}

// replaceUnfit returns s with each character from byte from on for which
// fits is false, and each byte that is not UTF-8, replaced by U+FFFD, and
// how many it replaced.
func replaceUnfit(s string, from int, fits func(r rune) bool) (string, int) {
	b := make([]byte, 0, len(s)+8)
	b = append(b, s[:from]...)
	n := 0
	for i, r := range s[from:] {
		_, size := utf8.DecodeRuneInString(s[from+i:])
		if r == utf8.RuneError && size == 1 || !fits(r) {
			b = utf8.AppendRune(b, utf8.RuneError)
			n++
			continue
		}
		b = append(b, s[from+i:from+i+size]...)
	}
	return string(b), n
}

// anyRune fits every valid character.
func anyRune(rune) bool { return true }

// xmlRune reports whether XML 1.0, and so an XLSX cell, can hold r;
// encoding/xml (which excelize uses) would turn any other into U+FFFD.
func xmlRune(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= utf8.MaxRune
}
