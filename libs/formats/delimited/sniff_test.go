package delimited

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{name: "csv", head: []byte("id,name\r\n1,Ann\r\n")},
		{name: "csv with bom, tabs and form feed", head: []byte("\xEF\xBB\xBFid\tname\f\n1\tÉva\n")},
		{name: "empty", head: nil},
		{name: "latin-1 text", head: []byte("nom,ville\nL\xe9a,Orl\xe9ans\n")},
		{name: "a few control bytes", head: append(bytes.Repeat([]byte("abcdefghij"), 10), 0x1A, 0x1B, 0x7F)},
		{name: "xlsx", head: []byte("PK\x03\x04\x14\x00\x06\x00"), want: "the file looks like a ZIP archive (an .xlsx workbook?), not CSV text"},
		{name: "empty zip", head: []byte("PK\x05\x06\x00\x00"), want: "the file looks like a ZIP archive (an .xlsx workbook?), not CSV text"},
		{name: "xls", head: []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00"), want: "the file looks like an OLE2 document (an old .xls workbook?), not CSV text"},
		{name: "pdf", head: []byte("%PDF-1.7\n%\xe2\xe3"), want: "the file looks like a PDF document, not CSV text"},
		{name: "gzip", head: []byte("\x1f\x8b\x08\x00"), want: "the file looks like a gzip-compressed file, not CSV text"},
		{name: "png", head: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), want: "the file looks like a PNG image, not CSV text"},
		{name: "jpeg", head: []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF"), want: "the file looks like a JPEG image, not CSV text"},
		{name: "gif", head: []byte("GIF89a\x01\x00"), want: "the file looks like a GIF image, not CSV text"},
		{name: "xz", head: []byte("\xFD7zXZ\x00\x00"), want: "the file looks like an xz-compressed file, not CSV text"},
		{name: "7z", head: []byte("7z\xBC\xAF\x27\x1C\x00"), want: "the file looks like a 7-Zip archive, not CSV text"},
		{name: "rar", head: []byte("Rar!\x1A\x07\x01\x00"), want: "the file looks like a RAR archive, not CSV text"},
		{name: "zstd", head: []byte("\x28\xB5\x2F\xFD\x04"), want: "the file looks like a zstd-compressed file, not CSV text"},
		{name: "bzip2", head: []byte("BZh91AY&SY\x01"), want: "the file looks like a bzip2-compressed file, not CSV text"},
		{name: "text starting like bzip2", head: []byte("BZh9,1\n")},
		{name: "sqlite", head: []byte("SQLite format 3\x00\x10"), want: "the file looks like an SQLite database, not CSV text"},
		{name: "elf", head: []byte("\x7FELF\x02\x01"), want: "the file looks like an executable program, not CSV text"},
		{name: "rtf", head: []byte(`{\rtf1\ansi`), want: "the file looks like an RTF document, not CSV text"},
		{name: "html", head: []byte("\xEF\xBB\xBF\r\n  <!DOCTYPE HTML>\n<html>"), want: "the file looks like an HTML page (a web export saved as .csv or .xls?), not CSV text"},
		{name: "html tag", head: []byte("<HTML><body><table>"), want: "the file looks like an HTML page (a web export saved as .csv or .xls?), not CSV text"},
		{name: "xml spreadsheet", head: []byte("<?xml version=\"1.0\"?>\n<Workbook"), want: "the file looks like an XML document (an Excel 2003 XML spreadsheet?), not CSV text"},
		{name: "utf-16 le bom", head: []byte("\xFF\xFEi\x00d\x00"), want: "the file is UTF-16 text and UTF-16 is not supported yet; save it as UTF-8 CSV"},
		{name: "utf-16 be bom", head: []byte("\xFE\xFF\x00i\x00d"), want: "the file is UTF-16 text and UTF-16 is not supported yet; save it as UTF-8 CSV"},
		{name: "utf-16 le without bom", head: []byte("i\x00d\x00,\x00n\x00a\x00m\x00e\x00\n\x00"), want: "the file looks like UTF-16 text without a byte-order mark and UTF-16 is not supported yet; save it as UTF-8 CSV"},
		{name: "utf-16 be without bom", head: []byte("\x00i\x00d\x00,\x00n\x00a\x00m\x00e\x00\n"), want: "the file looks like UTF-16 text without a byte-order mark and UTF-16 is not supported yet; save it as UTF-8 CSV"},
		{name: "nul", head: []byte("id,name\n1,A\x00nn\n"), want: "the file contains NUL bytes, so it is binary data, not CSV text"},
		{name: "control bytes over 5%", head: append(bytes.Repeat([]byte("abcdefghijklmnopqrs"), 5), bytes.Repeat([]byte{0x01}, 6)...), want: "the file has 6 control characters in its first 101 bytes, so it is binary data, not CSV text"},
		{name: "control bytes at 5%", head: append(bytes.Repeat([]byte("abcdefghijklmnopqrs"), 5), bytes.Repeat([]byte{0x01}, 5)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Sniff(tt.head))
		})
	}
}

func TestHasNUL(t *testing.T) {
	tests := []struct {
		b    []byte
		want bool
	}{
		{b: nil},
		{b: []byte("a,b\n")},
		{b: []byte("a,\x00b"), want: true},
		{b: append(bytes.Repeat([]byte("x"), 100_000), 0), want: true},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, HasNUL(tt.b))
	}
}
