package xls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"
)

// row is one row as Next returned it.
type row struct {
	n     int64
	cells []string
}

func testFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func openBytes(b []byte, l Limits) (*Workbook, error) {
	return Open(bytes.NewReader(b), int64(len(b)), l)
}

func mustOpen(t testing.TB, b []byte) *Workbook {
	t.Helper()
	wb, err := openBytes(b, Limits{})
	require.NoError(t, err)
	return wb
}

func sheetNamed(t testing.TB, wb *Workbook, name string) Sheet {
	t.Helper()
	for _, s := range wb.Sheets() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no sheet %q in %v", name, wb.Sheets())
	return Sheet{}
}

// readRows reads a sheet to its end and returns the rows and the error that
// ended it (nil for io.EOF).
func readRows(t testing.TB, wb *Workbook, s Sheet) ([]row, error) {
	t.Helper()
	rr, err := wb.Rows(s)
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	var rows []row
	for {
		n, cells, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, row{n, cells})
	}
}

// byCell maps A1-style names to the non-empty values of the rows.
func byCell(rows []row) map[string]string {
	m := map[string]string{}
	for _, r := range rows {
		for c, v := range r.cells {
			if v != "" {
				m[cellName(int(r.n)-1, c)] = v
			}
		}
	}
	return m
}

func sheetCells(t testing.TB, wb *Workbook, name string) map[string]string {
	t.Helper()
	rows, err := readRows(t, wb, sheetNamed(t, wb, name))
	require.NoError(t, err)
	return byCell(rows)
}

// --- BIFF8 records --------------------------------------------------------

func le16(v int) []byte    { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func lef64(v float64) []byte {
	return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v))
}

func rec(id uint16, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(append(le16(int(id)), le16(len(body))...), body...)
}

func bofRec(dt int) []byte { return rec(recBOF, le16(biff8), le16(dt), make([]byte, 12)) }
func eofRec() []byte       { return rec(recEOF) }

// chars encodes s as BIFF8 characters: compressed when every character is
// Latin-1, UTF-16LE otherwise.
func chars(s string) (flags byte, cch int, data []byte) {
	units := utf16.Encode([]rune(s))
	high := false
	for _, u := range units {
		high = high || u > 0xFF
	}
	for _, u := range units {
		if high {
			data = append(data, le16(int(u))...)
		} else {
			data = append(data, byte(u))
		}
	}
	if high {
		flags = 1
	}
	return flags, len(units), data
}

func xlString(s string) []byte {
	flags, cch, data := chars(s)
	return append(append(le16(cch), flags), data...)
}

func cellHead(row, col, xf int) []byte {
	return bytes.Join([][]byte{le16(row), le16(col), le16(xf)}, nil)
}

func numberRec(row, col, xf int, v float64) []byte {
	return rec(recNumber, cellHead(row, col, xf), lef64(v))
}

func rkRec(row, col, xf int, rk uint32) []byte { return rec(recRK, cellHead(row, col, xf), le32(rk)) }

func mulRKRec(row, col int, xfRKs ...uint32) []byte {
	body := append(le16(row), le16(col)...)
	for i := 0; i < len(xfRKs); i += 2 {
		body = append(append(body, le16(int(xfRKs[i]))...), le32(xfRKs[i+1])...)
	}
	return rec(recMulRK, body, le16(col+len(xfRKs)/2-1))
}

func labelSSTRec(row, col, xf int, i uint32) []byte {
	return rec(recLabelSST, cellHead(row, col, xf), le32(i))
}

func labelRec(row, col int, s string) []byte {
	return rec(recLabel, cellHead(row, col, 0), xlString(s))
}

func rstringRec(row, col int, s string) []byte {
	// One formatting run: at character 0, font 0.
	return rec(recRString, cellHead(row, col, 0), xlString(s), le16(1), le16(0), le16(0))
}

func blankRec(row, col int) []byte { return rec(recBlank, cellHead(row, col, 0)) }

func boolErrRec(row, col int, v byte, isErr bool) []byte {
	e := byte(0)
	if isErr {
		e = 1
	}
	return rec(recBoolErr, cellHead(row, col, 0), []byte{v, e})
}

// formulaRec is a FORMULA record with the cached value val and an empty
// formula.
func formulaRec(row, col, xf int, val []byte) []byte {
	return rec(recFormula, cellHead(row, col, xf), val, le16(0), le32(0), le16(0))
}

func formulaNum(row, col, xf int, v float64) []byte { return formulaRec(row, col, xf, lef64(v)) }

// formulaSpecial is a FORMULA record whose cached result is a string (0),
// boolean (1), error (2) or empty string (3).
func formulaSpecial(row, col int, typ, v byte) []byte {
	return formulaRec(row, col, 0, []byte{typ, 0, v, 0, 0, 0, 0xFF, 0xFF})
}

func stringRec(s string) []byte { return rec(recString, xlString(s)) }

func mergeRec(ranges ...[4]int) []byte {
	body := le16(len(ranges))
	for _, r := range ranges {
		for _, v := range r {
			body = append(body, le16(v)...)
		}
	}
	return rec(recMergeCells, body)
}

func formatRec(id int, code string) []byte { return rec(recFormat, le16(id), xlString(code)) }

func xfRec(format int) []byte { return rec(recXF, le16(0), le16(format), make([]byte, 16)) }

func dateModeRec(v int) []byte { return rec(recDateMode, le16(v)) }

// sstRecs writes a shared string table split into records of at most max
// bytes the way Excel splits it: a string header never split, characters
// split between whole characters with a flags byte at the start of the
// CONTINUE record, compressed again once the rest of the string is Latin-1.
func sstRecs(max int, strs ...string) [][]byte {
	var recs [][]byte
	cur := append(le32(uint32(len(strs))), le32(uint32(len(strs)))...)
	id := uint16(recSST)
	flush := func() {
		recs = append(recs, rec(id, cur))
		id, cur = recContinue, nil
	}
	for _, s := range strs {
		units := utf16.Encode([]rune(s))
		flags, _, _ := chars(s)
		if max-len(cur) < 4 {
			flush()
		}
		cur = append(append(cur, le16(len(units))...), flags)
		for len(units) > 0 {
			width := 1 + int(flags)
			k := min(len(units), (max-len(cur))/width)
			for _, u := range units[:k] {
				if flags == 1 {
					cur = append(cur, le16(int(u))...)
				} else {
					cur = append(cur, byte(u))
				}
			}
			units = units[k:]
			if len(units) > 0 {
				flush()
				flags, _, _ = chars(string(utf16.Decode(units)))
				cur = append(cur, flags)
			}
		}
	}
	return append(recs, rec(id, cur))
}

// --- workbook and compound file --------------------------------------------

type testSheet struct {
	name   string
	hidden byte // 0 visible, 1 hidden, 2 very hidden
	kind   byte // BOUNDSHEET8 dt: 0 worksheet, 2 chart
	recs   [][]byte
}

type testBook struct {
	globals [][]byte // after BOF, before the BOUNDSHEET records
	sheets  []testSheet
}

// xfGeneral and friends index the XF records of stdGlobals.
const (
	xfGeneral = iota
	xfDate14
	xfDateTime22
	xfTime21
	xfElapsed46
	xfTime45
	xfCustomDate
	xfCustomText
)

// stdGlobals are globals with XF records for the built-in and a few custom
// formats.
func stdGlobals(extra ...[]byte) [][]byte {
	g := [][]byte{
		formatRec(164, "yyyy\\-mm\\-dd"),
		formatRec(165, "@"),
		xfRec(0), xfRec(14), xfRec(22), xfRec(21), xfRec(46), xfRec(45), xfRec(164), xfRec(165),
	}
	return append(g, extra...)
}

// stream lays out the workbook stream: globals, BOUNDSHEET records with
// the offsets of the sheets, then the sheets.
func (b testBook) stream() []byte {
	build := func(offsets []uint32) []byte {
		var out []byte
		out = append(out, bofRec(bofGlobals)...)
		for _, g := range b.globals {
			out = append(out, g...)
		}
		for i, s := range b.sheets {
			var pos uint32
			if offsets != nil {
				pos = offsets[i]
			}
			flags, cch, data := chars(s.name)
			out = append(out, rec(recBoundSheet, le32(pos), []byte{s.hidden, s.kind, byte(cch), flags}, data)...)
		}
		out = append(out, eofRec()...)
		for _, s := range b.sheets {
			dt := bofSheet
			if s.kind == 2 {
				dt = 0x0020
			}
			out = append(out, bofRec(dt)...)
			for _, r := range s.recs {
				out = append(out, r...)
			}
			out = append(out, eofRec()...)
		}
		return out
	}
	first := build(nil)
	offsets := make([]uint32, len(b.sheets))
	// The sheets follow the globals in order; measure them.
	pos := len(first)
	for i := len(b.sheets) - 1; i >= 0; i-- {
		size := len(bofRec(0)) + len(eofRec())
		for _, r := range b.sheets[i].recs {
			size += len(r)
		}
		pos -= size
		offsets[i] = uint32(pos)
	}
	return build(offsets)
}

// file is the workbook as an .xls file.
func (b testBook) file() []byte { return cfb("Workbook", b.stream()) }

// oneSheet is a workbook with standard globals (plus extra) and one sheet
// "S" holding recs.
func oneSheet(extra [][]byte, recs ...[]byte) testBook {
	return testBook{globals: stdGlobals(extra...), sheets: []testSheet{{name: "S", recs: recs}}}
}

// cfb wraps one stream in a version 3 compound file with 512-byte sectors.
// The stream is padded to 4096 bytes so that it lives in regular sectors.
func cfb(name string, stream []byte) []byte {
	const (
		ss       = 512
		endChain = 0xFFFFFFFE
		fatSect  = 0xFFFFFFFD
		free     = 0xFFFFFFFF
		noStream = 0xFFFFFFFF
	)
	size := len(stream)
	data := append([]byte(nil), stream...)
	if len(data) < 4096 {
		data = append(data, make([]byte, 4096-len(data))...)
		size = 4096
	}
	for len(data)%ss != 0 {
		data = append(data, 0)
	}
	nData := len(data) / ss
	nFat := 1
	for (nData+nFat+1+127)/128 > nFat {
		nFat++
	}
	if nFat > 109 {
		panic("test stream too large for a DIFAT-less compound file")
	}
	dirSect := nData + nFat
	fat := make([]uint32, nFat*128)
	for i := range fat {
		fat[i] = free
	}
	for i := range nData {
		fat[i] = uint32(i + 1)
	}
	fat[nData-1] = endChain
	for i := range nFat {
		fat[nData+i] = fatSect
	}
	fat[dirSect] = endChain

	h := make([]byte, ss)
	copy(h, oleSignature)
	binary.LittleEndian.PutUint16(h[24:], 0x3E)
	binary.LittleEndian.PutUint16(h[26:], 3)
	binary.LittleEndian.PutUint16(h[28:], 0xFFFE)
	binary.LittleEndian.PutUint16(h[30:], 9)
	binary.LittleEndian.PutUint16(h[32:], 6)
	binary.LittleEndian.PutUint32(h[44:], uint32(nFat))
	binary.LittleEndian.PutUint32(h[48:], uint32(dirSect))
	binary.LittleEndian.PutUint32(h[56:], 4096)
	binary.LittleEndian.PutUint32(h[60:], endChain)
	binary.LittleEndian.PutUint32(h[68:], endChain)
	for i := range 109 {
		v := uint32(free)
		if i < nFat {
			v = uint32(nData + i)
		}
		binary.LittleEndian.PutUint32(h[76+4*i:], v)
	}

	entry := func(name string, typ byte, child, start uint32, size int) []byte {
		e := make([]byte, 128)
		u := utf16.Encode([]rune(name))
		for i, c := range u {
			binary.LittleEndian.PutUint16(e[2*i:], c)
		}
		binary.LittleEndian.PutUint16(e[64:], uint16(2*len(u)+2))
		e[66], e[67] = typ, 1
		binary.LittleEndian.PutUint32(e[68:], noStream)
		binary.LittleEndian.PutUint32(e[72:], noStream)
		binary.LittleEndian.PutUint32(e[76:], child)
		binary.LittleEndian.PutUint32(e[116:], start)
		binary.LittleEndian.PutUint64(e[120:], uint64(size))
		return e
	}
	dir := append(entry("Root Entry", 5, 1, endChain, 0), entry(name, 2, noStream, 0, size)...)
	empty := entry("", 0, noStream, 0, 0)
	empty[64], empty[65] = 0, 0
	dir = append(append(dir, empty...), empty...)

	out := append(h, data...)
	for _, v := range fat {
		out = binary.LittleEndian.AppendUint32(out, v)
	}
	return append(out, dir...)
}
