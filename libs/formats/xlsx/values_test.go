package xlsx

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

// TestValuesExcelize reads workbooks written by excelize, as a tool other than
// this package would write them.
func TestValuesExcelize(t *testing.T) {
	at := time.Date(2024, 3, 15, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name  string
		build func(tb testing.TB, f *excelize.File)
		want  []row
	}{
		{name: "text keeps leading zeros", build: func(tb testing.TB, f *excelize.File) {
			must(tb, f.SetCellStr("Sheet1", "A1", "00123"))
			st, err := f.NewStyle(&excelize.Style{NumFmt: 49}) // "@", text
			must(tb, err)
			must(tb, f.SetCellStr("Sheet1", "B1", "007"))
			must(tb, f.SetCellStyle("Sheet1", "B1", "B1", st))
		}, want: rows([]string{"00123", "007"})},
		// excelize, like Excel, stores 15 significant digits: 0.1+0.2 is
		// stored as 0.3 (TestValuesRaw reads a stored 0.30000000000000004).
		{name: "numbers", build: func(tb testing.TB, f *excelize.File) {
			must(tb, f.SetSheetRow("Sheet1", "A1", &[]any{1234567890123456, 1.5, -42.75, 1e-7, 0.1 + 0.2, 1e21, 0, int64(-7)}))
		}, want: rows([]string{"1234567890123456", "1.5", "-42.75", "0.0000001", "0.3", "1000000000000000000000", "0", "-7"})},
		{name: "number format 0.00 is not a date", build: func(tb testing.TB, f *excelize.File) {
			two := "0.00"
			st, err := f.NewStyle(&excelize.Style{CustomNumFmt: &two})
			must(tb, err)
			must(tb, f.SetCellValue("Sheet1", "A1", 45366.5))
			must(tb, f.SetCellStyle("Sheet1", "A1", "A1", st))
			pct, err := f.NewStyle(&excelize.Style{NumFmt: 10}) // 0.00%
			must(tb, err)
			must(tb, f.SetCellValue("Sheet1", "B1", 0.125))
			must(tb, f.SetCellStyle("Sheet1", "B1", "B1", pct))
		}, want: rows([]string{"45366.5", "0.125"})},
		{name: "booleans", build: func(tb testing.TB, f *excelize.File) {
			must(tb, f.SetSheetRow("Sheet1", "A1", &[]any{true, false}))
		}, want: rows([]string{"TRUE", "FALSE"})},
		{name: "formula without a cached value", build: func(tb testing.TB, f *excelize.File) {
			must(tb, f.SetCellValue("Sheet1", "A1", 2))
			must(tb, f.SetCellFormula("Sheet1", "B1", "A1*2"))
			must(tb, f.SetCellValue("Sheet1", "C1", "after"))
		}, want: rows([]string{"2", "", "after"})},
		{name: "date time (default style 22)", build: func(tb testing.TB, f *excelize.File) {
			must(tb, f.SetCellValue("Sheet1", "A1", at))
		}, want: rows([]string{"2024-03-15T09:30:00"})},
		{name: "date (built-in 14)", build: func(tb testing.TB, f *excelize.File) {
			st, err := f.NewStyle(&excelize.Style{NumFmt: 14})
			must(tb, err)
			must(tb, f.SetCellValue("Sheet1", "A1", at))
			must(tb, f.SetCellStyle("Sheet1", "A1", "A1", st))
		}, want: rows([]string{"2024-03-15"})},
		{name: "time (built-in 21)", build: func(tb testing.TB, f *excelize.File) {
			st, err := f.NewStyle(&excelize.Style{NumFmt: 21})
			must(tb, err)
			must(tb, f.SetCellValue("Sheet1", "A1", at))
			must(tb, f.SetCellStyle("Sheet1", "A1", "A1", st))
		}, want: rows([]string{"09:30:00"})},
		{name: "custom dd/mm/yyyy and yyyy-mm-dd hh:mm", build: func(tb testing.TB, f *excelize.File) {
			for i, code := range []string{"dd/mm/yyyy", "yyyy-mm-dd hh:mm", "[$-409]mmmm d, yyyy;@", "h:mm AM/PM"} {
				st, err := f.NewStyle(&excelize.Style{CustomNumFmt: &code})
				must(tb, err)
				cell, _ := excelize.CoordinatesToCellName(i+1, 1)
				must(tb, f.SetCellValue("Sheet1", cell, at))
				must(tb, f.SetCellStyle("Sheet1", cell, cell, st))
			}
		}, want: rows([]string{"2024-03-15", "2024-03-15T09:30:00", "2024-03-15", "09:30:00"})},
		{name: "elapsed time is a duration", build: func(tb testing.TB, f *excelize.File) {
			st, err := f.NewStyle(&excelize.Style{NumFmt: 46}) // [h]:mm:ss
			must(tb, err)
			must(tb, f.SetCellValue("Sheet1", "A1", 1.5208333333333333))
			must(tb, f.SetCellStyle("Sheet1", "A1", "A1", st))
		}, want: rows([]string{"36:30:00"})},
		{name: "1904 date system", build: func(tb testing.TB, f *excelize.File) {
			yes := true
			must(tb, f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}))
			must(tb, f.SetCellValue("Sheet1", "A1", at))
			st, err := f.NewStyle(&excelize.Style{NumFmt: 14})
			must(tb, err)
			must(tb, f.SetCellValue("Sheet1", "B1", 0))
			must(tb, f.SetCellStyle("Sheet1", "B1", "B1", st))
		}, want: rows([]string{"2024-03-15T09:30:00", "1904-01-01"})},
		{name: "merged cells keep the value top-left", build: func(tb testing.TB, f *excelize.File) {
			must(tb, f.SetCellValue("Sheet1", "A1", "merged"))
			must(tb, f.MergeCell("Sheet1", "A1", "B2"))
			must(tb, f.SetCellValue("Sheet1", "C1", "c1"))
			must(tb, f.SetCellValue("Sheet1", "C2", "c2"))
		}, want: []row{{1, []string{"merged", "", "c1"}}, {2, []string{"", "", "c2"}}}},
		{name: "sparse rows and gaps", build: func(tb testing.TB, f *excelize.File) {
			must(tb, f.SetCellValue("Sheet1", "A1", "one"))
			must(tb, f.SetCellValue("Sheet1", "D1", "four"))
			must(tb, f.SetCellValue("Sheet1", "B7", "seven"))
		}, want: []row{{1, []string{"one", "", "", "four"}}, {7, []string{"", "seven"}}}},
		{name: "special characters and whitespace", build: func(tb testing.TB, f *excelize.File) {
			must(tb, f.SetSheetRow("Sheet1", "A1", &[]any{"R&D <x> \"q\" 'a'", "a\nb", "  padded  ", "日本語 😀", "=not a formula"}))
		}, want: rows([]string{"R&D <x> \"q\" 'a'", "a\nb", "  padded  ", "日本語 😀", "=not a formula"})},
		{name: "rich text runs", build: func(tb testing.TB, f *excelize.File) {
			must(tb, f.SetCellRichText("Sheet1", "A1", []excelize.RichTextRun{
				{Text: "bold ", Font: &excelize.Font{Bold: true}}, {Text: "plain"},
			}))
		}, want: rows([]string{"bold plain"})},
		{name: "stream writer inline strings", build: func(tb testing.TB, f *excelize.File) {
			sw, err := f.NewStreamWriter("Sheet1")
			must(tb, err)
			must(tb, sw.SetRow("A1", []any{"id", "n"}))
			must(tb, sw.SetRow("A2", []any{"0042", 3.25}))
			must(tb, sw.SetRow("A5", []any{nil, "late"}))
			must(tb, sw.Flush())
		}, want: []row{{1, []string{"id", "n"}}, {2, []string{"0042", "3.25"}}, {5, []string{"", "late"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := excelizeBook(t, func(f *excelize.File) { tt.build(t, f) })
			require.Equal(t, tt.want, mustRead(t, data))
		})
	}
}

func TestHiddenSheetAndSelection(t *testing.T) {
	data := excelizeBook(t, func(f *excelize.File) {
		must(t, f.SetCellValue("Sheet1", "A1", "first"))
		_, err := f.NewSheet("Secret")
		must(t, err)
		must(t, f.SetCellValue("Secret", "A1", "hidden value"))
		_, err = f.NewSheet("Third & Last")
		must(t, err)
		must(t, f.SetCellValue("Third & Last", "B2", "third"))
		must(t, f.SetSheetVisible("Secret", false))
	})
	w, err := open(data, Limits{})
	require.NoError(t, err)
	require.Equal(t, []Sheet{
		{Name: "Sheet1", Index: 1},
		{Name: "Secret", Index: 2, Hidden: true},
		{Name: "Third & Last", Index: 3},
	}, w.Sheets())
	require.False(t, w.Date1904())

	tests := []struct {
		name    string
		sheet   Sheet
		want    []row
		wantErr error
	}{
		{name: "by index and name", sheet: w.Sheets()[0], want: rows([]string{"first"})},
		{name: "hidden sheet", sheet: w.Sheets()[1], want: rows([]string{"hidden value"})},
		{name: "by name", sheet: Sheet{Name: "Third & Last"}, want: []row{{2, []string{"", "third"}}}},
		{name: "by name ignoring case", sheet: Sheet{Name: "secret"}, want: rows([]string{"hidden value"})},
		{name: "index with another name", sheet: Sheet{Name: "Secret", Index: 1}, want: rows([]string{"hidden value"})},
		{name: "index alone", sheet: Sheet{Index: 2}, want: rows([]string{"hidden value"})},
		{name: "missing", sheet: Sheet{Name: "Nope", Index: 9}, wantErr: ErrNoSheet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readRows(t, w, tt.sheet)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.EqualError(t, err, `sheet "Nope": no such sheet`)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestConcurrentSheets reads two sheets of one workbook at once.
func TestConcurrentSheets(t *testing.T) {
	data := excelizeBook(t, func(f *excelize.File) {
		_, err := f.NewSheet("Two")
		must(t, err)
		for i := 1; i <= 500; i++ {
			must(t, f.SetCellValue("Sheet1", "A"+itoa(i), i))
			must(t, f.SetCellValue("Two", "B"+itoa(i), -i))
		}
	})
	w, err := open(data, Limits{})
	require.NoError(t, err)
	done := make(chan []row, 2)
	for _, s := range w.Sheets() {
		go func() {
			got, err := readRows(t, w, s)
			require.NoError(t, err)
			done <- got
		}()
	}
	for range 2 {
		require.Len(t, <-done, 500)
	}
}

func itoa(i int) string { return string(appendNumber(nil, float64(i))) }

// TestValuesRaw reads hand-written parts, for what excelize cannot write.
func TestValuesRaw(t *testing.T) {
	dates := stylesXML(map[int]string{
		164: "dd/mm/yyyy",
		165: "yyyy-mm-dd hh:mm:ss.000",
		166: `0.0" days"`,
		167: "[mm]:ss",
		168: `[Red]#,##0.00;[Blue]\-#,##0.00`,
		169: "hh:mm:ss.00",
	}, 0, 14, 22, 21, 164, 165, 166, 46, 167, 168, 169, 49, 2)
	// Style indexes in dates: 1 date, 2 date time, 3 time, 4 dd/mm/yyyy,
	// 5 datetime with ms, 6 number with quoted text, 7 [h]:mm:ss, 8 [mm]:ss,
	// 9 colours, 10 time with fraction, 11 text "@", 12 "0.00".
	tests := []struct {
		name    string
		book    book
		want    []row
		wantErr string
	}{
		{name: "shared strings", book: book{
			sheets: oneSheet(`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row>`).sheets,
			sst:    `<si><t>00123</t></si><si><r><rPr><b/></rPr><t xml:space="preserve">rich </t></r><r><t>text</t></r></si><si><t>漢字</t><rPh sb="0" eb="2"><t>かんじ</t></rPh><phoneticPr fontId="1"/></si>`,
		}, want: rows([]string{"00123", "rich text", "漢字"})},
		{name: "xml:space", book: book{
			sheets: oneSheet(`<row><c t="s"><v>0</v></c><c t="s"><v>1</v></c><c t="s"><v>2</v></c><c t="s"><v>3</v></c><c t="s"><v>4</v></c></row>`).sheets,
			sst:    "<si><t>  trimmed\n</t></si><si><t xml:space=\"preserve\">  kept  </t></si><si><t> </t></si><si xml:space=\"preserve\"><t> inherited </t></si><si>\n  <r><t>a</t></r>\n  <r><t xml:space=\"preserve\"> b</t></r>\n</si>",
		}, want: rows([]string{"trimmed", "  kept  ", " ", " inherited ", "a b"})},
		{name: "escapes and entities", book: book{
			sheets: oneSheet(`<row><c t="s"><v>0</v></c><c t="s"><v>1</v></c><c t="s"><v>2</v></c><c t="s"><v>3</v></c><c t="s"><v>4</v></c><c t="s"><v>5</v></c></row>`).sheets,
			sst:    `<si><t>a_x000D__x000A_b</t></si><si><t>_x005F_x0041_</t></si><si><t>_xD83D__xDE00_ _xD800_ _x41_</t></si><si><t>&lt;&amp;&gt;&quot;&apos;&#65;&#x42;</t></si><si><t><![CDATA[<raw> & ]]>tail<!-- comment --></t></si><si><t>line1` + "\r\n" + `line2</t></si>`,
		}, want: rows([]string{"a\r\nb", "_x0041_", "😀 \uFFFD _x41_", `<&>"'AB`, "<raw> & tail", "line1\nline2"})},
		{name: "inline strings", book: oneSheet(`<row r="1"><c r="A1" t="inlineStr"><is><t>00042</t></is></c><c r="B1" t="inlineStr"><is><r><t>in</t></r><r><t>line</t></r></is></c><c r="C1" t="inlineStr"><v>v only</v></c></row>`),
			want: rows([]string{"00042", "inline", "v only"})},
		{name: "errors, booleans and t=d", book: oneSheet(`<row><c t="e"><v>#N/A</v></c><c t="e"><v>#DIV/0!</v></c><c t="b"><v>1</v></c><c t="b"><v>0</v></c><c t="d"><v>2024-03-15T09:30:00Z</v></c></row>`),
			want: rows([]string{"#N/A", "#DIV/0!", "TRUE", "FALSE", "2024-03-15T09:30:00Z"})},
		{name: "formulas with cached values", book: book{
			sheets: oneSheet(`<row><c t="str"><f>A2&amp;"x"</f><v>00123x</v></c><c t="b"><f>TRUE()</f><v>1</v></c><c t="e"><f>NA()</f><v>#N/A</v></c><c><f>1/3</f><v>0.33333333333333331</v></c><c s="1"><f>DATE(2024,3,15)</f><v>45366</v></c><c><f>NOW()</f></c><c t="str"><f>""</f><v></v></c><c t="inlineStr"><v>x</v></c></row>`).sheets,
			styles: dates,
		}, want: rows([]string{"00123x", "TRUE", "#N/A", "0.3333333333333333", "2024-03-15", "", "", "x"})},
		{name: "number text", book: oneSheet(`<row><c><v>1E-7</v></c><c><v>-0</v></c><c><v>1234567890123456</v></c><c><v> 12 </v></c><c><v>+5</v></c><c><v>007</v></c><c><v>1.50</v></c><c><v>12345678901234567890</v></c><c><v>-1.5e3</v></c><c><v>0.30000000000000004</v></c><c><v></v></c><c/></row>`),
			want: rows([]string{"0.0000001", "0", "1234567890123456", "12", "5", "7", "1.5", "12345678901234567000", "-1500", "0.30000000000000004"})},
		{name: "dates in the 1900 system", book: book{
			sheets: oneSheet(`<row>` +
				`<c s="2"><v>45366.395833333336</v></c>` + // A 09:30 exactly
				`<c s="1"><v>60</v></c><c s="1"><v>59</v></c><c s="1"><v>61</v></c><c s="1"><v>1</v></c><c s="1"><v>0</v></c>` + // B-F
				`<c s="3"><v>0.5</v></c><c s="3"><v>45366.99999999</v></c>` + // G-H
				`<c s="4"><v>45366</v></c><c s="5"><v>45366.395833333336</v></c><c s="5"><v>0.00001</v></c>` + // I-K
				`<c s="6"><v>2.5</v></c><c s="7"><v>1.5208333333333333</v></c><c s="7"><v>-0.25</v></c><c s="8"><v>0.0625</v></c>` + // L-O
				`<c s="9"><v>45366</v></c><c s="10"><v>0.5000005</v></c><c s="11"><v>45366</v></c><c s="12"><v>45366</v></c>` + // P-S
				`<c s="1"><v>-1</v></c><c s="1"><v>2958465.5</v></c><c s="1"><v>2958466</v></c><c s="99"><v>45366</v></c>` + // T-W
				`</row>`).sheets,
			styles: dates,
		}, want: rows([]string{
			"2024-03-15T09:30:00",
			"1900-02-29", "1900-02-28", "1900-03-01", "1900-01-01", "1899-12-31",
			"12:00:00", "00:00:00",
			"2024-03-15", "2024-03-15T09:30:00.000", "1899-12-31T00:00:00.864",
			"2.5", "36:30:00", "-6:00:00", "1:30:00",
			"45366", "12:00:00.043", "45366", "45366",
			"-1", "9999-12-31", "2958466", "45366",
		})},
		{name: "dates in the 1904 system", book: book{
			sheets:   oneSheet(`<row><c s="1"><v>0</v></c><c s="2"><v>43904.395833333336</v></c><c s="1"><v>60</v></c><c s="3"><v>1.75</v></c></row>`).sheets,
			styles:   dates,
			date1904: true,
		}, want: rows([]string{"1904-01-01", "2024-03-15T09:30:00", "1904-03-01", "18:00:00"})},
		{name: "rows and cells without r", book: oneSheet(`<row><c><v>1</v></c><c><v>2</v></c></row><row r="3"><c r="B3"><v>3</v></c><c><v>4</v></c></row><row><c r="D4"><v>5</v></c></row>`),
			want: []row{{1, []string{"1", "2"}}, {3, []string{"", "3", "4"}}, {4, []string{"", "", "", "5"}}}},
		{name: "empty rows and trailing empty cells", book: book{
			sheets: oneSheet(`<row r="1" spans="1:3" ht="20" customHeight="1"><c r="A1" s="0"/><c r="B1" t="s"><v>1</v></c></row><row r="2" hidden="1"><c r="A2"><v>7</v></c><c r="B2" t="s"><v>1</v></c><c r="C2" t="inlineStr"><is><t></t></is></c><c r="D2"/></row>`).sheets,
			sst:    `<si><t>x</t></si><si><t/></si>`,
		}, want: []row{{2, []string{"7"}}}},
		{name: "namespace prefixes, comments and processing instructions", book: book{sheets: []bookSheet{{name: "Sheet1", xml: `<?xml version="1.0"?><!-- c --><x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetPr/><x:sheetData><?pi x?><x:row r="2"><!-- c --><x:c r="A2" t="inlineStr"><x:is><x:t>pref</x:t></x:is></x:c><x:c r="B2"><x:v>2</x:v></x:c></x:row></x:sheetData><x:mergeCells count="1"><x:mergeCell ref="A2:B2"/></x:mergeCells></x:worksheet>`}}},
			want: []row{{2, []string{"pref", "2"}}}},
		{name: "no sheetData", book: book{sheets: []bookSheet{{name: "Sheet1", xml: `<worksheet ` + nsMain + `/>`}}}},
		{name: "content after sheetData is not read", book: book{sheets: []bookSheet{{name: "Sheet1", xml: `<worksheet><sheetData><row><c><v>1</v></c></row></sheetData><junk>&undefined;</junk></worksheet>`}}},
			want: rows([]string{"1"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readSheet(t, tt.book.bytes(t), Limits{}, "")
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestStructure covers workbooks laid out in less common ways.
func TestStructure(t *testing.T) {
	sheet := sheetXML(`<row><c t="inlineStr"><is><t>ok</t></is></c></row>`)
	wb := `<workbook ` + nsMain + `><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>`
	tests := []struct {
		name    string
		entries []entry
		want    []row
		wantErr string
	}{
		{name: "no content types, no package rels", entries: []entry{
			{name: "xl/workbook.xml", body: wb},
			{name: "xl/_rels/workbook.xml.rels", body: `<Relationships><Relationship Id="rId1" Type="` + relNS + `worksheet" Target="/xl/worksheets/sheet1.xml"/></Relationships>`},
			{name: "xl/worksheets/sheet1.xml", body: sheet},
		}, want: rows([]string{"ok"})},
		{name: "workbook elsewhere, strict namespace, odd case", entries: []entry{
			{name: "_rels/.rels", body: `<Relationships><Relationship Id="a" Type="http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument" Target="/book/Main.xml"/></Relationships>`},
			{name: "book/Main.xml", body: `<workbook xmlns:r="x"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>`},
			{name: "book/_rels/Main.xml.rels", body: `<Relationships><Relationship Id="rId1" Type="http://purl.oclc.org/ooxml/officeDocument/relationships/worksheet" Target="../Sheets/ONE.xml"/></Relationships>`},
			{name: "sheets/one.xml", body: sheet},
		}, want: rows([]string{"ok"})},
		{name: "main part from content types", entries: []entry{
			{name: "[Content_Types].xml", body: `<Types><Override PartName="/wb.xml" ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/></Types>`},
			{name: "wb.xml", body: wb},
			{name: "_rels/wb.xml.rels", body: `<Relationships><Relationship Id="rId1" Type="` + relNS + `worksheet" Target="s.xml"/></Relationships>`},
			{name: "s.xml", body: sheet},
		}, want: rows([]string{"ok"})},
		{name: "sheet relationship missing", entries: []entry{
			{name: "xl/workbook.xml", body: wb},
		}, wantErr: `sheet "S" cannot be read: its relationship "rId1" does not exist`},
		{name: "sheet part missing", entries: []entry{
			{name: "xl/workbook.xml", body: wb},
			{name: "xl/_rels/workbook.xml.rels", body: `<Relationships><Relationship Id="rId1" Type="` + relNS + `worksheet" Target="worksheets/gone.xml"/></Relationships>`},
		}, wantErr: `sheet "S" cannot be read: its part xl/worksheets/gone.xml is missing`},
		{name: "external sheet", entries: []entry{
			{name: "xl/workbook.xml", body: wb},
			{name: "xl/_rels/workbook.xml.rels", body: `<Relationships><Relationship Id="rId1" Type="` + relNS + `worksheet" Target="http://example.com/x.xml" TargetMode="External"/></Relationships>`},
		}, wantErr: `sheet "S" cannot be read: its part is outside the workbook`},
		{name: "shared strings without a relationship", entries: []entry{
			{name: "xl/workbook.xml", body: wb},
			{name: "xl/_rels/workbook.xml.rels", body: `<Relationships><Relationship Id="rId1" Type="` + relNS + `worksheet" Target="worksheets/sheet1.xml"/></Relationships>`},
			{name: "xl/worksheets/sheet1.xml", body: sheetXML(`<row><c t="s"><v>0</v></c></row>`)},
			{name: "xl/sharedStrings.xml", body: `<sst><si><t>from the default path</t></si></sst>`},
		}, want: rows([]string{"from the default path"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := open(zipOf(t, tt.entries...), Limits{})
			require.NoError(t, err)
			require.Equal(t, []Sheet{{Name: "S", Index: 1}}, w.Sheets())
			got, err := readRows(t, w, w.Sheets()[0])
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				require.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
