package xls

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzBooks are small crafted workbooks that reach the records the
// LibreOffice files lack.
func fuzzBooks() []testBook {
	return []testBook{
		oneSheet([][]byte{dateModeRec(1)},
			numberRec(0, 0, xfDate14, 45366), rkRec(0, 1, xfTime21, rkFloat(0.5)),
			mulRKRec(1, 0, xfGeneral, rkInt(1), xfElapsed46, rkInt(2)),
			labelRec(2, 0, "héllo 日本"), rstringRec(2, 1, "rich"),
			boolErrRec(3, 0, 1, false), boolErrRec(3, 1, 0x2A, true),
			formulaSpecial(4, 0, 0, 0), stringRec("s"), formulaSpecial(4, 1, 1, 1), formulaNum(4, 2, xfDateTime22, 1.5),
			labelRec(6, 0, "m"), labelRec(6, 1, "hidden"), mergeRec([4]int{6, 7, 0, 1}),
		),
		{
			globals: append(stdGlobals(), sstRecs(24, "a", "日本語 and more", "", "xyz")...),
			sheets: []testSheet{
				{name: "Chart", kind: 2},
				{name: "S", hidden: 1, recs: [][]byte{labelSSTRec(1, 0, 0, 1), labelSSTRec(0, 2, 0, 3), labelSSTRec(0, 0, 0, 0)}},
			},
		},
	}
}

func fuzzFiles(t testing.TB) [][]byte {
	names, err := filepath.Glob(filepath.Join("testdata", "*.xls"))
	require.NoError(t, err)
	require.NotEmpty(t, names)
	var files [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		require.NoError(t, err)
		// big.xls holds the same records as the others, 20 000 times:
		// as a seed it would only make every mutation slow.
		if len(b) < 256<<10 {
			files = append(files, b)
		}
	}
	for _, b := range fuzzBooks() {
		files = append(files, b.file())
	}
	return files
}

// FuzzRows opens any bytes as a .xls file and reads every sheet: the
// result is rows that keep Next's promises or a known error, never a panic.
// It is seeded with the testdata files.
func FuzzRows(f *testing.F) {
	for _, b := range fuzzFiles(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		noRecover(t)
		wb, err := openBytes(data, Limits{MaxBytes: 4 << 20})
		if err != nil {
			require.True(t, knownError(err), "%v", err)
			return
		}
		readAllSheets(t, wb)
	})
}

// FuzzWorkbookStream reads any bytes as a workbook stream, past the
// compound file layer that mutations of whole files mostly break. It is
// seeded with the streams of the testdata files and of crafted workbooks.
func FuzzWorkbookStream(f *testing.F) {
	for _, b := range fuzzFiles(f) {
		if wb, err := openBytes(b, Limits{}); err == nil {
			f.Add(wb.stream)
		}
	}
	for _, b := range fuzzBooks() {
		f.Add(b.stream())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		noRecover(t)
		readStream(t, data, Limits{MaxStrings: 1 << 20, MaxCellBytes: 1 << 16})
	})
}
