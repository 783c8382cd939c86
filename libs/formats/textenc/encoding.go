package textenc

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

type kind uint8

const (
	kindUTF8 kind = iota
	kindUTF16LE
	kindUTF16BE
	kindWindows1252
	kindISO88591
	kindISO885915
	kindShiftJIS
	kindGBK
	numKinds
)

// Encoding is a supported text encoding. The zero value is UTF-8.
type Encoding struct{ k kind }

// The supported encodings.
var (
	// UTF8 is UTF-8; overlong forms, surrogates and code points above
	// U+10FFFF are invalid.
	UTF8 = Encoding{kindUTF8}
	// UTF16LE is little-endian UTF-16, Excel's "Unicode text"; a lone
	// surrogate and an odd trailing byte are invalid.
	UTF16LE = Encoding{kindUTF16LE}
	// UTF16BE is big-endian UTF-16.
	UTF16BE = Encoding{kindUTF16BE}
	// Windows1252 is Windows code page 1252; its undefined bytes 0x81,
	// 0x8D, 0x8F, 0x90 and 0x9D are invalid.
	Windows1252 = Encoding{kindWindows1252}
	// ISO88591 is ISO-8859-1 (Latin-1). Every byte is valid: 0x80-0x9F
	// are the C1 control characters.
	ISO88591 = Encoding{kindISO88591}
	// ISO885915 is ISO-8859-15 (Latin-9); 0x80-0x9F are invalid, as they
	// are undefined in the standard and, in practice, a sign that the file
	// is really Windows-1252.
	ISO885915 = Encoding{kindISO885915}
	// ShiftJIS is Shift-JIS as the WHATWG Encoding Standard defines it,
	// which includes the Windows code page 932 extensions.
	ShiftJIS = Encoding{kindShiftJIS}
	// GBK is GBK (Windows code page 936), with 0x80 as the euro sign; the
	// four-byte sequences of GB18030 are invalid.
	GBK = Encoding{kindGBK}
)

var names = [numKinds]string{
	kindUTF8:        "utf-8",
	kindUTF16LE:     "utf-16le",
	kindUTF16BE:     "utf-16be",
	kindWindows1252: "windows-1252",
	kindISO88591:    "iso-8859-1",
	kindISO885915:   "iso-8859-15",
	kindShiftJIS:    "shift_jis",
	kindGBK:         "gbk",
}

// aliases maps names, lower-cased and without '-', '_', '.' and spaces, to
// encodings.
var aliases = map[string]kind{
	"":        kindUTF8,
	"utf8":    kindUTF8,
	"utf8sig": kindUTF8,

	"utf16le": kindUTF16LE,
	"utf16":   kindUTF16LE,
	"ucs2":    kindUTF16LE,
	"unicode": kindUTF16LE,
	"utf16be": kindUTF16BE,

	"windows1252": kindWindows1252,
	"win1252":     kindWindows1252,
	"cp1252":      kindWindows1252,
	"xcp1252":     kindWindows1252,

	"iso88591": kindISO88591,
	"latin1":   kindISO88591,
	"l1":       kindISO88591,

	"iso885915": kindISO885915,
	"latin9":    kindISO885915,
	"l9":        kindISO885915,

	"shiftjis":   kindShiftJIS,
	"sjis":       kindShiftJIS,
	"xsjis":      kindShiftJIS,
	"mskanji":    kindShiftJIS,
	"cp932":      kindShiftJIS,
	"ms932":      kindShiftJIS,
	"windows31j": kindShiftJIS,

	"gbk":        kindGBK,
	"xgbk":       kindGBK,
	"cp936":      kindGBK,
	"ms936":      kindGBK,
	"windows936": kindGBK,
	"gb2312":     kindGBK,
	"euccn":      kindGBK,
}

// ErrUnknownEncoding is returned, wrapped, by Lookup for a name it does not
// know.
var ErrUnknownEncoding = errors.New("unknown text encoding")

// Lookup finds an encoding by its canonical name (see Names) or a common
// alias. Case, '-', '_', '.' and spaces are ignored, so "UTF_8", "Shift-JIS"
// and "ISO8859-1" are found. The empty name is UTF-8.
//
// Aliases: utf8 and utf-8-sig are UTF-8; utf-16, ucs-2 and unicode (Excel's
// "Unicode text") are UTF-16 LE, since a byte-order mark, when there is one,
// decides the byte order anyway; cp1252 and win-1252 are Windows-1252; latin1
// and l1 are ISO-8859-1; latin9 and l9 are ISO-8859-15; sjis, cp932, ms932 and
// windows-31j are Shift-JIS, which decodes the Windows code page 932
// extensions; cp936, gb2312 and euc-cn are GBK, a superset of GB2312 in its
// usual EUC-CN form. GB18030 is refused: its four-byte sequences are not GBK.
func Lookup(name string) (Encoding, error) {
	key := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', '.', ' ', '\t':
			return -1
		}
		return r
	}, strings.ToLower(name))
	k, ok := aliases[key]
	if !ok {
		return Encoding{}, fmt.Errorf("%w %q: supported are %s", ErrUnknownEncoding, name, strings.Join(Names(), ", "))
	}
	return Encoding{k}, nil
}

// Names returns the canonical names of the supported encodings.
func Names() []string {
	return append([]string(nil), names[:]...)
}

// Name returns the canonical name of the encoding.
func (e Encoding) Name() string { return names[e.k] }

// String returns the canonical name of the encoding.
func (e Encoding) String() string { return names[e.k] }

// XEncoding returns the golang.org/x/text encoding for e (for writers; the
// readers here decode with their own checks).
func (e Encoding) XEncoding() encoding.Encoding {
	switch e.k {
	case kindUTF16LE:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case kindUTF16BE:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	case kindWindows1252:
		return charmap.Windows1252
	case kindISO88591:
		return charmap.ISO8859_1
	case kindISO885915:
		return charmap.ISO8859_15
	case kindShiftJIS:
		return japanese.ShiftJIS
	case kindGBK:
		return simplifiedchinese.GBK
	}
	return unicode.UTF8
}

// newTransformer returns a decoding transformer for the multi-byte encodings
// other than UTF-8. It never skips a byte-order mark.
func (e Encoding) newTransformer() transform.Transformer {
	switch e.k {
	case kindUTF16LE, kindUTF16BE, kindShiftJIS, kindGBK:
		return e.XEncoding().NewDecoder()
	}
	return nil
}

// dbcsWidth returns the length of the Shift-JIS or GBK character that starts
// with the non-ASCII byte c: 1, 2, or 0 if no character starts with c.
func (e Encoding) dbcsWidth(c byte) int {
	if e.k == kindShiftJIS {
		switch {
		case c == 0x80 || 0xA1 <= c && c <= 0xDF:
			return 1
		case 0x81 <= c && c <= 0x9F || 0xE0 <= c && c <= 0xFC:
			return 2
		}
		return 0
	}
	switch {
	case c == 0x80:
		return 1
	case c == 0xFF:
		return 0
	}
	return 2
}

// sbcsEntry is the UTF-8 form of one byte of a single-byte charset; n is 0
// for a byte the charset leaves undefined.
type sbcsEntry struct {
	b [3]byte
	n uint8
}

type sbcsTable [256]sbcsEntry

var sbcsTables = [numKinds]*sbcsTable{
	kindWindows1252: newSBCSTable(charmap.Windows1252),
	kindISO88591:    newSBCSTable(charmap.ISO8859_1),
	kindISO885915:   newSBCSTable(charmap.ISO8859_15),
}

// newSBCSTable builds the table of cm. The charmaps of golang.org/x/text map
// undefined bytes (0x81, 0x8D, 0x8F, 0x90 and 0x9D in Windows-1252, 0x80-0x9F
// in ISO-8859-15) to U+FFFD, which the table turns into invalid bytes.
func newSBCSTable(cm *charmap.Charmap) *sbcsTable {
	t := new(sbcsTable)
	for i := range t {
		r := cm.DecodeByte(byte(i))
		if r == utf8.RuneError {
			continue
		}
		t[i].n = uint8(utf8.EncodeRune(t[i].b[:], r))
	}
	return t
}
