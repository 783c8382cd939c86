package main

import (
	"strconv"
)

// xlsCases are Excel 97-2003 workbooks: each generator returns an .xlsx that
// LibreOffice converts to .xls (BIFF8). Booleans are left out: LibreOffice
// has no boolean cell type and writes them as formatted numbers.
func xlsCases() []inputCase {
	return []inputCase{
		{dir: "68-xls-basic", file: "input.xls", gen: xlsBasic, soffice: true},
		{dir: "69-xls-dates", file: "input.xls", gen: xlsDates, soffice: true},
		{dir: "70-xls-formulas", file: "input.xls", gen: xlsFormulas, soffice: true},
		{dir: "71-xls-hidden-sheet-by-index", file: "input.xls", gen: xlsHiddenByIndex, soffice: true},
		// LibreOffice keeps the 1904 date system (DATEMODE 1) and its serials.
		{dir: "81-xls-date1904", file: "input.xls", gen: xlsxDate1904, soffice: true},
	}
}

func xlsBasic() ([]byte, error) {
	b := newBook("Students")
	text := b.style(49, "")
	b.rows("Students", 1, []any{"Student ID", "First Name", "Last Name", "Grade", "Fee", "Email"})
	for i, r := range [][]any{
		{"000123", "Zoë", "O'Brien, Jr.", 10, 1234.5, "zoe@example.org"},
		{"000124", "José", "Müller", 10, 0.75, nil},
		{"000125", "李", `Say "Hi"`, 11, -20, "ann@example.org"},
	} {
		row := strconv.Itoa(i + 2)
		b.styled("Students", "A"+row, text, r[0])
		b.rows("Students", i+2, []any{nil, r[1], r[2], r[3], r[4], r[5]})
	}
	return b.bytes(nil)
}

func xlsDates() ([]byte, error) {
	b := newBook("Dates")
	iso := b.style(0, "yyyy-mm-dd")
	de := b.style(0, "dd.mm.yyyy")
	isoDT := b.style(0, "yyyy-mm-dd hh:mm:ss")
	hms := b.style(0, "hh:mm:ss")
	b.rows("Dates", 1, []any{"ID", "ISO Date", "DE Date", "Date Time", "Time", "Serial"})
	b.set("Dates", "A2", "d1")
	b.styled("Dates", "B2", iso, serial1900(day(2024, 3, 15)))
	b.styled("Dates", "C2", de, serial1900(day(2000, 2, 29)))
	b.styled("Dates", "D2", isoDT, serial1900(at(2024, 3, 15, 9, 30, 0)))
	b.styled("Dates", "E2", hms, timeOfDay(13, 45, 30))
	b.set("Dates", "F2", 45366)
	b.set("Dates", "A3", "d2")
	b.styled("Dates", "B3", iso, serial1900(day(1999, 12, 31)))
	b.styled("Dates", "C3", de, serial1900(day(2024, 1, 1)))
	b.styled("Dates", "D3", isoDT, serial1900(at(1999, 12, 31, 23, 59, 59)))
	b.styled("Dates", "E3", hms, timeOfDay(6, 0, 0))
	b.set("Dates", "F3", 36525)
	return b.bytes(nil)
}

// Formulas whose cached values are what they compute, so that the .xls
// holds the same values whether or not LibreOffice recalculates.
func xlsFormulas() ([]byte, error) {
	b := newBook("Orders")
	b.rows("Orders", 1,
		[]any{"ID", "Qty", "Price", "Total", "Label"},
		[]any{"A-1", 2, 29.9, 0, 0},
		[]any{"A-2", 3, 0.5, 0, 0},
	)
	return b.bytes(map[string]func(string) (string, error){
		sheet1: cells(map[string]string{
			"D2": `<c r="D2"><f>B2*C2</f><v>59.8</v></c>`,
			"E2": `<c r="E2" t="str"><f>A2&amp;" x"&amp;B2</f><v>A-1 x2</v></c>`,
			"D3": `<c r="D3"><f>B3*C3</f><v>1.5</v></c>`,
			"E3": `<c r="E3" t="str"><f>A3&amp;" x"&amp;B3</f><v>A-2 x3</v></c>`,
		}),
	})
}

func xlsHiddenByIndex() ([]byte, error) {
	b := newBook("Cover")
	b.rows("Cover", 1, []any{"ID", "Name"}, []any{"C-1", "Cover sheet"})
	b.sheet("Data")
	b.rows("Data", 1, []any{"ID", "Name"}, []any{"D-1", "Ann"}, []any{"D-2", "Bob"})
	b.check(b.f.SetSheetVisible("Data", false))
	b.sheet("Notes")
	b.rows("Notes", 1, []any{"ID", "Name"}, []any{"N-1", "Notes sheet"})
	return b.bytes(nil)
}
