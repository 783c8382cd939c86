package xlsx

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

// TestNotWorkbooks covers files Open must refuse before reading any sheet.
func TestNotWorkbooks(t *testing.T) {
	valid := oneSheet(`<row><c><v>1</v></c></row>`).bytes(t)
	eocd := bytes.LastIndex(valid, []byte("PK\x05\x06"))
	cdOffset := int(binary.LittleEndian.Uint32(valid[eocd+16:]))
	encrypted := encryptedBook(t)
	tests := []struct {
		name    string
		data    []byte
		is      error
		wantErr string
	}{
		{name: "empty", data: nil, is: ErrNotWorkbook,
			wantErr: "not an Excel workbook: read zip directory: zip: not a valid zip file"},
		{name: "csv", data: []byte("id,name\n1,x\n"), is: ErrNotWorkbook},
		{name: "truncated zip", data: valid[:len(valid)/2], is: ErrNotWorkbook},
		{name: "truncated central directory", data: append(append([]byte{}, valid[:cdOffset+10]...), valid[eocd:]...), is: ErrNotWorkbook},
		{name: "zip without a workbook", data: zipOf(t, entry{name: "hello.txt", body: "hi"}), is: ErrNotWorkbook,
			wantErr: "not an Excel workbook: the zip has no xl/workbook.xml"},
		{name: "empty zip", data: zipOf(t), is: ErrNotWorkbook},
		{name: "word document", data: zipOf(t, entry{name: "word/document.xml", body: "<w:document/>"}), is: ErrNotWorkbook,
			wantErr: "not an Excel workbook: the file is a Word document"},
		{name: "xlsb", data: zipOf(t,
			entry{name: "_rels/.rels", body: `<Relationships><Relationship Id="rId1" Type="` + relNS + `officeDocument" Target="xl/workbook.bin"/></Relationships>`},
			entry{name: "xl/workbook.bin", body: "\x83\x01"}), is: ErrBinaryWorkbook},
		{name: "encrypted by excelize", data: encrypted, is: ErrEncrypted,
			wantErr: "the workbook is encrypted (password-protected); save it without a password"},
		{name: "OLE2 encryption streams", data: oleFile(t, false, "EncryptionInfo", "EncryptedPackage"), is: ErrEncrypted},
		{name: "xls", data: oleFile(t, false, "Workbook", "\x05SummaryInformation"), is: ErrLegacyXLS,
			wantErr: "the file is an Excel 97-2003 workbook (.xls); save it as .xlsx"},
		{name: "xls with a cyclic directory chain", data: oleFile(t, true, "Book"), is: ErrLegacyXLS},
		{name: "other OLE2 file", data: oleFile(t, false, "WordDocument"), is: ErrNotWorkbook,
			wantErr: "not an Excel workbook: the file is an OLE2 compound document, such as an encrypted workbook or an Excel 97-2003 .xls file"},
		{name: "OLE2 signature only", data: append(append([]byte{}, oleSignature...), make([]byte, 100)...), is: ErrNotWorkbook},
		{name: "duplicate entries", data: zipOf(t, entry{name: "xl/workbook.xml", body: "<workbook/>"}, entry{name: "XL/Workbook.xml", body: "<workbook/>"}),
			is: ErrMalformed, wantErr: `the zip holds "XL/Workbook.xml" twice`},
		{name: "DOCTYPE in the workbook part", data: replaceEntry(t, valid, "xl/workbook.xml", `<?xml version="1.0"?><!DOCTYPE workbook SYSTEM "http://example.com/x.dtd"><workbook/>`),
			is: ErrMalformed, wantErr: "read xl/workbook.xml: DOCTYPE not allowed (XML byte 21)"},
		{name: "billion laughs in shared strings", data: replaceEntry(t, valid, "xl/sharedStrings.xml", `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><sst><si><t>&lol2;</t></si></sst>`),
			is: ErrMalformed, wantErr: "read xl/sharedStrings.xml: DOCTYPE not allowed (XML byte 0)"},
		{name: "undefined entity in shared strings", data: replaceEntry(t, valid, "xl/sharedStrings.xml", `<sst><si><t>a &foo; b</t></si></sst>`),
			is: ErrMalformed, wantErr: "read xl/sharedStrings.xml: shared string 0: undefined XML entity &foo; (XML byte 14)"},
		{name: "unclosed shared strings", data: replaceEntry(t, valid, "xl/sharedStrings.xml", `<sst><si><t>a</t></si>`),
			is: ErrMalformed, wantErr: "read xl/sharedStrings.xml: XML ends inside <sst> (XML byte 22)"},
		{name: "UTF-16 styles", data: replaceEntry(t, valid, "xl/styles.xml", "\xFF\xFE<\x00s\x00/\x00>\x00"),
			is: ErrMalformed, wantErr: "read xl/styles.xml: UTF-16 XML is not supported"},
		{name: "deep nesting in styles", data: replaceEntry(t, valid, "xl/styles.xml", strings.Repeat("<a>", 10000)+strings.Repeat("</a>", 10000)),
			is: ErrMalformed, wantErr: "read xl/styles.xml: XML nested more than 256 elements deep (XML byte 768)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := open(tt.data, Limits{})
			require.Nil(t, w)
			require.ErrorIs(t, err, tt.is)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
			}
		})
	}
}

// encryptedBook returns a password-protected workbook written by excelize.
func encryptedBook(tb testing.TB) []byte {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	must(tb, f.SetCellValue("Sheet1", "A1", "secret"))
	path := filepath.Join(tb.TempDir(), "encrypted.xlsx")
	must(tb, f.SaveAs(path, excelize.Options{Password: "password"}))
	data, err := os.ReadFile(path)
	require.NoError(tb, err)
	require.True(tb, bytes.HasPrefix(data, oleSignature))
	return data
}

// oleFile writes a minimal OLE2 compound file (512-byte sectors: header, FAT,
// one directory sector) whose directory lists the root and the named
// streams, at most three. With cyclic, the directory chain points back at
// itself.
func oleFile(tb testing.TB, cyclic bool, names ...string) []byte {
	tb.Helper()
	require.LessOrEqual(tb, len(names), 3)
	const free, end, fatSect = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
	le := binary.LittleEndian
	data := make([]byte, 512*3)
	hdr := data[:512]
	copy(hdr, oleSignature)
	le.PutUint16(hdr[24:], 0x3E)
	le.PutUint16(hdr[26:], 3)
	le.PutUint16(hdr[28:], 0xFFFE)
	le.PutUint16(hdr[30:], 9)
	le.PutUint16(hdr[32:], 6)
	le.PutUint32(hdr[44:], 1) // FAT sectors
	le.PutUint32(hdr[48:], 1) // first directory sector
	le.PutUint32(hdr[56:], 4096)
	le.PutUint32(hdr[60:], end)
	le.PutUint32(hdr[68:], end)
	for i := 0; i < 109; i++ {
		le.PutUint32(hdr[76+4*i:], free)
	}
	le.PutUint32(hdr[76:], 0) // the FAT is sector 0
	fat := data[512:1024]
	for i := 0; i < 128; i++ {
		le.PutUint32(fat[4*i:], free)
	}
	le.PutUint32(fat[0:], fatSect)
	le.PutUint32(fat[4:], end)
	if cyclic {
		le.PutUint32(fat[4:], 1)
	}
	dir := data[1024:]
	put := func(i int, name string, typ byte) {
		e := dir[128*i : 128*(i+1)]
		u := utf16.Encode([]rune(name))
		for j, c := range u {
			le.PutUint16(e[2*j:], c)
		}
		le.PutUint16(e[64:], uint16(2*len(u)+2))
		e[66] = typ
	}
	put(0, "Root Entry", 5)
	for i, n := range names {
		put(i+1, n, 2)
	}
	return data
}

// TestZipLimits covers zip bombs and lying zips.
func TestZipLimits(t *testing.T) {
	many := func(n int) []byte {
		b := oneSheet(`<row><c><v>1</v></c></row>`)
		for i := range n {
			b.extra = append(b.extra, entry{name: fmt.Sprintf("junk/%d", i), stored: true})
		}
		return b.bytes(t)
	}
	// A sheet of about 3 MB that deflates more than 500 times.
	spaces := oneSheet(`<row><c><v>1</v></c></row>` + strings.Repeat(" ", 3<<20) + `<row><c><v>2</v></c></row>`).bytes(t)
	big := oneSheet(strings.Repeat(`<row><c t="inlineStr"><is><t>some text to fill the sheet</t></is></c></row>`, 5000)).bytes(t)
	tests := []struct {
		name    string
		data    []byte
		limits  Limits
		openErr string
		readErr string
		what    string
	}{
		{name: "too many entries", data: many(DefaultMaxEntries), what: LimitZipEntries,
			openErr: "the zip has 10005 entries; the limit is 10000 entries"},
		{name: "entries within a lower limit", data: many(20), limits: Limits{MaxEntries: 30}},
		{name: "entries beyond a lower limit", data: many(20), limits: Limits{MaxEntries: 10}, what: LimitZipEntries,
			openErr: "the zip has 25 entries; the limit is 10 entries"},
		{name: "compression ratio", data: spaces, limits: Limits{MaxRatio: 500}, what: LimitRatio},
		{name: "ratio within the default", data: spaces},
		{name: "total uncompressed", data: big, limits: Limits{MaxUncompressed: 200_000}, what: LimitUncompressed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readSheet(t, tt.data, tt.limits, "")
			var le *LimitError
			switch {
			case tt.openErr != "":
				require.EqualError(t, err, tt.openErr)
				require.ErrorAs(t, err, &le)
				require.Equal(t, tt.what, le.What)
			case tt.what != "":
				require.ErrorAs(t, err, &le)
				require.Equal(t, tt.what, le.What)
				require.Equal(t, "Sheet1", le.Sheet)
				require.Equal(t, "xl/worksheets/sheet1.xml", le.Part)
				require.Contains(t, err.Error(), `sheet "Sheet1": row `)
			default:
				require.NoError(t, err)
				require.NotEmpty(t, got)
			}
		})
	}
}

func TestZipLimitMessages(t *testing.T) {
	require.EqualError(t, &LimitError{What: LimitRatio, Limit: 1000, Found: 1024, Part: "xl/worksheets/sheet1.xml", Sheet: "Data", Row: 7},
		`sheet "Data": row 7: xl/worksheets/sheet1.xml: the entry expands 1024 times its compressed size; the limit is 1000`)
	require.EqualError(t, &LimitError{What: LimitUncompressed, Limit: 100, Found: 131, Part: "xl/styles.xml"},
		`xl/styles.xml: 131 bytes decompressed from the workbook in total; the limit is 100 bytes`)
}

// TestDeclaredSizeTooSmall reads an entry that holds more than its declared
// size: archive/zip stops at the declared size.
func TestDeclaredSizeTooSmall(t *testing.T) {
	data := oneSheet(strings.Repeat(`<row><c><v>1</v></c></row>`, 100)).bytes(t)
	name := []byte("xl/worksheets/sheet1.xml")
	patched := false
	for i := 0; ; i += 4 {
		j := bytes.Index(data[i:], []byte("PK\x01\x02")) // a central directory header
		if j < 0 {
			break
		}
		i += j
		n := int(binary.LittleEndian.Uint16(data[i+28:]))
		if i+46+n <= len(data) && bytes.Equal(data[i+46:i+46+n], name) {
			binary.LittleEndian.PutUint32(data[i+24:], 100) // uncompressed size
			patched = true
		}
	}
	require.True(t, patched)
	_, err := readSheet(t, data, Limits{}, "")
	require.ErrorIs(t, err, ErrMalformed)
	require.EqualError(t, err, `sheet "Sheet1": read zip entry xl/worksheets/sheet1.xml: zip: not a valid zip file`)
}

// TestSheetErrors covers sheets that break the rules or the limits.
func TestSheetErrors(t *testing.T) {
	sst := `<si><t>zero</t></si><si><t>one</t></si>`
	full := sheetXML(`<row><c><v>1</v></c></row><row><c><v>2</v></c></row>`)
	truncated := full[:strings.Index(full, "<v>2")+4]
	tests := []struct {
		name    string
		rows    string // content of <sheetData>
		sheet   string // the whole sheet part, instead of rows
		limits  Limits
		want    []row // rows read before the error
		wantErr string
		what    string // LimitError.What, for limit errors
	}{
		{name: "shared string out of range", rows: `<row r="1"><c r="A1" t="s"><v>1</v></c></row><row r="2"><c r="B2" t="s"><v>99</v></c></row>`,
			want:    rows([]string{"one"}),
			wantErr: `sheet "Sheet1": row 2: cell B2: shared string 99 does not exist (the workbook has 2)`},
		{name: "negative shared string", rows: `<row><c t="s"><v>-1</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell A1: shared string -1 does not exist (the workbook has 2)`},
		{name: "huge shared string index", rows: `<row><c t="s"><v>99999999999999999999999</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell A1: shared string 99999999999999999999999 does not exist`},
		{name: "shared string index not a number", rows: `<row><c t="s"><v>1.5</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell A1: shared string index "1.5" is not a number`},
		{name: "column beyond XFD", rows: `<row r="1"><c r="XFE1"><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell reference "XFE1" is beyond XFD1048576, the last cell of a sheet`},
		{name: "row beyond 1048576 in a cell", rows: `<row r="1"><c r="A1048577"><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell reference "A1048577" is beyond XFD1048576, the last cell of a sheet`},
		{name: "row beyond 1048576", rows: `<row r="1048577"><c><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1048577 is beyond row 1048576, the last of a sheet`},
		{name: "row number with many digits", rows: `<row r="100000000000000000000000000"><c><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1048577 is beyond row 1048576, the last of a sheet`},
		{name: "malformed cell reference", rows: `<row r="1"><c r="1A"><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell reference "1A" is not valid`},
		{name: "cell reference without a row", rows: `<row r="1"><c r="A"><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell reference "A" is not valid`},
		{name: "cell reference in row 0", rows: `<row r="1"><c r="A0"><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell reference "A0" is not valid`},
		{name: "cell in another row", rows: `<row r="2"><c r="A3"><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": row 2: cell A3 is in row 2`},
		{name: "cells out of order", rows: `<row r="1"><c r="C1"><v>1</v></c><c r="B1"><v>2</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell B1 comes after cell C1`},
		{name: "duplicate cell", rows: `<row r="1"><c r="B1"><v>1</v></c><c r="B1"><v>2</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell B1 comes after cell B1`},
		{name: "rows out of order", rows: `<row r="5"><c><v>1</v></c></row><row r="3"><c><v>2</v></c></row>`,
			want: []row{{5, []string{"1"}}}, wantErr: `sheet "Sheet1": row 5: row 3 comes after row 5`},
		{name: "row number not valid", rows: `<row r="x1"><c><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": row number "x1" is not valid`},
		{name: "unknown cell type", rows: `<row><c t="z"><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell A1 has an unknown type "z"`},
		{name: "not a number", rows: `<row><c><v>12abc</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell A1: "12abc" is not a number`},
		{name: "number out of range", rows: `<row><c><v>1e400</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell A1: number "1e400" is out of range`},
		{name: "boolean not 0 or 1", rows: `<row><c t="b"><v>yes</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: cell A1: boolean "yes" is not 0 or 1`},
		{name: "undefined entity", rows: `<row><c t="str"><v>&nbsp;</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: undefined XML entity &nbsp; (XML byte {19})`},
		{name: "invalid character reference", rows: `<row><c t="str"><v>&#0;</v></c></row>`,
			wantErr: `sheet "Sheet1": row 1: invalid XML character reference &#0; (XML byte {19})`},
		{name: "invalid UTF-8", rows: "<row><c t=\"str\"><v>\xff</v></c></row>",
			wantErr: `sheet "Sheet1": row 1: invalid UTF-8 in text (XML byte {20})`},
		{name: "mismatched tags", rows: `<row><c><v>1</c></v></row>`,
			wantErr: `sheet "Sheet1": row 1: XML end tag </c> does not match <v> (XML byte {12})`},
		{name: "DOCTYPE", sheet: `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><worksheet><sheetData><row><c t="str"><v>&e;</v></c></row></sheetData></worksheet>`,
			wantErr: `sheet "Sheet1": DOCTYPE not allowed (XML byte 21)`},
		{name: "deep nesting", sheet: `<worksheet><sheetData><row><c>` + strings.Repeat("<x>", 10000) + strings.Repeat("</x>", 10000) + `</c></row></sheetData></worksheet>`,
			wantErr: `sheet "Sheet1": row 1: XML nested more than 256 elements deep (XML byte 786)`},
		{name: "truncated sheet", sheet: truncated,
			want: rows([]string{"1"}), wantErr: fmt.Sprintf(`sheet "Sheet1": row 2: XML ends inside text (XML byte %d)`, len(truncated))},
		{name: "unterminated comment", sheet: `<worksheet><sheetData><!-- ...`,
			wantErr: `sheet "Sheet1": XML ends inside a comment (XML byte 30)`},
		{name: "junk markup", sheet: `<worksheet><sheetData><!ENTITY x "y"></sheetData></worksheet>`,
			wantErr: `sheet "Sheet1": unexpected "<!ENTITY " in XML (XML byte 22)`},
		{name: "unquoted attribute", rows: `<row r=1><c><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": attribute r of <row> is not quoted (XML byte {0})`},
		{name: "attribute without a value", rows: `<row r><c><v>1</v></c></row>`,
			wantErr: `sheet "Sheet1": attribute r of <row> has no value (XML byte {0})`},
		{name: "tag larger than 1 MiB", rows: `<row r="1" x="` + strings.Repeat("a", 1<<20) + `"></row>`,
			wantErr: `sheet "Sheet1": XML tag larger than 1048576 bytes (XML byte {0})`},
		{name: "one cell at XFD1048576", rows: `<row r="1048576"><c r="XFD1048576" t="s"><v>0</v></c></row>`,
			want: []row{{1048576, append(make([]string, MaxSheetColumns-1), "zero")}}},
		{name: "one cell at XFD1048576 beyond MaxColumns", rows: `<row r="1048576"><c r="XFD1048576" t="s"><v>0</v></c></row>`,
			limits:  Limits{MaxColumns: 1000},
			wantErr: `sheet "Sheet1": row 1048576: cell XFD1048576 is in column 16384; the limit is 1000 columns`, what: LimitColumns},
		{name: "100 000 columns", rows: `<row r="3">` + strings.Repeat(`<c><v>1</v></c>`, 100_000) + `</row>`,
			wantErr: `sheet "Sheet1": row 3: cell XFE3 is in column 16385; the limit is 16384 columns`, what: LimitColumns},
		{name: "rows beyond MaxRows", rows: `<row r="1"><c><v>1</v></c></row><row r="2"><c><v>2</v></c></row><row r="1001"><c><v>3</v></c></row>`,
			limits: Limits{MaxRows: 1000}, want: rows([]string{"1"}, []string{"2"}),
			wantErr: `sheet "Sheet1": row 1001 is beyond the limit of 1000 rows`, what: LimitRows},
		{name: "cell beyond MaxCellBytes", rows: `<row r="4"><c r="C4" t="str"><v>` + strings.Repeat("x", 101) + `</v></c></row>`,
			limits:  Limits{MaxCellBytes: 100},
			wantErr: `sheet "Sheet1": row 4: cell C4 holds at least 101 bytes; the limit is 100 bytes`, what: LimitCellSize},
		{name: "row beyond MaxRowBytes", rows: `<row r="1"><c t="str"><v>ok</v></c></row><row r="2"><c t="str"><v>` + strings.Repeat("x", 60) + `</v></c><c t="str"><v>` + strings.Repeat("y", 60) + `</v></c></row>`,
			limits: Limits{MaxRowBytes: 100}, want: rows([]string{"ok"}),
			wantErr: `sheet "Sheet1": row 2: the values of the row take at least 120 bytes; the limit is 100 bytes`, what: LimitRowSize},
		{name: "shared strings count in the row size", rows: `<row>` + strings.Repeat(`<c t="s"><v>0</v></c>`, 30) + `</row>`,
			limits:  Limits{MaxRowBytes: 100},
			wantErr: `sheet "Sheet1": row 1: the values of the row take at least 104 bytes; the limit is 100 bytes`, what: LimitRowSize},
		{name: "long element name", rows: `<row><` + strings.Repeat("a", 300) + `/></row>`,
			wantErr: `sheet "Sheet1": row 1: XML element name longer than 256 bytes (XML byte {5})`},
		{name: "inline string beyond MaxCellBytes", rows: `<row r="4"><c r="C4" t="inlineStr"><is><r><t>` + strings.Repeat("x", 60) + `</t></r><r><t>` + strings.Repeat("y", 60) + `</t></r></is></c></row>`,
			limits:  Limits{MaxCellBytes: 100},
			wantErr: `sheet "Sheet1": row 4: cell C4 holds at least 101 bytes; the limit is 100 bytes`, what: LimitCellSize},
	}
	// Offsets written {n} in wantErr are n bytes into the rows.
	head := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<worksheet ` + nsMain + `><dimension ref="A1:XFD1048576"/><sheetData>`
	offset := regexp.MustCompile(`\{(\d+)\}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := book{sheets: []bookSheet{{name: "Sheet1", xml: tt.sheet}}, sst: sst}
			if tt.sheet == "" {
				b.sheets[0].xml = head + tt.rows + `</sheetData></worksheet>`
			}
			got, err := readSheet(t, b.bytes(t), tt.limits, "")
			require.Equal(t, tt.want, got)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			wantErr := offset.ReplaceAllStringFunc(tt.wantErr, func(m string) string {
				n, _ := strconv.Atoi(m[1 : len(m)-1])
				return strconv.Itoa(len(head) + n)
			})
			require.EqualError(t, err, wantErr)
			if tt.what != "" {
				var le *LimitError
				require.ErrorAs(t, err, &le)
				require.Equal(t, tt.what, le.What)
				require.Equal(t, "Sheet1", le.Sheet)
			} else {
				require.ErrorIs(t, err, ErrMalformed)
			}
		})
	}
}

// TestSharedStringLimits covers the limits on the shared string table.
func TestSharedStringLimits(t *testing.T) {
	sheet := oneSheet(`<row><c t="s"><v>0</v></c></row>`).sheets
	tests := []struct {
		name    string
		sst     string
		limits  Limits
		wantErr string
		what    string
	}{
		{name: "within the limit", sst: strings.Repeat(`<si><t>0123456789</t></si>`, 10), limits: Limits{MaxSharedStrings: 140}},
		{name: "total beyond the limit", sst: strings.Repeat(`<si><t>0123456789</t></si>`, 10), limits: Limits{MaxSharedStrings: 139},
			wantErr: "xl/sharedStrings.xml: the shared strings take at least 140 bytes; the limit is 139 bytes", what: LimitSharedStrings},
		{name: "many empty strings count their index", sst: strings.Repeat(`<si/>`, 100), limits: Limits{MaxSharedStrings: 399},
			wantErr: "xl/sharedStrings.xml: the shared strings take at least 400 bytes; the limit is 399 bytes", what: LimitSharedStrings},
		{name: "one string beyond the cell limit", sst: `<si><t>` + strings.Repeat("x", 2000) + `</t></si>`, limits: Limits{MaxCellBytes: 1000},
			wantErr: "xl/sharedStrings.xml: a shared string holds at least 1001 bytes; the limit is 1000 bytes", what: LimitCellSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readSheet(t, book{sheets: sheet, sst: tt.sst}.bytes(t), tt.limits, "")
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
			var le *LimitError
			require.ErrorAs(t, err, &le)
			require.Equal(t, tt.what, le.What)
		})
	}
}

// TestSharedStringChunks reads a table larger than one chunk, with strings
// that cross where a chunk would end.
func TestSharedStringChunks(t *testing.T) {
	var sst, cells strings.Builder
	var want []string
	for i := range 3000 {
		s := strings.Repeat(string(rune('a'+i%26)), 1+(i*7919)%5000)
		if i%10 == 0 {
			s = ""
		}
		fmt.Fprintf(&sst, "<si><t>%s</t></si>", s)
		fmt.Fprintf(&cells, `<c t="s"><v>%d</v></c>`, i)
		want = append(want, s)
	}
	for len(want) > 0 && want[len(want)-1] == "" {
		want = want[:len(want)-1]
	}
	got := mustRead(t, book{sheets: oneSheet(`<row>` + cells.String() + `</row>`).sheets, sst: sst.String()}.bytes(t))
	require.Equal(t, rows(want), got)
}

// TestHugeTextNode reads a 100 MB text node, stored without compression so
// that only the cell-size limit can stop it, in a sheet and in the shared
// strings.
func TestHugeTextNode(t *testing.T) {
	const size = 100 << 20
	write := func(part, head, tail string, b book) string {
		path := filepath.Join(t.TempDir(), "huge.xlsx")
		fh, err := os.Create(path)
		require.NoError(t, err)
		defer fh.Close()
		zw := zip.NewWriter(fh)
		zr, err := zip.NewReader(bytes.NewReader(b.bytes(t)), int64(len(b.bytes(t))))
		require.NoError(t, err)
		for _, f := range zr.File {
			if f.Name == part {
				continue
			}
			require.NoError(t, zw.Copy(f))
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: part, Method: zip.Store})
		require.NoError(t, err)
		_, err = io.WriteString(w, head)
		require.NoError(t, err)
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		for n := 0; n < size; n += len(chunk) {
			_, err = w.Write(chunk)
			require.NoError(t, err)
		}
		_, err = io.WriteString(w, tail)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		return path
	}
	openFile := func(path string) (*Workbook, error) {
		fh, err := os.Open(path)
		require.NoError(t, err)
		t.Cleanup(func() { fh.Close() })
		st, err := fh.Stat()
		require.NoError(t, err)
		return Open(fh, st.Size(), Limits{})
	}

	path := write("xl/worksheets/sheet1.xml", `<worksheet><sheetData><row r="2"><c r="B2" t="str"><v>`, `</v></c></row></sheetData></worksheet>`, oneSheet(``))
	w, err := openFile(path)
	require.NoError(t, err)
	_, err = readRows(t, w, w.Sheets()[0])
	require.EqualError(t, err, `sheet "Sheet1": row 2: cell B2 holds at least 1048577 bytes; the limit is 1048576 bytes`)

	path = write("xl/sharedStrings.xml", `<sst><si><t>`, `</t></si></sst>`, book{sheets: oneSheet(`<row><c t="s"><v>0</v></c></row>`).sheets, sst: `<si/>`})
	_, err = openFile(path)
	require.EqualError(t, err, `xl/sharedStrings.xml: a shared string holds at least 1048577 bytes; the limit is 1048576 bytes`)
}

// TestMissingSharedStrings reads a shared-string cell from a workbook without
// a shared string table.
func TestMissingSharedStrings(t *testing.T) {
	_, err := readSheet(t, oneSheet(`<row><c t="s"><v>0</v></c></row>`).bytes(t), Limits{}, "")
	require.EqualError(t, err, `sheet "Sheet1": row 1: cell A1: shared string 0 does not exist (the workbook has 0)`)
}

// TestManyStyles opens a styles part with more cell formats than allowed.
func TestManyStyles(t *testing.T) {
	b := oneSheet(`<row><c><v>1</v></c></row>`)
	b.styles = `<styleSheet><cellXfs>` + strings.Repeat(`<xf/>`, maxCellFormats+1) + `</cellXfs></styleSheet>`
	_, err := open(b.bytes(t), Limits{})
	require.EqualError(t, err, "read xl/styles.xml: more than 1048576 cell formats")
	require.ErrorIs(t, err, ErrMalformed)
}

// TestPanicBoundary checks that a panic inside Next becomes an error.
func TestPanicBoundary(t *testing.T) {
	r := &RowReader{w: &Workbook{}} // no scanner: Next dereferences nil
	_, _, err := r.Next()
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, ErrMalformed)
	require.Contains(t, err.Error(), "malformed workbook: runtime error: invalid memory address")
	_, _, again := r.Next()
	require.Equal(t, err, again)
}

func TestClose(t *testing.T) {
	w, err := open(oneSheet(`<row><c><v>1</v></c></row><row><c><v>2</v></c></row>`).bytes(t), Limits{})
	require.NoError(t, err)
	rr, err := w.Rows(w.Sheets()[0])
	require.NoError(t, err)
	n, cells, err := rr.Next()
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	require.Equal(t, []string{"1"}, cells)
	require.NoError(t, rr.Close())
	require.NoError(t, rr.Close())
	_, _, err = rr.Next()
	require.EqualError(t, err, "the row reader is closed")
}

// TestScannerSmallReads parses XML delivered one byte at a time: the result
// is the same, and a large tag does not take quadratic time.
func TestScannerSmallReads(t *testing.T) {
	doc := `<?xml version="1.0"?><a x="1" y='&amp;'><!-- c --><b>t&lt;<![CDATA[ d ]]>` + "\r\n" + `</b><c big="` + strings.Repeat("v", 300_000) + `"/></a>`
	s := newXMLScanner(iotest.OneByteReader(strings.NewReader(doc)))
	var got []string
	for {
		tok, err := s.next()
		require.NoError(t, err)
		if tok == tokEOF {
			break
		}
		switch tok {
		case tokStart:
			got = append(got, "<"+string(s.name)+fmt.Sprint(len(s.attrs)))
			if string(s.name) == "b" {
				text, err := s.text(nil, 100)
				require.NoError(t, err)
				got = append(got, string(text))
			}
		case tokEnd:
			got = append(got, "/"+string(s.name))
		}
	}
	require.Equal(t, []string{"<a2", "<b0", "t< d \n", "/b", "<c1", "/c", "/a"}, got)
}

// TestCloseAfterCorruptData reads a sheet whose deflate stream is corrupt: Next
// reports ErrMalformed, and Close, which only releases the part, reports
// nothing (the decompressor keeps its error and would return it from Close).
// The large sheet is read ahead on a goroutine of its own.
func TestCloseAfterCorruptData(t *testing.T) {
	for _, size := range []int{0, readAheadMin} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := oneSheet(`<row><c><v>1</v></c></row>` + strings.Repeat(" ", size)).bytes(t)
			zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err)
			var sheet *zip.File
			for _, f := range zr.File {
				if f.Name == "xl/worksheets/sheet1.xml" {
					sheet = f
				}
			}
			off, err := sheet.DataOffset()
			require.NoError(t, err)
			// 0xFF opens a final block of the reserved type 3.
			for i := off; i < off+int64(sheet.CompressedSize64); i++ {
				data[i] = 0xFF
			}
			w, err := open(data, Limits{})
			require.NoError(t, err)
			rr, err := w.Rows(w.Sheets()[0])
			require.NoError(t, err)
			_, _, err = rr.Next()
			require.ErrorIs(t, err, ErrMalformed)
			require.Contains(t, err.Error(), "flate: corrupt input")
			require.NoError(t, rr.Close())
		})
	}
}
