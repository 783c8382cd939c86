package xlsx

import (
	"errors"
	"io"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

// fuzzLimits keep each fuzz input cheap while still reaching every limit.
var fuzzLimits = Limits{
	MaxEntries:       64,
	MaxUncompressed:  8 << 20,
	MaxSharedStrings: 1 << 20,
	MaxColumns:       2000,
	MaxRows:          100_000,
	MaxCellBytes:     4 << 10,
}

// checkWorkbook opens data and reads every sheet, checking that nothing
// panics, that every error is one this package documents, and that the rows
// keep their promises.
func checkWorkbook(t *testing.T, data []byte) {
	w, err := open(data, fuzzLimits)
	if err != nil {
		checkError(t, err)
		return
	}
	for _, s := range w.Sheets() {
		rr, err := w.Rows(s)
		if err != nil {
			checkError(t, err)
			continue
		}
		var last int64
		for {
			n, cells, err := rr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				checkError(t, err)
				break
			}
			require.Greater(t, n, last, "row numbers increase")
			require.LessOrEqual(t, n, fuzzLimits.MaxRows)
			last = n
			require.NotEmpty(t, cells)
			require.NotEqual(t, "", cells[len(cells)-1])
			require.LessOrEqual(t, len(cells), fuzzLimits.MaxColumns)
			for _, c := range cells {
				require.True(t, utf8.ValidString(c), "cell %q is valid UTF-8", c)
				// A number is at most 330 digits without an exponent.
				require.LessOrEqual(t, len(c), max(fuzzLimits.MaxCellBytes, 330))
			}
		}
		require.NoError(t, rr.Close())
	}
}

func checkError(t *testing.T, err error) {
	var pe *PanicError
	if errors.As(err, &pe) {
		t.Fatalf("panic: %v\n%s", pe.Value, pe.Stack)
	}
	var le *LimitError
	if errors.As(err, &le) {
		return
	}
	for _, kind := range []error{ErrMalformed, ErrNotWorkbook, ErrEncrypted, ErrLegacyXLS, ErrBinaryWorkbook} {
		if errors.Is(err, kind) {
			return
		}
	}
	t.Fatalf("undocumented error: %v", err)
}

// fuzzSeeds are small workbooks written by excelize and by hand.
func fuzzSeeds(tb testing.TB) [][]byte {
	at := time.Date(2024, 3, 15, 9, 30, 0, 0, time.UTC)
	seeds := [][]byte{
		excelizeBook(tb, func(f *excelize.File) {
			must(tb, f.SetSheetRow("Sheet1", "A1", &[]any{"00123", 1234567890123456, 1.5, true, at, "a\nb"}))
			must(tb, f.SetCellFormula("Sheet1", "B2", "A1&1"))
			must(tb, f.MergeCell("Sheet1", "C3", "D4"))
			must(tb, f.SetCellValue("Sheet1", "C3", "merged"))
			code := "dd/mm/yyyy"
			st, err := f.NewStyle(&excelize.Style{CustomNumFmt: &code})
			must(tb, err)
			must(tb, f.SetCellValue("Sheet1", "A7", at))
			must(tb, f.SetCellStyle("Sheet1", "A7", "A7", st))
		}),
		excelizeBook(tb, func(f *excelize.File) {
			sw, err := f.NewStreamWriter("Sheet1")
			must(tb, err)
			must(tb, sw.SetRow("A1", []any{"id", 7, false}))
			must(tb, sw.SetRow("B3", []any{"x", 2.25}))
			must(tb, sw.Flush())
			_, err = f.NewSheet("Hidden")
			must(tb, err)
			must(tb, f.SetSheetVisible("Hidden", false))
		}),
		book{
			sheets: oneSheet(`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" s="1"><v>45366.5</v></c><c t="inlineStr"><is><r><t>a</t></r></is></c></row><row><c t="e"><v>#N/A</v></c><c t="str"><f>x</f><v>_x0041_</v></c></row>`).sheets,
			sst:    `<si><t xml:space="preserve"> x </t></si><si><r><t>r</t></r><rPh><t>p</t></rPh></si>`,
			styles: stylesXML(map[int]string{164: "[h]:mm"}, 0, 22, 164),
			stored: true,
		}.bytes(tb),
		book{sheets: []bookSheet{{name: "S", xml: `<worksheet><sheetData><row><c r="XFD1"><v>1</v></c></row></sheetData></worksheet>`}}, date1904: true, stored: true}.bytes(tb),
	}
	return seeds
}

// FuzzRows opens arbitrary bytes as a workbook and reads all its sheets.
func FuzzRows(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add(oleFile(f, false, "EncryptionInfo"))
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkWorkbook(t, data)
	})
}

// FuzzSheetXML puts arbitrary sheet, shared-string and styles XML into a
// well-formed zip, so that the fuzzer works on the XML rather than on zip
// checksums.
func FuzzSheetXML(f *testing.F) {
	f.Add(`<worksheet><sheetData><row r="2"><c r="B2" t="s" s="1"><v>0</v></c><c t="inlineStr"><is><t>x</t></is></c></row></sheetData></worksheet>`,
		`<si><t>a_x0042_</t></si>`, stylesXML(map[int]string{164: "yyyy-mm-dd hh:mm:ss.000"}, 0, 164))
	f.Add(`<x:worksheet><x:sheetData><x:row><x:c t="b"><x:v>1</x:v></x:c><x:c t="d"><x:v>2024</x:v></x:c></x:row></x:sheetData></x:worksheet>`,
		`<si><r><t xml:space="preserve"> </t></r></si>`, ``)
	f.Add(`<worksheet><sheetData><row><c><v>1E-7</v></c><c s="1"><v>60</v></c><c><![CDATA[x]]><!--c--><?p?></c></row></sheetData></worksheet>`,
		`<si><t>&lt;&#x41;</t></si>`, stylesXML(nil, 0, 46))
	f.Fuzz(func(t *testing.T, sheet, sst, styles string) {
		b := book{sheets: []bookSheet{{name: "S", xml: sheet}}, sst: sst, styles: styles, stored: true}
		checkWorkbook(t, b.bytes(t))
	})
}
