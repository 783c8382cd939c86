package xls

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Long strings of testdata/gen: longer than one record, so the shared
// string table continues them in CONTINUE records.
var (
	longLatin = strings.Repeat("abcdefghij", 900)
	longWide  = strings.Repeat("日本語ë", 1125)
)

func TestValuesFromLibreOffice(t *testing.T) {
	got := sheetCells(t, mustOpen(t, testFile(t, "values.xls")), "Values")
	tests := []struct {
		cell, want string
	}{
		{"B2", "00123"},                // text in a text-formatted cell
		{"B3", "1234567890123456"},     // 16 digits, no exponent
		{"B4", "3.14159"},              // decimal
		{"B5", "0.1"},                  // shortest round trip
		{"B6", "-42"},                  // negative integer (RK)
		{"B7", "-0.5"},                 // negative decimal
		{"B8", "TRUE"},                 // LibreOffice stores booleans as =TRUE()
		{"B9", "FALSE"},                // and =FALSE(), with cached booleans
		{"B10", "#DIV/0!"},             // formula with a cached error
		{"B11", "#N/A"},                // formula with a cached error
		{"B12", "-84"},                 // formula with a cached number
		{"B13", "abcd"},                // formula with a cached string (STRING record)
		{"B14", "TRUE"},                // formula with a cached boolean
		{"B15", "2024-03-15"},          // m/d/yyyy
		{"B16", "2024-03-15T09:30:00"}, // m/d/yyyy h:mm
		{"B17", "09:30:00"},            // h:mm:ss
		{"B18", "2024-03-15T09:30:15"}, // yyyy-mm-dd hh:mm:ss
		{"B19", "2024-12-31"},          // dd.mm.yyyy
		{"B20", "36:00:00"},            // [h]:mm:ss
		{"B21", "2024-03-01"},          // mmm yyyy
		{"B22", "2024-02-01"},          // formula with a cached date
		{"B23", "ë"},
		{"B24", "日本語"},
		{"B25", "🙂 ok"},
		{"B26", longLatin}, // compressed, over CONTINUE records
		{"B27", longWide},  // UTF-16, over CONTINUE records
		{"B28", "0.15"},    // percent format: the number
		{"B29", "100000000000000000000"},
		{"B30", "0.00000015"},
		{"B31", "top left"}, // merged B31:C32
		{"B33", "12.5"},     // 0.0 "days": quoted letters are no date
		{"B34", "1234.5"},   // currency
		{"B35", "  spaced  "},
		{"B36", "line1\nline2"},
		{"B37", "0"},
		{"B38", "100"},
		{"B39", "23:59:59"}, // hh:mm:ss.000, 23:59:59.4 rounded to the second
		{"B40", "-1234.5678"},
		{"A1", "case"},
	}
	for _, tt := range tests {
		t.Run(tt.cell, func(t *testing.T) {
			require.Equal(t, tt.want, got[tt.cell])
		})
	}
	for _, cell := range []string{"C31", "B32", "C32", "C1"} {
		require.NotContains(t, got, cell)
	}
}

func TestSheets(t *testing.T) {
	wb := mustOpen(t, testFile(t, "values.xls"))
	require.Equal(t, []Sheet{
		{Name: "Values", Index: 1},
		{Name: "Hidden", Index: 2, Hidden: true},
		{Name: "Sparse", Index: 3},
	}, wb.Sheets())
	require.False(t, wb.Date1904())

	rows, err := readRows(t, wb, wb.Sheets()[1])
	require.NoError(t, err)
	require.Equal(t, []row{{1, []string{"secret", "7"}}}, rows)

	_, err = wb.Rows(Sheet{Name: "Hidden", Index: 3})
	require.ErrorContains(t, err, `read sheet "Hidden"`)
	_, err = wb.Rows(Sheet{Name: "Nope", Index: 1})
	require.Error(t, err)
}

func TestSparseRows(t *testing.T) {
	wb := mustOpen(t, testFile(t, "values.xls"))
	rows, err := readRows(t, wb, sheetNamed(t, wb, "Sparse"))
	require.NoError(t, err)
	gap := func(n int, v string) []string { return append(make([]string, n), v) }
	require.Equal(t, []row{
		{1, []string{"first"}},
		{5, gap(4, "five")},
		{100, gap(25, "100")},
		{200, gap(255, "last column")},
		{65536, gap(2, "last row")},
	}, rows)
}

func TestDate1904(t *testing.T) {
	wb := mustOpen(t, testFile(t, "date1904.xls"))
	require.True(t, wb.Date1904())
	require.Equal(t, map[string]string{
		"A1": "2024-03-15",
		"A2": "2024-03-15T09:30:00",
		"A3": "18:00:00",
		"A4": "1",
		"A5": "1904-01-01",
	}, sheetCells(t, wb, "Dates"))
}

// TestBigSheet reads 20 000 rows and checks each against what testdata/gen
// wrote; LibreOffice's own CSV export of the file agreed when it was made.
func TestBigSheet(t *testing.T) {
	wb := mustOpen(t, testFile(t, "big.xls"))
	rows, err := readRows(t, wb, sheetNamed(t, wb, "Big"))
	require.NoError(t, err)
	require.Len(t, rows, 20000)
	base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range rows {
		n := i + 1
		want := []string{
			fmt.Sprint(n),
			fmt.Sprintf("row %d", n),
			strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)*1.5), ".0"),
			base.AddDate(0, 0, n%3650).Format(time.DateOnly),
		}
		if r.n != int64(n) || !equal(r.cells, want) {
			require.Equal(t, row{int64(n), want}, r)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRecordsCovered keeps the LibreOffice files honest: they must hold the
// records that the value tests claim to exercise.
func TestRecordsCovered(t *testing.T) {
	tests := []struct {
		file string
		want []uint16
	}{
		{"values.xls", []uint16{recSST, recContinue, recLabelSST, recNumber, recRK, recFormula, recString, recMergeCells, recFormat, recXF, recBoundSheet}},
		{"date1904.xls", []uint16{recDateMode}},
		{"big.xls", []uint16{recMulRK, recLabelSST, recRK}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			wb := mustOpen(t, testFile(t, tt.file))
			seen := map[uint16]bool{}
			for off := 0; off+4 <= len(wb.stream); {
				r, err := readRecord(wb.stream, off)
				require.NoError(t, err)
				seen[r.id] = true
				off = r.next()
			}
			for _, id := range tt.want {
				require.True(t, seen[id], "record 0x%04X", id)
			}
		})
	}
}

func TestEncryptedFile(t *testing.T) {
	_, err := openBytes(testFile(t, "encrypted.xls"), Limits{})
	require.ErrorIs(t, err, ErrEncrypted)
	require.EqualError(t, err, "the workbook is encrypted (password-protected)")
}
