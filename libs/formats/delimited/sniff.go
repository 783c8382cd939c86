package delimited

import (
	"bytes"
	"fmt"
)

// signatures are the leading bytes of binary formats that users upload by
// mistake instead of CSV text.
var signatures = []struct {
	magic string
	name  string
}{
	{"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)"},
	{"PK\x05\x06", "a ZIP archive (an .xlsx workbook?)"},
	{"PK\x07\x08", "a ZIP archive (an .xlsx workbook?)"},
	{"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", "an OLE2 document (an old .xls workbook?)"},
	{"%PDF-", "a PDF document"},
	{"\x1f\x8b", "a gzip-compressed file"},
	{"\x89PNG\r\n\x1a\n", "a PNG image"},
	{"\xFF\xD8\xFF", "a JPEG image"},
	{"GIF87a", "a GIF image"},
	{"GIF89a", "a GIF image"},
	{"\xFD7zXZ\x00", "an xz-compressed file"},
	{"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"},
	{"Rar!\x1A\x07", "a RAR archive"},
	{"\x28\xB5\x2F\xFD", "a zstd-compressed file"},
	{"SQLite format 3\x00", "an SQLite database"},
	{"\x7FELF", "an executable program"},
	{"{\\rtf", "an RTF document"},
}

// markup are the lowercase beginnings of text files that are not delimited
// text; spreadsheet "exports" are often one of them under a .csv or .xls name.
var markup = []struct {
	prefix string
	name   string
}{
	{"<!doctype html", "an HTML page (a web export saved as .csv or .xls?)"},
	{"<html", "an HTML page (a web export saved as .csv or .xls?)"},
	{"<?xml", "an XML document (an Excel 2003 XML spreadsheet?)"},
}

// Sniff inspects the first bytes of a file (pass up to 64 KiB) and returns a
// reason when the content is clearly not delimited text: a known binary
// signature, HTML or XML markup, UTF-16 text, a NUL byte, or more than 5%
// control bytes other than tab, CR, LF and FF. It returns "" for text.
func Sniff(head []byte) string {
	if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
		return "the file is UTF-16 text and UTF-16 is not supported yet; save it as UTF-8 CSV"
	}
	for _, sig := range signatures {
		if bytes.HasPrefix(head, []byte(sig.magic)) {
			return "the file looks like " + sig.name + ", not CSV text"
		}
	}
	if len(head) >= 10 && string(head[:3]) == "BZh" && head[3] >= '1' && head[3] <= '9' && string(head[4:10]) == "1AY&SY" {
		return "the file looks like a bzip2-compressed file, not CSV text"
	}
	text := bytes.TrimLeft(bytes.TrimPrefix(head, utf8BOM), " \t\r\n")
	text = bytes.ToLower(text[:min(len(text), 16)])
	for _, m := range markup {
		if bytes.HasPrefix(text, []byte(m.prefix)) {
			return "the file looks like " + m.name + ", not CSV text"
		}
	}
	if !HasNUL(head) {
		return controlRatio(head)
	}
	if looksUTF16(head) {
		return "the file looks like UTF-16 text without a byte-order mark and UTF-16 is not supported yet; save it as UTF-8 CSV"
	}
	return "the file contains NUL bytes, so it is binary data, not CSV text"
}

// HasNUL reports whether b contains a NUL byte. Delimited text never does, so
// a streamed file can be checked buffer by buffer.
func HasNUL(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0
}

// looksUTF16 reports whether head looks like mostly-ASCII UTF-16: NUL in at
// least half of the high bytes and almost none of the low bytes.
func looksUTF16(head []byte) bool {
	head = head[:min(len(head), 1024)&^1]
	if len(head) < 4 {
		return false
	}
	var even, odd int
	for i := 0; i < len(head); i += 2 {
		if head[i] == 0 {
			even++
		}
		if head[i+1] == 0 {
			odd++
		}
	}
	pairs := len(head) / 2
	return (even*2 >= pairs && odd*10 < pairs) || (odd*2 >= pairs && even*10 < pairs)
}

func controlRatio(head []byte) string {
	n := 0
	for _, b := range head {
		if (b < 0x20 && b != '\t' && b != '\n' && b != '\r' && b != '\f') || b == 0x7F {
			n++
		}
	}
	if n*20 > len(head) {
		return fmt.Sprintf("the file has %d control characters in its first %d bytes, so it is binary data, not CSV text", n, len(head))
	}
	return ""
}
