package textenc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name string
		want Encoding
	}{
		{"", UTF8},
		{"utf-8", UTF8},
		{"UTF8", UTF8},
		{"utf-8-sig", UTF8},
		{"utf-16le", UTF16LE},
		{"UTF-16", UTF16LE},
		{"unicode", UTF16LE},
		{"ucs-2", UTF16LE},
		{"utf-16be", UTF16BE},
		{"UTF_16BE", UTF16BE},
		{"windows-1252", Windows1252},
		{"Windows1252", Windows1252},
		{"cp1252", Windows1252},
		{"iso-8859-1", ISO88591},
		{"ISO8859-1", ISO88591},
		{"iso_8859-1", ISO88591},
		{"latin1", ISO88591},
		{"Latin-1", ISO88591},
		{"iso-8859-15", ISO885915},
		{"latin9", ISO885915},
		{"shift_jis", ShiftJIS},
		{"Shift-JIS", ShiftJIS},
		{"sjis", ShiftJIS},
		{"cp932", ShiftJIS},
		{"windows-31j", ShiftJIS},
		{"gbk", GBK},
		{"CP936", GBK},
		{"gb2312", GBK},
		{"euc-cn", GBK},
		{" utf-8 ", UTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Lookup(tt.name)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{"gb18030", "utf-32", "ebcdic", "euc-jp", "ascii"} {
		t.Run(name, func(t *testing.T) {
			_, err := Lookup(name)
			require.ErrorIs(t, err, ErrUnknownEncoding)
			require.EqualError(t, err, `unknown text encoding "`+name+`": supported are utf-8, utf-16le, utf-16be, windows-1252, iso-8859-1, iso-8859-15, shift_jis, gbk`)
		})
	}
}

func TestNames(t *testing.T) {
	names := Names()
	require.Equal(t, []string{"utf-8", "utf-16le", "utf-16be", "windows-1252", "iso-8859-1", "iso-8859-15", "shift_jis", "gbk"}, names)
	for i, name := range names {
		e, err := Lookup(name)
		require.NoError(t, err)
		require.Equal(t, name, e.Name())
		require.Equal(t, name, e.String())
		require.Equal(t, allEncodings[i], e)
	}
	names[0] = "changed"
	require.Equal(t, "utf-8", Names()[0], "Names returns a copy")
	require.Equal(t, "utf-8", Encoding{}.Name(), "the zero Encoding is UTF-8")
}

// TestSingleByteInvalid pins which bytes of each single-byte charset are
// invalid.
func TestSingleByteInvalid(t *testing.T) {
	c1 := make([]byte, 0, 32)
	for c := 0x80; c <= 0x9F; c++ {
		c1 = append(c1, byte(c))
	}
	tests := []struct {
		enc  Encoding
		want []byte
	}{
		{Windows1252, []byte{0x81, 0x8D, 0x8F, 0x90, 0x9D}},
		{ISO88591, nil},
		{ISO885915, c1},
	}
	for _, tt := range tests {
		t.Run(tt.enc.Name(), func(t *testing.T) {
			var got []byte
			for c := range 256 {
				if sbcsTables[tt.enc.k][c].n == 0 {
					got = append(got, byte(c))
				}
			}
			require.Equal(t, tt.want, got)
		})
	}
}
