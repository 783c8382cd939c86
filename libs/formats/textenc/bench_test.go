package textenc

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// benchRows are CSV rows of the kind each encoding carries.
var benchRows = map[string]string{
	"western":  "10234;Zoë Müller;“Café crème”;Straße 12;12,50 €;½ price;2024-05-01\r\n",
	"ascii":    "10234,John Smith,\"Main Street 12\",12.50,2024-05-01,active\r\n",
	"japanese": "10234,山田太郎,東京都千代田区丸の内１－２,ソニー株式会社,テキスト「ポ」,12500\r\n",
	"chinese":  "10234,张三,北京市朝阳区建国路,中文文本数据,12500\r\n",
	"mixed":    "10234,Zoë Müller,東京都,中文,😀,12.50 €\r\n",
}

// benchInput returns about 10 MB of rows in e, with invalid written over
// them every invalidEvery bytes if invalidEvery is not 0.
func benchInput(b *testing.B, e Encoding, rows string, invalid string, invalidEvery int) []byte {
	b.Helper()
	row := encLossy(b, e, rows)
	input := bytes.Repeat(row, 10<<20/len(row))
	for i := invalidEvery; invalidEvery > 0 && i+len(invalid) < len(input); i += invalidEvery {
		copy(input[i:], invalid)
	}
	return input
}

func BenchmarkDecode(b *testing.B) {
	benches := []struct {
		name         string
		enc          Encoding
		rows         string
		invalid      string
		invalidEvery int
	}{
		{"utf-8/ascii", UTF8, "ascii", "", 0},
		{"utf-8/mixed", UTF8, "mixed", "", 0},
		{"utf-8/japanese", UTF8, "japanese", "", 0},
		{"utf-8/invalid-every-4KiB", UTF8, "mixed", "\xff", 4 << 10},
		{"windows-1252/western", Windows1252, "western", "", 0},
		{"windows-1252/ascii", Windows1252, "ascii", "", 0},
		{"windows-1252/invalid-every-4KiB", Windows1252, "western", "\x81", 4 << 10},
		{"iso-8859-1/western", ISO88591, "western", "", 0},
		{"utf-16le/western", UTF16LE, "western", "", 0},
		{"utf-16le/japanese", UTF16LE, "japanese", "", 0},
		{"utf-16le/invalid-every-4KiB", UTF16LE, "western", "\x00\xdc", 4 << 10},
		{"shift_jis/japanese", ShiftJIS, "japanese", "", 0},
		{"shift_jis/invalid-every-4KiB", ShiftJIS, "japanese", "\xa0", 4 << 10},
		{"gbk/chinese", GBK, "chinese", "", 0},
		{"gbk/invalid-every-4KiB", GBK, "chinese", "\xff", 4 << 10},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			input := benchInput(b, bb.enc, benchRows[bb.rows], bb.invalid, bb.invalidEvery)
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(input)))
			b.ReportAllocs()
			for b.Loop() {
				d := NewDecoder(bytes.NewReader(input), bb.enc)
				for {
					_, err := d.Read(buf)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkDetect(b *testing.B) {
	sample := []byte(strings.Repeat(benchRows["western"], 1000))[:64<<10]
	sample = encLossy(b, Windows1252, string(sample))
	b.SetBytes(int64(len(sample)))
	for b.Loop() {
		Detect(sample)
	}
}
