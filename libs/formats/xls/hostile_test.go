package xls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

// knownError reports whether err is one of the errors the package promises.
func knownError(err error) bool {
	var le *LimitError
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrNotXLS) || errors.Is(err, ErrXLSX) ||
		errors.Is(err, ErrEncrypted) || errors.Is(err, ErrBIFF5) || errors.As(err, &le)
}

// noRecover turns the recover boundary off for one test, so that a panic
// fails it instead of passing as a malformed-workbook error.
func noRecover(t testing.TB) {
	recoverPanics = false
	t.Cleanup(func() { recoverPanics = true })
}

// filler is an unknown record that makes a stream longer than 4096 bytes,
// so that the compound file holds it without padding.
func filler() []byte { return rec(0x0001, make([]byte, 4200)) }

func xlsxFile(t testing.TB) []byte {
	t.Helper()
	f := excelize.NewFile()
	require.NoError(t, f.SetCellValue("Sheet1", "A1", "x"))
	buf, err := f.WriteToBuffer()
	require.NoError(t, err)
	return buf.Bytes()
}

func TestOpenRejects(t *testing.T) {
	biff5 := oneSheet(nil).stream()
	binary.LittleEndian.PutUint16(biff5[4:], biff5Version)
	oversized := cfb("Workbook", oneSheet(nil).stream())
	binary.LittleEndian.PutUint32(oversized[44:], 1<<30) // FAT sectors
	huge := cfb("Workbook", oneSheet(nil).stream())
	binary.LittleEndian.PutUint64(huge[len(huge)-3*128+120:], 1<<40) // the stream's size

	tests := []struct {
		name    string
		file    []byte
		is      error
		message string
	}{
		{"empty", nil, ErrNotXLS, "not an Excel 97-2003 workbook: the file is empty"},
		{"text", []byte("name,amount\nx,1\n"), ErrNotXLS, "not an Excel 97-2003 workbook: it is a text file (CSV or tab-separated text saved under an .xls name?)"},
		{"text cut in a character", append(bytes.Repeat([]byte("a"), 511), "日"[0]), ErrNotXLS, "not an Excel 97-2003 workbook: it is a text file (CSV or tab-separated text saved under an .xls name?)"},
		{"binary", []byte{0x00, 0x01, 0xFE, 0xFF, 0x10}, ErrNotXLS, "not an Excel 97-2003 workbook"},
		{"one byte", []byte{0x09}, ErrNotXLS, ""},
		{"html", []byte("\xEF\xBB\xBF  <html><table><tr><td>1</td></tr></table></html>"), ErrNotXLS, "not an Excel 97-2003 workbook: it is an HTML or XML file (a web page or Excel 2003 XML saved under an .xls name)"},
		{"xlsx", xlsxFile(t), ErrXLSX, "this is an XLSX (zip) workbook, not an Excel 97-2003 one: read it as .xlsx"},
		{"BIFF2 stream", rec(0x0009, le16(2), le16(0x10)), ErrBIFF5, ""},
		{"BIFF5 Book stream", cfb("Book", oneSheet(nil).stream()), ErrBIFF5, "Excel 5.0/95 workbooks are not supported; save as .xls 97-2003 or .xlsx"},
		{"BIFF5 BOF", cfb("Workbook", biff5), ErrBIFF5, ""},
		{"Word document", cfb("WordDocument", make([]byte, 100)), ErrNotXLS, ""},
		{"encrypted XLSX", cfb("EncryptedPackage", make([]byte, 100)), ErrEncrypted, ""},
		{"FILEPASS", oneSheet([][]byte{rec(recFilePass, le16(1), make([]byte, 52))}).file(), ErrEncrypted, "the workbook is encrypted (password-protected)"},
		{"short compound file", oleSignature, ErrMalformed, ""},
		{"sector counts past the file", oversized, ErrMalformed, ""},
		{"stream larger than the file", huge, ErrMalformed, ""},
		{"no BOF", cfb("Workbook", bytes.Repeat(eofRec(), 2000)), ErrMalformed, ""},
		{"sheet BOF first", cfb("Workbook", append(bofRec(bofSheet), eofRec()...)), ErrMalformed, ""},
		{"globals without EOF", cfb("Workbook", append(bofRec(bofGlobals), filler()...)), ErrMalformed, ""},
		{"truncated record", cfb("Workbook", append(bofRec(bofGlobals), filler()[:4100]...)), ErrMalformed, ""},
		{"sheet past the end", cfb("Workbook", bytes.Join([][]byte{
			bofRec(bofGlobals), rec(recBoundSheet, le32(1<<20), []byte{0, 0, 1, 0}, []byte("S")), eofRec(), filler(),
		}, nil)), ErrMalformed, ""},
		{"SST truncated in a string", cfb("Workbook", bytes.Join([][]byte{
			bofRec(bofGlobals), rec(recSST, le32(1), le32(1), le16(10), []byte{0}, []byte("abc")), eofRec(), filler(),
		}, nil)), ErrMalformed, ""},
		{"SST phonetic size negative", cfb("Workbook", bytes.Join([][]byte{
			bofRec(bofGlobals), rec(recSST, le32(1), le32(1), le16(1), []byte{0x04}, le32(0xFFFFFFF0), []byte("a")), eofRec(), filler(),
		}, nil)), ErrMalformed, ""},
		{"short XF", oneSheet([][]byte{rec(recXF, []byte{1})}).file(), ErrMalformed, ""},
		{"short DATEMODE", oneSheet([][]byte{rec(recDateMode)}).file(), ErrMalformed, ""},
		{"short FORMAT", oneSheet([][]byte{rec(recFormat, le16(164), le16(10), []byte{0}, []byte("yy"))}).file(), ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noRecover(t)
			_, err := openBytes(tt.file, Limits{})
			require.ErrorIs(t, err, tt.is)
			if tt.message != "" {
				require.EqualError(t, err, tt.message)
			}
		})
	}
}

// biff5Version is the BOF version of Excel 5.0 and 95.
const biff5Version = biff5

func TestSheetRejects(t *testing.T) {
	tests := []struct {
		name string
		recs [][]byte
		want string // part of the error
	}{
		{"shared string out of range", [][]byte{labelSSTRec(4, 2, 0, 7)}, "cell C5: shared string 7 does not exist, the table has 0"},
		{"short NUMBER", [][]byte{rec(recNumber, cellHead(0, 0, 0), []byte{1, 2})}, "cell record 0x0203"},
		{"MULRK with a partial entry", [][]byte{rec(recMulRK, le16(0), le16(0), le16(0), le32(2), le16(0), le16(0))}, "cell record 0x00BD"},
		{"LABEL shorter than its count", [][]byte{rec(recLabel, cellHead(0, 0, 0), le16(50), []byte{0}, []byte("abc"))}, "cell A1: the string runs past the end"},
		{"UTF-16 LABEL of odd length", [][]byte{rec(recLabel, cellHead(0, 0, 0), le16(2), []byte{1}, []byte("abc"))}, "cell A1: the string runs past the end"},
		{"unknown error code", [][]byte{boolErrRec(0, 1, 0x99, true)}, "cell B1: unknown error code 0x99"},
		{"unknown formula result", [][]byte{formulaSpecial(0, 0, 9, 0)}, "unknown formula result type 9"},
		{"formula string without STRING", [][]byte{formulaSpecial(0, 0, 0, 0), labelRec(1, 0, "x")}, "cell A1: the formula's string result has no STRING record"},
		{"NaN", [][]byte{numberRec(0, 0, 0, math.NaN())}, "cell A1: the number NaN is not finite"},
		{"short MERGECELLS", [][]byte{rec(recMergeCells, le16(1000), make([]byte, 16))}, "MERGECELLS record"},
		{"nested BOF never closed", [][]byte{bofRec(0x20), labelRec(0, 0, "x")}, "past the end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noRecover(t)
			wb := mustOpen(t, oneSheet(nil, tt.recs...).file())
			_, err := readRows(t, wb, wb.Sheets()[0])
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, tt.want)
		})
	}

	t.Run("the first sheet's offset points at the globals", func(t *testing.T) {
		noRecover(t)
		s := oneSheet(nil, labelRec(0, 0, "x")).stream()
		// BOUNDSHEET8 follows the stdGlobals; its lbPlyPos is its first field.
		wb, err := openStream(s, Limits{}.withDefaults())
		require.NoError(t, err)
		wb.sheets[0].offset = 0
		_, err = wb.Rows(wb.Sheets()[0])
		require.ErrorContains(t, err, "not a worksheet")
	})
	t.Run("errors are sticky", func(t *testing.T) {
		wb := mustOpen(t, oneSheet(nil, labelRec(0, 0, "ok"), labelSSTRec(1, 0, 0, 3)).file())
		rr, err := wb.Rows(wb.Sheets()[0])
		require.NoError(t, err)
		_, _, err = rr.Next()
		require.NoError(t, err)
		_, _, err1 := rr.Next()
		_, _, err2 := rr.Next()
		require.ErrorIs(t, err1, ErrMalformed)
		require.Equal(t, err1, err2)
	})
}

func TestHugeDeclaredCounts(t *testing.T) {
	noRecover(t)
	b := testBook{
		globals: append(stdGlobals(), rec(recSST, le32(0xFFFFFFFF), le32(0xFFFFFFFF), le16(2), []byte{0}, []byte("ok"))),
		sheets: []testSheet{{name: "S", recs: [][]byte{
			rec(0x0200, le32(0), le32(0xFFFFFFFF), le16(0), le16(0xFFFF), le16(0)), // DIMENSIONS
			labelSSTRec(0, 0, 0, 0),
		}}},
	}
	wb := mustOpen(t, b.file())
	require.Equal(t, map[string]string{"A1": "ok"}, sheetCells(t, wb, "S"))
}

func TestLimits(t *testing.T) {
	values := testFile(t, "values.xls")
	tests := []struct {
		name   string
		limits Limits
		sheet  string
		want   LimitError
		msg    string
	}{
		{
			name: "file size", limits: Limits{MaxBytes: 1000},
			want: LimitError{What: "file size in bytes", Limit: 1000, Found: int64(len(values))},
			msg:  "file size in bytes is 37376, over the limit of 1000",
		},
		{
			name: "shared strings", limits: Limits{MaxStrings: 100},
			want: LimitError{What: "shared string table size in bytes", Limit: 100, Found: 103},
		},
		{
			name: "columns", limits: Limits{MaxColumns: 26}, sheet: "Sparse",
			want: LimitError{What: "column number", Limit: 26, Found: 256, Sheet: "Sparse", Row: 200, Column: 256},
			msg:  `sheet "Sparse", row 200, column IV: column number is 256, over the limit of 26`,
		},
		{
			name: "rows", limits: Limits{MaxRows: 150}, sheet: "Sparse",
			want: LimitError{What: "row number", Limit: 150, Found: 200, Sheet: "Sparse", Row: 200},
		},
		{
			name: "cell size", limits: Limits{MaxCellBytes: 8999}, sheet: "Values",
			want: LimitError{What: "cell size in bytes", Limit: 8999, Found: 9000, Sheet: "Values", Row: 26, Column: 2},
			msg:  `sheet "Values", row 26, column B: cell size in bytes is 9000, over the limit of 8999`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wb, err := openBytes(values, tt.limits)
			if tt.sheet != "" {
				require.NoError(t, err)
				_, err = readRows(t, wb, sheetNamed(t, wb, tt.sheet))
			}
			var le *LimitError
			require.ErrorAs(t, err, &le)
			if tt.want.What == "shared string table size in bytes" {
				tt.want.Found = le.Found // wherever the table passed the limit
				require.Greater(t, le.Found, int64(100))
			}
			require.Equal(t, tt.want, *le)
			if tt.msg != "" {
				require.EqualError(t, err, tt.msg)
			}
		})
	}
}

// panicReader fails like a buggy io.ReaderAt.
type panicReader struct{}

func (panicReader) ReadAt([]byte, int64) (int, error) { panic("boom") }

func TestRecoverBoundary(t *testing.T) {
	_, err := Open(panicReader{}, 10000, Limits{})
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "boom")

	wb := mustOpen(t, oneSheet(nil, numberRec(0, 0, 0, 1)).file())
	rr, err := wb.Rows(wb.Sheets()[0])
	require.NoError(t, err)
	rr.held = &cellRef{rec: record{id: recNumber, data: []byte{0, 0}}} // a record no walk lets through
	_, _, err = rr.Next()
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, `sheet "S"`)
}

// TestDamagedFiles cuts and flips the LibreOffice files and the stream of a
// crafted one: every outcome must be a result or a known error, never a
// panic.
func TestDamagedFiles(t *testing.T) {
	noRecover(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	files := [][]byte{testFile(t, "values.xls"), testFile(t, "date1904.xls")}
	for _, f := range files {
		for _, n := range []int{0, 7, 8, 511, 512, 1024, 4096, len(f) / 2, len(f) - 512, len(f) - 1} {
			readDamaged(t, f[:n])
		}
		for range 300 {
			g := bytes.Clone(f)
			for range 1 + rnd.IntN(8) {
				g[rnd.IntN(len(g))] = byte(rnd.Uint32())
			}
			readDamaged(t, g)
		}
	}
	wb := mustOpen(t, files[0])
	stream := wb.stream
	for range 2000 {
		s := bytes.Clone(stream)
		for range 1 + rnd.IntN(4) {
			s[rnd.IntN(len(s))] = byte(rnd.Uint32())
		}
		if rnd.IntN(4) == 0 {
			s = s[:rnd.IntN(len(s))]
		}
		readStream(t, s, Limits{})
	}
}

func readDamaged(t *testing.T, b []byte) {
	t.Helper()
	wb, err := openBytes(b, Limits{})
	if err != nil {
		require.True(t, knownError(err), "%v", err)
		return
	}
	readAllSheets(t, wb)
}

func readStream(t testing.TB, s []byte, l Limits) {
	wb, err := openStream(s, l.withDefaults())
	if err != nil {
		require.True(t, knownError(err), "%v", err)
		return
	}
	readAllSheets(t, wb)
}

// readAllSheets reads every sheet and checks what Next promises.
func readAllSheets(t testing.TB, wb *Workbook) {
	l := wb.limits
	for _, s := range wb.Sheets() {
		rr, err := wb.Rows(s)
		if err != nil {
			require.True(t, knownError(err), "%v", err)
			continue
		}
		last := int64(0)
		for {
			n, cells, err := rr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				require.True(t, knownError(err), "%v", err)
				break
			}
			// Plain checks: require's bookkeeping per cell would dominate
			// the time of the damage tests.
			if n <= last || n > l.MaxRows || len(cells) == 0 || cells[len(cells)-1] == "" || len(cells) > l.MaxColumns {
				t.Fatalf("sheet %q: row %d after row %d: %q", s.Name, n, last, cells)
			}
			for _, c := range cells {
				if len(c) > l.MaxCellBytes {
					t.Fatalf("sheet %q, row %d: a cell of %d bytes", s.Name, n, len(c))
				}
			}
			last = n
		}
		require.NoError(t, rr.Close())
	}
}
