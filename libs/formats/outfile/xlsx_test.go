package outfile

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/ferrydata/ferry/libs/formats/xlsx"
)

// openXLSX opens a workbook written by a test.
func openXLSX(tb testing.TB, data []byte) *excelize.File {
	tb.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = f.Close() })
	return f
}

// readXLSX returns the sheet's rows as excelize shows them.
func readXLSX(tb testing.TB, data []byte, sheet string) [][]string {
	tb.Helper()
	rows, err := openXLSX(tb, data).GetRows(sheet)
	require.NoError(tb, err)
	return rows
}

// xlsxCell is what excelize reads of one cell.
type xlsxCell struct {
	Type   excelize.CellType
	Raw    string // the stored value
	Shown  string // the value with its number format applied
	NumFmt string // the custom number format, if any
}

func readCell(tb testing.TB, f *excelize.File, sheet, ref string) xlsxCell {
	tb.Helper()
	var c xlsxCell
	var err error
	c.Type, err = f.GetCellType(sheet, ref)
	require.NoError(tb, err)
	c.Raw, err = f.GetCellValue(sheet, ref, excelize.Options{RawCellValue: true})
	require.NoError(tb, err)
	c.Shown, err = f.GetCellValue(sheet, ref)
	require.NoError(tb, err)
	id, err := f.GetCellStyle(sheet, ref)
	require.NoError(tb, err)
	style, err := f.GetStyle(id)
	require.NoError(tb, err)
	if style.CustomNumFmt != nil {
		c.NumFmt = *style.CustomNumFmt
	}
	return c
}

func TestXLSXRoundTrip(t *testing.T) {
	rows, _ := mixedRows("Zoë ☃ 😀 東京")
	out, stats := write(t, mixedColumns, Options{Format: XLSX, SheetName: "Export"}, rows...)
	require.Equal(t, Stats{Rows: 4, Bytes: int64(len(out))}, stats)
	require.Equal(t, [][]string{
		{"id", "name", "price", "active", "born", "seen", "meta", "note"},
		{"1", "Zoë ☃ 😀 東京", "1234.5", "TRUE", "2024-05-01", "2024-05-01 07:00:00", `{"a": [1, 2.50]}`, "say \"hi\", then\r\nleave"},
		{"-12", "  padded\t", "-0.001", "FALSE", "1999-12-31", "2024-05-01 07:00:00", "[1,2]"}, // GetRows drops the trailing empty string
		{"12345678901234567890123", "", "", "", "", "", "", "'=SUM(A1)"},
		{"0", "007", "0.1", "", "0001-01-01", "9999-12-31T23:59:59.999999999Z", "'-1", "'-"},
	}, readXLSX(t, out, "Export"))

	f := openXLSX(t, out)
	cell := func(ref string) xlsxCell { return readCell(t, f, "Export", ref) }
	// Numbers are number cells (no type: the default is a number).
	require.Equal(t, xlsxCell{Type: excelize.CellTypeUnset, Raw: "1234.5", Shown: "1234.5"}, cell("C2"))
	require.Equal(t, xlsxCell{Type: excelize.CellTypeUnset, Raw: "-12", Shown: "-12"}, cell("A3"))
	// More than 15 significant digits: a string cell keeps every digit.
	require.Equal(t, xlsxCell{Type: excelize.CellTypeInlineString, Raw: "12345678901234567890123", Shown: "12345678901234567890123"}, cell("A4"))
	// Leading zeros stay.
	require.Equal(t, xlsxCell{Type: excelize.CellTypeInlineString, Raw: "007", Shown: "007"}, cell("B5"))
	require.Equal(t, xlsxCell{Type: excelize.CellTypeBool, Raw: "1", Shown: "TRUE"}, cell("D2"))
	// Dates are serial numbers with a date format.
	require.Equal(t, xlsxCell{Type: excelize.CellTypeUnset, Raw: "45413", Shown: "2024-05-01", NumFmt: "yyyy-mm-dd"}, cell("E2"))
	require.Equal(t, xlsxCell{Type: excelize.CellTypeUnset, Raw: "36525", Shown: "1999-12-31", NumFmt: "yyyy-mm-dd"}, cell("E3"))
	seen := cell("F2")
	require.Equal(t, "yyyy-mm-dd hh:mm:ss", seen.NumFmt)
	serial, err := strconv.ParseFloat(seen.Raw, 64)
	require.NoError(t, err)
	require.InDelta(t, 45413+(7*3600+0.5)/86400, serial, 1e-9)
	// Before 1900 Excel has no dates: text.
	require.Equal(t, xlsxCell{Type: excelize.CellTypeInlineString, Raw: "0001-01-01", Shown: "0001-01-01"}, cell("E5"))
	// Nulls are empty cells; an empty string is a string cell.
	require.Equal(t, xlsxCell{}, cell("B4"))
	require.Equal(t, xlsxCell{Type: excelize.CellTypeInlineString}, cell("H3"))
}

func TestXLSXValues(t *testing.T) {
	cols := []Column{
		{Header: "n", Kind: Decimal, DecimalSeparator: ','},
		{Header: "d", Kind: Date, DateFormat: layout(t, "DD.MM.YYYY")},
		{Header: "t", Kind: Timestamp, DateFormat: layout(t, "MM/DD/YYYY hh:mm:ss A")},
	}
	rows := [][]Value{
		{decimal("123456789012345"), date(1900, 1, 1), timestamp(time.Date(2024, 5, 1, 13, 30, 15, 250_000_000, time.UTC))},
		{decimal("1234567890123456"), date(1900, 2, 28), null},
		{decimal("0.000000000000000000001"), date(1900, 3, 1), null},
		{decimal("-1.10000000000000000000"), date(9999, 12, 31), null},
		{decimal("1234567890.123456"), date(1899, 12, 31), null},
		{decimal("1" + strings.Repeat("0", 310)), null, null},
	}
	out, _ := write(t, cols, Options{Format: XLSX}, rows...)
	f := openXLSX(t, out)
	cell := func(ref string) xlsxCell { return readCell(t, f, "Sheet1", ref) }

	require.Equal(t, xlsxCell{Raw: "123456789012345", Shown: "123456789012345"}, cell("A2"))
	require.Equal(t, xlsxCell{Type: excelize.CellTypeInlineString, Raw: "1234567890123456", Shown: "1234567890123456"}, cell("A3"))
	require.Equal(t, xlsxCell{Raw: "0.000000000000000000001", Shown: "1E-21"}, cell("A4"))
	require.Equal(t, xlsxCell{Raw: "-1.1", Shown: "-1.1"}, cell("A5"))
	require.Equal(t, xlsxCell{Type: excelize.CellTypeInlineString, Raw: "1234567890,123456", Shown: "1234567890,123456"}, cell("A6"))
	require.Equal(t, excelize.CellTypeInlineString, cell("A7").Type)

	// Excel's serials, with its 29 February 1900.
	for ref, want := range map[string]string{"B2": "1", "B3": "59", "B4": "61", "B5": "2958465"} {
		c := cell(ref)
		require.Equal(t, want, c.Raw, ref)
		require.Equal(t, `dd.mm.yyyy`, c.NumFmt, ref)
	}
	require.Equal(t, "01.01.1900", cell("B2").Shown)
	require.Equal(t, "31.12.9999", cell("B5").Shown)
	require.Equal(t, xlsxCell{Type: excelize.CellTypeInlineString, Raw: "31.12.1899", Shown: "31.12.1899"}, cell("B6"))
	ts := cell("C2")
	require.Equal(t, "mm/dd/yyyy hh:mm:ss AM/PM", ts.NumFmt)
	require.Equal(t, "05/01/2024 01:30:15 PM", ts.Shown)
}

func TestXLSXLimits(t *testing.T) {
	cols := []Column{{Header: "a", Kind: String}}
	var buf bytes.Buffer
	w, err := New(&buf, cols, Options{Format: XLSX})
	require.NoError(t, err)
	err = w.WriteRow(7, []Value{str(strings.Repeat("é", excelize.TotalCellChars+1))})
	require.EqualError(t, err, `row 7, column "a": text of 32768 characters is longer than the 32767 an XLSX cell holds`)
	require.NoError(t, w.WriteRow(8, []Value{str(strings.Repeat("é", excelize.TotalCellChars))}))
	stats, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, int64(1), stats.Rows)
	rows := readXLSX(t, buf.Bytes(), "Sheet1")
	require.Len(t, rows, 2)
	require.Len(t, []rune(rows[1][0]), excelize.TotalCellChars)

	_, err = New(&buf, cols, Options{Format: XLSX, SheetName: "a/b"})
	require.ErrorContains(t, err, `sheet name "a/b"`)
}

func TestUnencodableXLSX(t *testing.T) {
	cols := []Column{{Header: "a", Kind: String}, {Header: "b", Kind: JSON}}
	rows := [][]Value{{str("ok"), null}, {str("bell\x07"), null}, {str("x"), jsonv("\x00=1")}, {str("bad\xff"), null}}
	_, stats, err := tryWrite(t, cols, Options{Format: XLSX}, rows...)
	var ue *UnencodableError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, &UnencodableError{Encoding: "xlsx", Rows: []int64{2, 3, 4}, Columns: []string{"a", "b"}, Count: 3, Example: '\a'}, ue)
	require.Equal(t, `3 rows have characters that an XLSX cell cannot hold, such as "\a" (U+0007); rows 2, 3, 4 in columns "a", "b"`, err.Error())
	require.Equal(t, int64(1), stats.Rows)

	out, stats := write(t, cols, Options{Format: XLSX, ReplaceUnencodable: true}, rows...)
	require.Equal(t, int64(3), stats.Replaced)
	require.Equal(t, [][]string{{"a", "b"}, {"ok"}, {"bell\uFFFD"}, {"x", "'\uFFFD=1"}, {"bad\uFFFD"}}, readXLSX(t, out, "Sheet1"))
}

func TestExcelDateFormat(t *testing.T) {
	tests := []struct {
		pattern   string
		timestamp bool
		want      string
	}{
		{"", false, "yyyy-mm-dd"},
		{"", true, "yyyy-mm-dd hh:mm:ss"},
		{"ISO", true, "yyyy-mm-dd hh:mm:ss"},
		{"DD/MM/YYYY", false, "dd/mm/yyyy"},
		{"D.M.YY", false, "d.m.yy"},
		{"MMM D, YYYY", false, `mmm d, yyyy`},
		{"D MMMM YYYY", false, "d mmmm yyyy"},
		{"YYYYMMDD", false, "yyyymmdd"},
		{"YYYY-MM-DDTHH:mm:ss.SSSZ", true, `yyyy-mm-dd\Thh:mm:ss.000\Z`},
		{"DD/MM/YYYY H:mm", true, "dd/mm/yyyy h:mm"},
		{"MM/DD/YYYY hh:mm:ss A", true, "mm/dd/yyyy hh:mm:ss AM/PM"},
		{"DD MMM YYYY 'at' HH:mm", true, `dd mmm yyyy \a\t hh:mm`},
		{"DD/MM/YYYY ''HH''", true, `dd/mm/yyyy \'hh\'`},
		{"YYYY年MM月DD日", false, `yyyy\年mm\月dd\日`},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			if tt.pattern == "" {
				require.Equal(t, tt.want, excelDateFormat(nil, tt.timestamp))
				return
			}
			require.Equal(t, tt.want, excelDateFormat(layout(t, tt.pattern), tt.timestamp))
		})
	}
}

func TestExcelNumber(t *testing.T) {
	tests := []struct {
		num  string
		want float64
		ok   bool
	}{
		{"0", 0, true},
		{"-0", 0, true},
		{"0.10", 0.1, true},
		{"999999999999999", 999999999999999, true},
		{"-999999999999999", -999999999999999, true},
		{"9999999999999999", 0, false},
		{"1000000000000000000000", 1e21, true},
		{"0.000123456789012345", 0.000123456789012345, true},
		{"0.0001234567890123456", 0, false},
		{"12345678.90123450000", 12345678.9012345, true},
		{"1" + strings.Repeat("0", 307), 1e307, true},
		{"1" + strings.Repeat("0", 308), 0, false},
		{"0." + strings.Repeat("0", 306) + "1", 1e-307, true},
		{"0." + strings.Repeat("0", 307) + "1", 0, false},
	}
	for _, tt := range tests {
		got, ok := excelNumber(tt.num)
		require.Equal(t, tt.ok, ok, tt.num)
		require.Equal(t, tt.want, got, tt.num)
	}
}

// TestXLSXText checks the escapes of the sheet's XML: markup characters,
// OOXML's own _xHHHH_ escapes (a literal one must read back as written),
// carriage returns and spaces at the ends; and that the same rows give the
// same bytes.
func TestXLSXText(t *testing.T) {
	cols := []Column{{Header: "a & <b>", Kind: String}}
	texts := []string{"x < y && y > z", "_x0041_", "_x004_", "a_x0041_b_X0042_", "a\rb", " \n ", "]]>", `"quoted" 'single'`}
	rows := make([][]Value, len(texts))
	for i, s := range texts {
		rows[i] = []Value{str(s)}
	}
	out, _ := write(t, cols, Options{Format: XLSX, SheetName: "R&D <1>"}, rows...)
	got := readXLSX(t, out, "R&D <1>")
	require.Equal(t, []string{"a & <b>"}, got[0])
	for i, s := range texts {
		require.Equal(t, []string{s}, got[i+1], "row %d", i+1)
	}
	f := openXLSX(t, out)
	id, err := f.GetCellStyle("R&D <1>", "A1")
	require.NoError(t, err)
	style, err := f.GetStyle(id)
	require.NoError(t, err)
	require.True(t, style.Font != nil && style.Font.Bold, "the header is bold")

	// Ferry's own reader reads what Ferry writes.
	wb, err := xlsx.Open(bytes.NewReader(out), int64(len(out)), xlsx.Limits{})
	require.NoError(t, err)
	require.Equal(t, "R&D <1>", wb.Sheets()[0].Name)
	rr, err := wb.Rows(wb.Sheets()[0])
	require.NoError(t, err)
	defer rr.Close()
	for i, want := range append([]string{"a & <b>"}, texts...) {
		_, cells, err := rr.Next()
		require.NoError(t, err)
		require.Equal(t, []string{want}, cells, "row %d", i+1)
	}

	again, _ := write(t, cols, Options{Format: XLSX, SheetName: "R&D <1>"}, rows...)
	require.Equal(t, out, again)

	for _, bad := range []string{"a/b", "a:b", "[x]", "'x", strings.Repeat("s", 32)} {
		_, err := New(io.Discard, cols, Options{Format: XLSX, SheetName: bad})
		require.ErrorContains(t, err, strconv.Quote(bad), bad)
	}
}
