package xls

import (
	"bytes"
	"io"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// tenth is a variable so that tenth+0.2 is float64 arithmetic, not exact
// constant arithmetic.
var tenth = 0.1

// rkInt is the RK form of a 30-bit integer.
func rkInt(v int32) uint32 { return uint32(v<<2) | 0x02 }

// rkFloat is the RK form of a float64 whose low 34 bits are zero.
func rkFloat(v float64) uint32 { return uint32(math.Float64bits(v) >> 32) }

// TestCellRecords covers the records and formats LibreOffice does not
// write: built-in format ids, RK forms, LABEL, RSTRING, BOOLERR, every
// formula result type.
func TestCellRecords(t *testing.T) {
	tests := []struct {
		name  string
		recs  [][]byte
		extra [][]byte // more globals
		want  map[string]string
	}{
		{
			name: "built-in formats",
			recs: [][]byte{
				numberRec(0, 0, xfDate14, 45366),
				numberRec(0, 1, xfDateTime22, 45366.395833333336),
				numberRec(0, 2, xfTime21, 0.5),
				numberRec(0, 3, xfElapsed46, 1.25),
				numberRec(0, 4, xfTime45, 15.0/1440),
				numberRec(0, 5, xfCustomDate, 45366),
				numberRec(0, 6, xfCustomText, 45366),
				numberRec(0, 7, xfGeneral, 45366),
				numberRec(0, 8, 99, 45366), // no such XF: General
			},
			want: map[string]string{
				"A1": "2024-03-15", "B1": "2024-03-15T09:30:00", "C1": "12:00:00", "D1": "30:00:00",
				"E1": "00:15:00", "F1": "2024-03-15", "G1": "45366", "H1": "45366", "I1": "45366",
			},
		},
		{
			name: "a FORMAT record overrides a built-in id",
			recs: [][]byte{
				numberRec(0, 0, xfDate14, 45366),
			},
			extra: [][]byte{formatRec(14, "0.00")},
			want:  map[string]string{"A1": "45366"},
		},
		{
			name: "dates at the edges of the 1900 system",
			recs: [][]byte{
				numberRec(0, 0, xfDate14, 1),
				numberRec(0, 1, xfDate14, 59),
				numberRec(0, 2, xfDate14, 60),
				numberRec(0, 3, xfDate14, 61),
				numberRec(0, 4, xfDate14, -1),
				numberRec(0, 5, xfDate14, 2958465),
				numberRec(0, 6, xfDate14, 2958466),
				numberRec(0, 7, xfDateTime22, 45366),
				numberRec(0, 8, xfDate14, 45366.5),
				numberRec(0, 9, xfTime21, 1.5),
				numberRec(0, 10, xfTime21, 0.999999999),
			},
			want: map[string]string{
				"A1": "1900-01-01", "B1": "1900-02-28", "C1": "1900-02-29", "D1": "1900-03-01",
				"E1": "-1", "F1": "9999-12-31", "G1": "2958466", "H1": "2024-03-15T00:00:00",
				"I1": "2024-03-15T12:00:00", "J1": "1900-01-01T12:00:00", "K1": "00:00:00",
			},
		},
		{
			name:  "1904 system",
			recs:  [][]byte{numberRec(0, 0, xfDate14, 0), numberRec(0, 1, xfDateTime22, 43904.75)},
			extra: [][]byte{dateModeRec(1)},
			want:  map[string]string{"A1": "1904-01-01", "B1": "2024-03-15T18:00:00"},
		},
		{
			name: "RK numbers",
			recs: [][]byte{
				rkRec(0, 0, 0, rkInt(100)),
				rkRec(0, 1, 0, rkInt(-5)),
				rkRec(0, 2, 0, rkInt(1234)|0x01),
				rkRec(0, 3, 0, rkFloat(1.5)),
				rkRec(0, 4, 0, rkFloat(3)|0x01),
				rkRec(0, 5, xfDate14, rkInt(45366)),
				mulRKRec(1, 1, xfGeneral, rkInt(1), xfDate14, rkInt(45366), xfGeneral, rkFloat(-0.25)),
			},
			want: map[string]string{
				"A1": "100", "B1": "-5", "C1": "12.34", "D1": "1.5", "E1": "0.03", "F1": "2024-03-15",
				"B2": "1", "C2": "2024-03-15", "D2": "-0.25",
			},
		},
		{
			name: "numbers",
			recs: [][]byte{
				numberRec(0, 0, 0, math.Copysign(0, -1)),
				numberRec(0, 1, 0, 1e21),
				numberRec(0, 2, 0, 5e-324),
				numberRec(0, 3, 0, tenth+0.2),
				numberRec(0, 4, 0, -1e-7),
			},
			want: map[string]string{
				"A1": "0", "B1": "1000000000000000000000",
				"C1": "0." + strings.Repeat("0", 323) + "5",
				"D1": "0.30000000000000004", "E1": "-0.0000001",
			},
		},
		{
			name: "inline strings",
			recs: [][]byte{
				labelRec(0, 0, "héllo"),
				labelRec(0, 1, "日本"),
				rstringRec(0, 2, "rich"),
				labelRec(0, 3, "🙂"),
			},
			want: map[string]string{"A1": "héllo", "B1": "日本", "C1": "rich", "D1": "🙂"},
		},
		{
			name: "booleans and errors",
			recs: [][]byte{
				boolErrRec(0, 0, 1, false), boolErrRec(0, 1, 0, false),
				boolErrRec(1, 0, 0x00, true), boolErrRec(1, 1, 0x07, true), boolErrRec(1, 2, 0x0F, true),
				boolErrRec(1, 3, 0x17, true), boolErrRec(1, 4, 0x1D, true), boolErrRec(1, 5, 0x24, true),
				boolErrRec(1, 6, 0x2A, true), boolErrRec(1, 7, 0x2B, true),
			},
			want: map[string]string{
				"A1": "TRUE", "B1": "FALSE",
				"A2": "#NULL!", "B2": "#DIV/0!", "C2": "#VALUE!", "D2": "#REF!", "E2": "#NAME?",
				"F2": "#NUM!", "G2": "#N/A", "H2": "#GETTING_DATA",
			},
		},
		{
			name: "formula results",
			recs: [][]byte{
				formulaNum(0, 0, 0, 2.5),
				formulaNum(0, 1, xfDate14, 45366),
				formulaSpecial(0, 2, 0, 0), rec(recShrFmla, make([]byte, 10)), stringRec("text result"),
				formulaSpecial(0, 3, 1, 1),
				formulaSpecial(0, 4, 2, 0x2A),
				formulaSpecial(0, 5, 3, 0),
				formulaSpecial(0, 6, 0, 0), stringRec(""),
			},
			want: map[string]string{"A1": "2.5", "B1": "2024-03-15", "C1": "text result", "D1": "TRUE", "E1": "#N/A"},
		},
		{
			name: "merged cells keep only the top-left value",
			recs: [][]byte{
				labelRec(0, 0, "top"), labelRec(0, 1, "hidden right"),
				labelRec(1, 0, "hidden below"), labelRec(1, 1, "hidden corner"), labelRec(1, 2, "outside"),
				labelRec(3, 3, "second top"), labelRec(4, 3, "hidden too"), labelRec(5, 3, "below it"),
				mergeRec([4]int{0, 1, 0, 1}, [4]int{3, 4, 3, 3}, [4]int{7, 7, 7, 7}),
			},
			want: map[string]string{"A1": "top", "C2": "outside", "D4": "second top", "D6": "below it"},
		},
		{
			name: "cells out of row order",
			recs: [][]byte{
				labelRec(2, 0, "c"), labelRec(0, 1, "a2"), labelRec(1, 0, "b"), labelRec(0, 0, "a"),
				mergeRec([4]int{2, 3, 0, 0}), labelRec(3, 0, "hidden"),
			},
			want: map[string]string{"A1": "a", "B1": "a2", "A2": "b", "A3": "c"},
		},
		{
			name: "the last value of a cell wins",
			recs: [][]byte{labelRec(0, 0, "old"), numberRec(0, 0, 0, 2)},
			want: map[string]string{"A1": "2"},
		},
		{
			name: "embedded chart substreams are skipped",
			recs: [][]byte{
				labelRec(0, 0, "before"),
				bofRec(0x0020), numberRec(0, 5, 0, 99), eofRec(),
				labelRec(1, 0, "after"),
			},
			want: map[string]string{"A1": "before", "A2": "after"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wb := mustOpen(t, oneSheet(tt.extra, tt.recs...).file())
			require.Equal(t, tt.want, sheetCells(t, wb, "S"))
		})
	}
}

func TestRowShape(t *testing.T) {
	wb := mustOpen(t, oneSheet(nil,
		blankRec(0, 0), blankRec(0, 1), // formatting only: no row
		labelRec(1, 1, "x"), blankRec(1, 3), // trailing blank dropped
		labelRec(2, 0, ""), // an empty string: no row
		rec(recMulBlank, le16(3), le16(0), le16(0), le16(0), le16(1)),
		labelRec(4, 2, "y"), labelRec(4, 0, "w"),
		labelRec(6, 0, "gone"), labelRec(6, 0, ""), // overwritten by an empty value: no row
		labelRec(7, 300, ""), // no value, so no column limit
	).file())
	rows, err := readRows(t, wb, wb.Sheets()[0])
	require.NoError(t, err)
	require.Equal(t, []row{{2, []string{"", "x"}}, {5, []string{"w", "", "y"}}}, rows)

	rr, err := wb.Rows(wb.Sheets()[0])
	require.NoError(t, err)
	for range 2 {
		_, _, err = rr.Next()
		require.NoError(t, err)
	}
	for range 2 {
		_, _, err = rr.Next()
		require.ErrorIs(t, err, io.EOF)
	}
	require.NoError(t, rr.Close())
	_, _, err = rr.Next()
	require.ErrorContains(t, err, "closed")
}

func TestSharedStrings(t *testing.T) {
	long := strings.Repeat("x", 50) + "日本" + strings.Repeat("y", 60)
	strs := []string{"first", long, "", "ë" + strings.Repeat("z", 40), "last 日本"}
	var recs [][]byte
	for i := range strs {
		recs = append(recs, labelSSTRec(i, 0, 0, uint32(i)))
	}
	b := testBook{
		globals: append(stdGlobals(), sstRecs(30, strs...)...),
		sheets:  []testSheet{{name: "S", recs: recs}},
	}
	got := sheetCells(t, mustOpen(t, b.file()), "S")
	require.Equal(t, map[string]string{"A1": "first", "A2": long, "A4": strs[3], "A5": "last 日本"}, got)
}

func TestSharedStringsSplitByHand(t *testing.T) {
	// "ab" compressed, continued as UTF-16 "日本"; then a string with two
	// formatting runs and 6 bytes of phonetic data split across records.
	sst := bytes.Join([][]byte{le32(2), le32(2), le16(4), {0x00}, []byte("ab")}, nil)
	cont1 := bytes.Join([][]byte{{0x01}, le16(0x65E5), le16(0x672C), le16(3), {0x0C}, le16(2), le32(6), []byte("xyz"), make([]byte, 5)}, nil)
	cont2 := make([]byte, 3+6)
	b := testBook{
		globals: append(stdGlobals(), rec(recSST, sst), rec(recContinue, cont1), rec(recContinue, cont2)),
		sheets:  []testSheet{{name: "S", recs: [][]byte{labelSSTRec(0, 0, 0, 0), labelSSTRec(0, 1, 0, 1)}}},
	}
	got := sheetCells(t, mustOpen(t, b.file()), "S")
	require.Equal(t, map[string]string{"A1": "ab日本", "B1": "xyz"}, got)
}

func TestChartSheetsAreCountedNotListed(t *testing.T) {
	b := testBook{globals: stdGlobals(), sheets: []testSheet{
		{name: "Chart", kind: 2},
		{name: "Data", recs: [][]byte{labelRec(0, 0, "d")}},
		{name: "Gone", hidden: 2, recs: [][]byte{labelRec(0, 0, "g")}},
	}}
	wb := mustOpen(t, b.file())
	require.Equal(t, []Sheet{{Name: "Data", Index: 2}, {Name: "Gone", Index: 3, Hidden: true}}, wb.Sheets())
	require.Equal(t, map[string]string{"A1": "g"}, sheetCells(t, wb, "Gone"))
}

func TestConcurrentSheets(t *testing.T) {
	wb := mustOpen(t, testFile(t, "values.xls"))
	var wg sync.WaitGroup
	for _, s := range append(wb.Sheets(), wb.Sheets()...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows, err := readRows(t, wb, s)
			require.NoError(t, err)
			require.NotEmpty(t, rows)
		}()
	}
	wg.Wait()
}

func TestSurrogatePairSplitBetweenRecords(t *testing.T) {
	b := testBook{
		globals: append(stdGlobals(),
			rec(recSST, le32(1), le32(1), le16(3), []byte{0x01}, le16(0xD83D)),
			rec(recContinue, []byte{0x01}, le16(0xDE42), le16('!'))),
		sheets: []testSheet{{name: "S", recs: [][]byte{labelSSTRec(0, 0, 0, 0)}}},
	}
	require.Equal(t, map[string]string{"A1": "🙂!"}, sheetCells(t, mustOpen(t, b.file()), "S"))
}
