package textenc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDetect(t *testing.T) {
	japanese := "名前,住所\r\n山田太郎,東京都千代田区\r\nソニー,テキスト「ポ」\r\n"
	chinese := "姓名,地址\r\n张三,北京市朝阳区\r\n中文文本,数据\r\n"
	tests := []struct {
		name       string
		sample     []byte
		want       Encoding
		wantReason string
	}{
		{"utf-8 bom", cat(bomUTF8, []byte("Zo\xeb")), UTF8, "UTF-8 byte-order mark"},
		{"utf-16le bom", cat(bomUTF16LE, enc(t, UTF16LE, "a,b")), UTF16LE, "UTF-16 LE byte-order mark"},
		{"utf-16be bom", cat(bomUTF16BE, enc(t, UTF16BE, "a,b")), UTF16BE, "UTF-16 BE byte-order mark"},
		{"empty", nil, UTF8, "empty sample: UTF-8 assumed"},
		{"utf-16le without bom", enc(t, UTF16LE, "id\tname\r\n1\tZoë\r\n"), UTF16LE, "NUL in every other byte: UTF-16 LE without byte-order mark"},
		{"utf-16be without bom", enc(t, UTF16BE, "id\tname\r\n1\tZoë 日本\r\n"), UTF16BE, "NUL in every other byte: UTF-16 BE without byte-order mark"},
		{"utf-16le without bom cut at an odd length", enc(t, UTF16LE, "abc")[:5], UTF16LE, "NUL in every other byte: UTF-16 LE without byte-order mark"},
		{"ascii", []byte("id,name\r\n1,Zoe\r\n"), UTF8, "only ASCII bytes: valid UTF-8"},
		{"utf-8", []byte(western + japanese), UTF8, "valid UTF-8"},
		{"utf-8 cut inside a character", []byte("Zoë,€")[:8], UTF8, "valid UTF-8"},
		{"utf-8 with a stray byte", []byte("Zoë,Müller,€,\xff,日本"), UTF8, "mostly valid UTF-8; the invalid bytes will be rejected"},
		{"shift_jis", enc(t, ShiftJIS, japanese), ShiftJIS, "not valid UTF-8; Shift-JIS double-byte sequences"},
		{"shift_jis kanji only", enc(t, ShiftJIS, "山田,太郎"), ShiftJIS, "not valid UTF-8; Shift-JIS double-byte sequences"},
		{"shift_jis cut inside a character", enc(t, ShiftJIS, japanese)[:11], ShiftJIS, "not valid UTF-8; Shift-JIS double-byte sequences"},
		{"shift_jis half-width katakana", enc(t, ShiftJIS, "ｶﾌﾞｼｷｶﾞｲｼｬ ﾔﾏﾀﾞ,1000\r\nﾀﾅｶ ﾀﾛｳ,2000\r\n"), ShiftJIS, "not valid UTF-8; Shift-JIS double-byte sequences"},
		{"gbk", enc(t, GBK, chinese), GBK, "not valid UTF-8; GBK double-byte sequences"},
		{"gbk short", enc(t, GBK, "中文文本"), GBK, "not valid UTF-8; GBK double-byte sequences"},
		{"windows-1252 punctuation", enc(t, Windows1252, western), Windows1252, "not valid UTF-8; bytes 0x80-0x9F used as Windows-1252 punctuation"},
		{"windows-1252 apostrophe", enc(t, Windows1252, "Don’t stop"), Windows1252, "not valid UTF-8; bytes 0x80-0x9F used as Windows-1252 punctuation"},
		{"latin-1 letters", enc(t, Windows1252, "Café crème,Zoë,Müller\r\n"), Windows1252, "not valid UTF-8; 8-bit text read as Windows-1252"},
		{"undefined windows-1252 byte is not punctuation", []byte("a\x81b\xe9 "), Windows1252, "not valid UTF-8; 8-bit text read as Windows-1252"},
		{"binary", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"), Windows1252, "not valid UTF-8; 8-bit text read as Windows-1252"},
		{"long windows-1252", enc(t, Windows1252, strings.Repeat("Zoë Müller, “quotes”, 12,50 €\r\n", 1000)), Windows1252, "not valid UTF-8; bytes 0x80-0x9F used as Windows-1252 punctuation"},
		{"long shift_jis", enc(t, ShiftJIS, strings.Repeat(japanese, 300)), ShiftJIS, "not valid UTF-8; Shift-JIS double-byte sequences"},
		{"long gbk", enc(t, GBK, strings.Repeat(chinese, 300)), GBK, "not valid UTF-8; GBK double-byte sequences"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := Detect(tt.sample)
			require.Equal(t, tt.wantReason, reason)
			require.Equal(t, tt.want, got)
		})
	}
}
