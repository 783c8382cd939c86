package xlsx

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

const (
	bigRows    = 1_000_000
	bigColumns = 12
)

// writeBigWorkbook writes, with excelize's StreamWriter, a workbook with one
// sheet of rows rows of bigColumns columns: a header row, then text ids with
// leading zeros, strings, integers, decimals, dates, date-times, booleans and
// 16-digit numbers. excelize writes strings inline.
func writeBigWorkbook(path string, rows int) error {
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return err
	}
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	if err != nil {
		return err
	}
	header := []any{"id", "name", "city", "qty", "price", "date", "updated", "ratio", "active", "code", "account", "note"}
	if err := sw.SetRow("A1", header); err != nil {
		return err
	}
	cities := []string{"Lisboa", "Porto", "Faro", "Braga", "Évora"}
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	row := make([]any, bigColumns)
	for i := 1; i < rows; i++ {
		d := base.Add(time.Duration(i%2000) * 24 * time.Hour)
		row[0] = fmt.Sprintf("%08d", i)
		row[1] = fmt.Sprintf("customer %d", i)
		row[2] = cities[i%len(cities)]
		row[3] = i % 1000
		row[4] = float64(i%100000) / 100
		row[5] = excelize.Cell{StyleID: dateStyle, Value: d}
		row[6] = d.Add(time.Duration(i%86400) * time.Second)
		row[7] = float64(i) / 7
		row[8] = i%2 == 0
		row[9] = fmt.Sprintf("C-%x", i*7919)
		row[10] = int64(1_000_000_000_000_000) + int64(i)
		row[11] = "ok"
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := sw.SetRow(cell, row); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.SaveAs(path)
}

// readBig reads every row of a workbook written by writeBigWorkbook and
// returns the row count and the peak heap in use, sampled every 10 000 rows.
func readBig(tb testing.TB, path string) (rows int, peak uint64) {
	tb.Helper()
	fh, err := os.Open(path)
	require.NoError(tb, err)
	defer fh.Close()
	st, err := fh.Stat()
	require.NoError(tb, err)
	var ms runtime.MemStats
	runtime.GC() // leave out what generating the workbook left behind
	sample := func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	w, err := Open(fh, st.Size(), Limits{})
	require.NoError(tb, err)
	rr, err := w.Rows(w.Sheets()[0])
	require.NoError(tb, err)
	defer rr.Close()
	for {
		_, cells, err := rr.Next()
		if err == io.EOF {
			break
		}
		// Plain checks: require's helpers would weigh in the benchmark.
		if err != nil {
			tb.Fatalf("row %d: %v", rows+1, err)
		}
		if len(cells) != bigColumns {
			tb.Fatalf("row %d has %d cells, want %d: %q", rows+1, len(cells), bigColumns, cells)
		}
		rows++
		if rows%10_000 == 0 {
			sample()
		}
	}
	sample()
	return rows, peak
}

// BenchmarkRows reads a 1 000 000-row, 12-column sheet written by excelize
// and reports rows per second and the peak heap in use.
func BenchmarkRows(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.xlsx")
	start := time.Now()
	require.NoError(b, writeBigWorkbook(path, bigRows))
	b.Logf("generated %d rows in %v", bigRows, time.Since(start))
	var rows int
	var peak uint64
	for b.Loop() {
		rows, peak = readBig(b, path)
	}
	require.Equal(b, bigRows, rows)
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// TestBigSheetMemory reads 1 000 000 rows and checks that the heap stays
// bounded by one row plus the shared strings. The workbook is written by
// writeSharedWorkbook, much faster than excelize, which matters under -race.
func TestBigSheetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads a generated 1 000 000-row sheet")
	}
	path := filepath.Join(t.TempDir(), "shared.xlsx")
	start := time.Now()
	writeSharedWorkbook(t, path, bigRows)
	t.Logf("generated %d rows in %v", bigRows, time.Since(start))
	start = time.Now()
	rows, peak := readBig(t, path)
	t.Logf("read %d rows in %v, peak heap %d MiB", rows, time.Since(start), peak>>20)
	require.Equal(t, bigRows, rows)
	require.Less(t, peak, uint64(300<<20))
}

// sharedStrings is the number of distinct strings writeSharedWorkbook puts
// in the shared string table: about 8 MiB of text.
const sharedStringCount = 200_000

// writeSharedWorkbook writes a workbook the way Excel does, with shared
// strings, and bigColumns columns in each of rows rows: a text id with
// leading zeros, shared strings, integers, decimals, a date, a date-time, a
// boolean, a formula with a cached string and a 16-digit number. The parts
// are stored uncompressed, to keep the test fast under -race.
func writeSharedWorkbook(tb testing.TB, path string, rows int) {
	tb.Helper()
	fh, err := os.Create(path)
	require.NoError(tb, err)
	defer fh.Close()
	zw := zip.NewWriter(fh)
	b := book{
		sheets: []bookSheet{{name: "Data"}},
		sst:    " ",
		styles: stylesXML(map[int]string{164: "yyyy-mm-dd hh:mm"}, 0, 14, 164),
	}
	skeleton := b.bytes(tb)
	zr, err := zip.NewReader(bytes.NewReader(skeleton), int64(len(skeleton)))
	require.NoError(tb, err)
	for _, f := range zr.File {
		if f.Name != "xl/worksheets/sheet1.xml" && f.Name != "xl/sharedStrings.xml" {
			require.NoError(tb, zw.Copy(f))
		}
	}
	part := func(name string, write func(w *bufio.Writer)) {
		pw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		require.NoError(tb, err)
		bw := bufio.NewWriterSize(pw, 1<<20)
		write(bw)
		require.NoError(tb, bw.Flush())
	}
	part("xl/sharedStrings.xml", func(w *bufio.Writer) {
		w.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" + `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
		for i := range sharedStringCount {
			fmt.Fprintf(w, "<si><t>customer %d</t></si>", i)
		}
		w.WriteString("</sst>")
	})
	part("xl/worksheets/sheet1.xml", func(w *bufio.Writer) {
		w.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" + `<worksheet ` + nsMain + `><dimension ref="A1:L1000000"/><sheetData>`)
		var buf []byte
		cell := func(col byte, r int, attrs string) {
			buf = append(buf, `<c r="`...)
			buf = append(buf, col)
			buf = strconv.AppendInt(buf, int64(r), 10)
			buf = append(buf, '"')
			buf = append(buf, attrs...)
			buf = append(buf, `><v>`...)
		}
		end := func() { buf = append(buf, `</v></c>`...) }
		for r := 1; r <= rows; r++ {
			buf = append(buf[:0], `<row r="`...)
			buf = strconv.AppendInt(buf, int64(r), 10)
			buf = append(buf, `" spans="1:12">`...)
			buf = append(buf, `<c r="A`...)
			buf = strconv.AppendInt(buf, int64(r), 10)
			buf = append(buf, `" t="inlineStr"><is><t>`...)
			buf = fmt.Appendf(buf, "%08d", r)
			buf = append(buf, `</t></is></c>`...)
			cell('B', r, ` t="s"`)
			buf = strconv.AppendInt(buf, int64(r%sharedStringCount), 10)
			end()
			cell('C', r, ` t="s"`)
			buf = strconv.AppendInt(buf, int64(r*7%sharedStringCount), 10)
			end()
			cell('D', r, ``)
			buf = strconv.AppendInt(buf, int64(r%1000), 10)
			end()
			cell('E', r, ``)
			buf = strconv.AppendFloat(buf, float64(r%100000)/100, 'f', -1, 64)
			end()
			cell('F', r, ` s="1"`)
			buf = strconv.AppendInt(buf, int64(43831+r%2000), 10)
			end()
			cell('G', r, ` s="2"`)
			buf = strconv.AppendFloat(buf, float64(43831+r%2000)+float64(r%86400)/86400, 'g', -1, 64)
			end()
			cell('H', r, ``)
			buf = strconv.AppendFloat(buf, float64(r)/7, 'g', -1, 64)
			end()
			cell('I', r, ` t="b"`)
			buf = strconv.AppendInt(buf, int64(r%2), 10)
			end()
			buf = append(buf, `<c r="J`...)
			buf = strconv.AppendInt(buf, int64(r), 10)
			buf = append(buf, `" t="str"><f>"C-"&amp;D1</f><v>C-`...)
			buf = strconv.AppendInt(buf, int64(r*7919), 16)
			end()
			cell('K', r, ``)
			buf = strconv.AppendInt(buf, 1_000_000_000_000_000+int64(r), 10)
			end()
			cell('L', r, ` t="s"`)
			buf = strconv.AppendInt(buf, int64(r*13%sharedStringCount), 10)
			end()
			buf = append(buf, "</row>"...)
			w.Write(buf)
		}
		w.WriteString(`</sheetData></worksheet>`)
	})
	require.NoError(tb, zw.Close())
}
