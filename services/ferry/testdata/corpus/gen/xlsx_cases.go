package main

import (
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

const sheet1 = "xl/worksheets/sheet1.xml"

func xlsxCases() []inputCase {
	return []inputCase{
		{dir: "51-xlsx-basic", file: "input.xlsx", gen: xlsxBasic},
		{dir: "52-xlsx-text-leading-zeros", file: "input.xlsx", gen: xlsxLeadingZeros},
		{dir: "53-xlsx-numbers", file: "input.xlsx", gen: xlsxNumbers},
		{dir: "54-xlsx-long-ids-text-cells", file: "input.xlsx", gen: xlsxLongIDs},
		{dir: "55-xlsx-formulas-cached-values", file: "input.xlsx", gen: xlsxFormulas},
		{dir: "56-xlsx-merged-cells", file: "input.xlsx", gen: xlsxMerged},
		{dir: "57-xlsx-hidden-sheet-by-name", file: "input.xlsx", gen: xlsxHiddenByName},
		{dir: "58-xlsx-sheet-index-hidden-counted", file: "input.xlsx", gen: xlsxSheetIndex},
		{dir: "59-xlsx-date1904", file: "input.xlsx", gen: xlsxDate1904},
		{dir: "60-xlsx-dates-datetimes-times", file: "input.xlsx", gen: xlsxDates},
		{dir: "61-xlsx-sparse-rows", file: "input.xlsx", gen: xlsxSparse},
		{dir: "62-xlsx-cell-at-xfd1048576", file: "input.xlsx", gen: xlsxLastCell},
		{dir: "63-xlsx-booleans-and-errors", file: "input.xlsx", gen: xlsxBoolErr},
		{dir: "64-xlsx-title-rows-header-row-3", file: "input.xlsx", gen: xlsxTitleRows},
		{dir: "65-xlsx-no-header-inline-strings", file: "input.xlsx", gen: xlsxNoHeaderInline},
		{dir: "66-xlsx-rich-text-line-breaks", file: "input.xlsx", gen: xlsxRichText},
		{dir: "67-xlsx-styled-empty-rows", file: "input.xlsx", gen: xlsxStyledEmptyRows},
	}
}

func xlsxBasic() ([]byte, error) {
	b := newBook("Students")
	b.rows("Students", 1,
		[]any{"Student ID", "First Name", "Last Name", "Grade", "Email"},
		[]any{"000123", "Zoë", "O'Brien, Jr.", 10, "zoe@example.org"},
		[]any{"000124", "José", "Müller", 10, nil},
		[]any{"000125", "Ann", `Say "Hi"`, 11, "ann@example.org"},
	)
	return b.bytes(nil)
}

// Text cells formatted as Text (@) keep their zeros; a number cell shown as
// 02134 by the format 00000 is the number 2134.
func xlsxLeadingZeros() ([]byte, error) {
	b := newBook("Sheet1")
	text := b.style(49, "")
	zip5 := b.style(0, "00000")
	b.rows("Sheet1", 1, []any{"ID", "ZIP", "ZIP as number", "Locker"})
	for i, r := range [][]any{{"000123", "02134", 2134, "007"}, {"000124", "07030", 7030, "010"}} {
		row := strconv.Itoa(i + 2)
		b.styled("Sheet1", "A"+row, text, r[0])
		b.styled("Sheet1", "B"+row, text, r[1])
		b.styled("Sheet1", "C"+row, zip5, r[2])
		b.styled("Sheet1", "D"+row, text, r[3])
	}
	return b.bytes(nil)
}

// Numbers as Excel and other writers store them: exponents, 17 significant
// digits, a trailing ".0".
func xlsxNumbers() ([]byte, error) {
	b := newBook("Sheet1")
	currency := b.style(0, `#,##0.00\ "€"`)
	percent := b.style(10, "")
	twoDec := b.style(2, "")
	b.rows("Sheet1", 1, []any{"ID", "Value", "Kind"})
	values := []struct {
		v, kind string
		style   int
	}{
		{"42", "integer", 0},
		{"42.0", "integer written with .0", 0},
		{"-0.5", "negative", 0},
		{"3.14159", "decimal", 0},
		{"0.30000000000000004", "0.1+0.2 as stored", 0},
		{"1E-7", "small, exponent", 0},
		{"1.2E+21", "large, exponent", 0},
		{"4111111111111111", "16 digits", 0},
		{"1.2345678901234567E+19", "20 digits, 17 significant", 0},
		{"1234.5", "currency format", currency},
		{"7.4999999999999997E-2", "percent format, 0.075 with 17 digits", percent},
		{"0", "zero", 0},
		{"-1234567.89", "negative decimal", 0},
		{"100", "format 0.00", twoDec},
	}
	patch := map[string]string{}
	for i, v := range values {
		row := strconv.Itoa(i + 2)
		b.set("Sheet1", "A"+row, "n"+leftPad(i+1))
		b.set("Sheet1", "B"+row, 0)
		b.set("Sheet1", "C"+row, v.kind)
		s := ""
		if v.style != 0 {
			s = ` s="` + strconv.Itoa(v.style) + `"`
		}
		patch["B"+row] = `<c r="B` + row + `"` + s + `><v>` + v.v + `</v></c>`
	}
	return b.bytes(map[string]func(string) (string, error){sheet1: cells(patch)})
}

func leftPad(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// Ids longer than 15 digits are text cells (Excel would round a typed
// number to 15 significant digits); a 16-digit number cell written by a
// program keeps its digits.
func xlsxLongIDs() ([]byte, error) {
	b := newBook("Accounts")
	text := b.style(49, "")
	b.rows("Accounts", 1, []any{"Account ID", "Card Number", "Order ID", "Legacy ID"})
	for i, r := range [][]any{
		{"1234567890123456789", "4111111111111111", "12345678901234567890", 1234567890123456},
		{"00000000000000000001", "5500000000000004", "98765432109876543210", 9007199254740992},
	} {
		row := strconv.Itoa(i + 2)
		b.styled("Accounts", "A"+row, text, r[0])
		b.styled("Accounts", "B"+row, text, r[1])
		b.styled("Accounts", "C"+row, text, r[2])
		b.set("Accounts", "D"+row, r[3])
	}
	return b.bytes(nil)
}

// Formula cells with the values Excel cached: a number, a string (t="str"),
// a boolean; a stale value (the workbook calculates manually); a formula
// without a cached value (as some libraries write them).
func xlsxFormulas() ([]byte, error) {
	b := newBook("Orders")
	manual := "manual"
	b.check(b.f.SetCalcProps(&excelize.CalcPropsOptions{CalcMode: &manual}))
	b.rows("Orders", 1,
		[]any{"ID", "Qty", "Price", "Total", "Label", "Big", "Stale", "No Cache"},
		[]any{"A-1", 2, 29.9, 0, 0, 0, 0, 0},
		[]any{"A-2", 3, 0.5, 0, 0, 0, 0, 0},
	)
	return b.bytes(map[string]func(string) (string, error){
		"xl/worksheets/sheet1.xml": cells(map[string]string{
			"D2": `<c r="D2"><f>B2*C2</f><v>59.8</v></c>`,
			"E2": `<c r="E2" t="str"><f>A2&amp;" x"&amp;B2</f><v>A-1 x2</v></c>`,
			"F2": `<c r="F2" t="b"><f>B2&gt;2</f><v>0</v></c>`,
			"G2": `<c r="G2"><f>B2+1</f><v>99</v></c>`,
			"H2": `<c r="H2"><f>B2*2</f></c>`,
			"D3": `<c r="D3"><f>B3*C3</f><v>1.5</v></c>`,
			"E3": `<c r="E3" t="str"><f>A3&amp;" x"&amp;B3</f><v>A-2 x3</v></c>`,
			"F3": `<c r="F3" t="b"><f>B3&gt;2</f><v>1</v></c>`,
			"G3": `<c r="G3"><f>B3+1</f><v>4</v></c>`,
			"H3": `<c r="H3"><f>B3*2</f></c>`,
		}),
	})
}

func xlsxMerged() ([]byte, error) {
	b := newBook("Classes")
	b.rows("Classes", 1,
		[]any{"Class", "Student ID", "Name", "Status", "Note"},
		[]any{"5A", "001", "Ann", "present"},
		[]any{nil, "002", "Bob", "absent (sick)"},
		[]any{nil, "003", "Cy", "present", "late bus"},
		[]any{"5B", "004", "Di", "present"},
	)
	b.check(b.f.MergeCell("Classes", "A2", "A4"))
	b.check(b.f.MergeCell("Classes", "D3", "E3"))
	return b.bytes(nil)
}

func xlsxHiddenByName() ([]byte, error) {
	b := newBook("Summary")
	b.rows("Summary", 1,
		[]any{"ID", "Name"},
		[]any{"S-1", "Summary row, not the data"},
	)
	b.sheet("Export")
	b.rows("Export", 1,
		[]any{"ID", "Name"},
		[]any{"E-1", "Ann"},
		[]any{"E-2", "Bob"},
	)
	b.check(b.f.SetSheetVisible("Export", false))
	return b.bytes(nil)
}

func xlsxSheetIndex() ([]byte, error) {
	b := newBook("Cover")
	b.rows("Cover", 1, []any{"ID", "Name"}, []any{"C-1", "Cover sheet"})
	b.sheet("Lookup")
	b.rows("Lookup", 1, []any{"ID", "Name"}, []any{"L-1", "Lookup sheet (very hidden)"})
	b.check(b.f.SetSheetVisible("Lookup", false, true))
	b.sheet("Students")
	b.rows("Students", 1, []any{"ID", "Name"}, []any{"S-1", "Ann"}, []any{"S-2", "Bob"})
	return b.bytes(nil)
}

func xlsxDate1904() ([]byte, error) {
	b := newBook("Dates")
	yes := true
	b.check(b.f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}))
	date := b.style(0, "yyyy-mm-dd")
	dateTime := b.style(0, "yyyy-mm-dd hh:mm")
	tod := b.style(0, "hh:mm:ss")
	b.rows("Dates", 1, []any{"ID", "Date", "Date Time", "Time", "Serial"})
	rows := []struct {
		id      string
		d, dt   time.Time
		t       float64
		general float64
	}{
		{"d1", day(2024, 3, 15), at(2024, 3, 15, 9, 30, 0), timeOfDay(12, 0, 0), serial1904(day(2024, 3, 15))},
		{"d2", day(1904, 1, 1), at(1904, 1, 2, 6, 0, 0), timeOfDay(18, 0, 0), 1},
	}
	for i, r := range rows {
		row := strconv.Itoa(i + 2)
		b.set("Dates", "A"+row, r.id)
		b.styled("Dates", "B"+row, date, serial1904(r.d))
		b.styled("Dates", "C"+row, dateTime, serial1904(r.dt))
		b.styled("Dates", "D"+row, tod, r.t)
		b.set("Dates", "E"+row, r.general)
	}
	return b.bytes(nil)
}

func xlsxDates() ([]byte, error) {
	b := newBook("Dates")
	us := b.style(14, "") // m/d/yyyy (shown in the reader's locale)
	iso := b.style(0, "yyyy-mm-dd")
	de := b.style(0, "dd.mm.yyyy")
	usDT := b.style(22, "") // m/d/yyyy h:mm
	isoDT := b.style(0, "yyyy-mm-dd hh:mm:ss")
	hms := b.style(21, "")  // h:mm:ss
	hm := b.style(20, "")   // h:mm
	ampm := b.style(18, "") // h:mm AM/PM
	text := b.style(49, "")
	b.rows("Dates", 1, []any{"ID", "US Date", "ISO Date", "DE Date", "US Date Time", "ISO Date Time", "Time", "Short Time", "AM PM", "Text", "Serial"})
	rows := []struct {
		id            string
		us, iso, de   time.Time
		usDT, isoDT   time.Time
		hms, hm, ampm float64
		text          string
		serial        float64
	}{
		{"d1", day(2024, 3, 15), day(2024, 3, 15), day(2024, 3, 15),
			at(2024, 3, 15, 9, 30, 0), at(2024, 3, 15, 9, 30, 0),
			timeOfDay(9, 30, 0), timeOfDay(9, 30, 0), timeOfDay(13, 45, 0),
			"15/03/2024", 45366},
		{"d2", day(1999, 12, 31), day(2000, 2, 29), day(1900, 3, 1),
			at(1999, 12, 31, 23, 59, 59), at(2024, 3, 15, 0, 0, 0),
			timeOfDay(23, 59, 59), 0, timeOfDay(6, 0, 0),
			"2024-03-15", 36525},
	}
	for i, r := range rows {
		row := strconv.Itoa(i + 2)
		b.set("Dates", "A"+row, r.id)
		b.styled("Dates", "B"+row, us, serial1900(r.us))
		b.styled("Dates", "C"+row, iso, serial1900(r.iso))
		b.styled("Dates", "D"+row, de, serial1900(r.de))
		b.styled("Dates", "E"+row, usDT, serial1900(r.usDT))
		b.styled("Dates", "F"+row, isoDT, serial1900(r.isoDT))
		b.styled("Dates", "G"+row, hms, r.hms)
		b.styled("Dates", "H"+row, hm, r.hm)
		b.styled("Dates", "I"+row, ampm, r.ampm)
		b.styled("Dates", "J"+row, text, r.text)
		b.set("Dates", "K"+row, r.serial)
	}
	return b.bytes(nil)
}

// Rows 2, 5, 9, 20 and 1000 hold data; the sheet XML has no other rows.
func xlsxSparse() ([]byte, error) {
	b := newBook("Sheet1")
	b.rows("Sheet1", 1, []any{"ID", "Name"})
	b.rows("Sheet1", 2, []any{"a", "Ann"})
	b.rows("Sheet1", 5, []any{"b", "Bob"})
	b.rows("Sheet1", 9, []any{nil, "Cy"})
	b.rows("Sheet1", 20, []any{"d", "Di"})
	b.rows("Sheet1", 1000, []any{"e", "Eve"})
	return b.bytes(nil)
}

// One stray cell at the last row and column a sheet can have.
func xlsxLastCell() ([]byte, error) {
	b := newBook("Sheet1")
	b.rows("Sheet1", 1, []any{"ID", "Name"}, []any{"1", "Ann"})
	b.set("Sheet1", "XFD1048576", "stray")
	return b.bytes(nil)
}

func xlsxBoolErr() ([]byte, error) {
	b := newBook("Sheet1")
	b.rows("Sheet1", 1,
		[]any{"ID", "Active", "Lookup", "Ratio", "Text"},
		[]any{"r1", true, 0, 0, "TRUE"},
		[]any{"r2", false, 0, 0, "#N/A"},
		[]any{"r3", nil, 0, 0},
	)
	return b.bytes(map[string]func(string) (string, error){
		sheet1: cells(map[string]string{
			"C2": `<c r="C2" t="e"><f>NA()</f><v>#N/A</v></c>`,
			"D2": `<c r="D2" t="e"><f>1/0</f><v>#DIV/0!</v></c>`,
			"C3": `<c r="C3" t="e"><v>#REF!</v></c>`,
			"D3": `<c r="D3" t="e"><f>"a"+1</f><v>#VALUE!</v></c>`,
			"C4": `<c r="C4" t="e"><f>NOSUCHFUNCTION(1)</f><v>#NAME?</v></c>`,
			"D4": `<c r="D4" t="e"><f>SQRT(-1)</f><v>#NUM!</v></c>`,
		}),
	})
}

func xlsxTitleRows() ([]byte, error) {
	b := newBook("Report")
	b.set("Report", "A1", "Class list 2024/25 – Grade 5")
	b.check(b.f.MergeCell("Report", "A1", "C1"))
	b.rows("Report", 3,
		[]any{"ID", "Name", "Teacher"},
		[]any{"001", "Ann", "Ms. Lee"},
		[]any{"002", "Bob", "Ms. Lee"},
		[]any{nil, "Cy", "Ms. Lee"},
		[]any{"004", "Di", "Mr. Kim"},
	)
	return b.bytes(nil)
}

// A file from a streaming writer: no header, every string inline.
func xlsxNoHeaderInline() ([]byte, error) {
	b := newBook("Sheet1")
	b.rows("Sheet1", 1, []any{0, 0, 0}, []any{0, 0, 0}, []any{0, 0})
	return b.bytes(map[string]func(string) (string, error){
		sheet1: cells(map[string]string{
			"A1": `<c r="A1" t="inlineStr"><is><t>000123</t></is></c>`,
			"B1": `<c r="B1" t="inlineStr"><is><t>Zoë</t></is></c>`,
			"C1": `<c r="C1"><v>10</v></c>`,
			"A2": `<c r="A2" t="inlineStr"><is><t>000124</t></is></c>`,
			"B2": `<c r="B2" t="inlineStr"><is><t>José</t></is></c>`,
			"C2": `<c r="C2"><v>11</v></c>`,
			"A3": `<c r="A3" t="inlineStr"><is><t>000125</t></is></c>`,
			"B3": `<c r="B3" t="inlineStr"><is><t xml:space="preserve">Li </t></is></c>`,
		}),
	})
}

// Rich text runs, Alt+Enter line breaks, spaces kept by xml:space, and a
// carriage return that Excel writes as _x000D_.
func xlsxRichText() ([]byte, error) {
	b := newBook("Sheet1")
	b.rows("Sheet1", 1, []any{"ID", "Name", "Address", "Note", "Code"})
	b.set("Sheet1", "A2", "1")
	b.check(b.f.SetCellRichText("Sheet1", "B2", []excelize.RichTextRun{
		{Text: "Zoë "}, {Text: "Smith", Font: &excelize.Font{Bold: true}},
	}))
	b.set("Sheet1", "C2", "12 Main St\nApt 4")
	b.set("Sheet1", "D2", "  padded  ")
	b.set("Sheet1", "E2", 0)
	b.set("Sheet1", "A3", "2")
	b.check(b.f.SetCellRichText("Sheet1", "B3", []excelize.RichTextRun{
		{Text: "José", Font: &excelize.Font{Italic: true}}, {Text: " "}, {Text: "Müller", Font: &excelize.Font{Color: "FF0000"}},
	}))
	b.set("Sheet1", "C3", "Flat 2\nHigh St\nLeeds")
	b.set("Sheet1", "E3", "plain")
	return b.bytes(map[string]func(string) (string, error){
		sheet1: cells(map[string]string{
			"E2": `<c r="E2" t="inlineStr"><is><t>Line1_x000D_` + "\n" + `Line2</t></is></c>`,
		}),
	})
}

// Rows 4 to 6 have borders and a fill but no values: a person sees empty rows.
func xlsxStyledEmptyRows() ([]byte, error) {
	b := newBook("Sheet1")
	boxed, err := b.f.NewStyle(&excelize.Style{
		Border: []excelize.Border{{Type: "bottom", Color: "000000", Style: 1}},
		Fill:   excelize.Fill{Type: "pattern", Color: []string{"FFFF00"}, Pattern: 1},
	})
	b.check(err)
	b.rows("Sheet1", 1, []any{"ID", "Name"}, []any{"1", "Ann"}, []any{"2", "Bob"})
	b.check(b.f.SetCellStyle("Sheet1", "A4", "B6", boxed))
	b.rows("Sheet1", 7, []any{"3", "Cy"})
	return b.bytes(nil)
}
