package xls

import (
	"fmt"
	"io"
)

// Sheet is one worksheet of a workbook.
type Sheet struct {
	// Name is the name on the sheet's tab.
	Name string
	// Index is the 1-based position of the sheet's tab in the workbook,
	// hidden sheets and chart sheets counted.
	Index int
	// Hidden is set for hidden and very hidden sheets.
	Hidden bool
}

// Workbook is an open Excel 97-2003 workbook. Once open it is read-only:
// its methods may be called from several goroutines, and each RowReader
// may be used by one goroutine at a time.
type Workbook struct {
	stream   []byte
	limits   Limits
	sheets   []sheetEntry
	sst      []string
	xfKinds  []dateKind // how the format of each XF shows numbers
	date1904 bool
}

type sheetEntry struct {
	Sheet
	offset int // of the sheet's BOF record in the stream
}

// recoverPanics turns a panic in Open, Rows or Next into an error wrapping
// ErrMalformed, so that a bug met by a hostile file fails one upload, not
// the process. The fuzz tests turn it off to see the bugs.
var recoverPanics = true

// Open reads the workbook in the first size bytes of r: its workbook
// stream, its sheets, its shared strings and its cell formats. It returns
// ErrNotXLS, ErrXLSX, ErrEncrypted or ErrBIFF5 for files it cannot read, an
// error wrapping ErrMalformed for damaged ones and a *LimitError for files
// over the limits.
func Open(r io.ReaderAt, size int64, l Limits) (w *Workbook, err error) {
	defer func() {
		if p := recover(); p != nil {
			if !recoverPanics {
				panic(p)
			}
			w, err = nil, malformed("%v", p)
		}
	}()
	l = l.withDefaults()
	if size < 0 {
		return nil, fmt.Errorf("open workbook: the size %d is negative", size)
	}
	if size > l.MaxBytes {
		return nil, &LimitError{What: "file size in bytes", Limit: l.MaxBytes, Found: size}
	}
	if err := sniff(r, size); err != nil {
		return nil, err
	}
	stream, err := workbookStream(r, size)
	if err != nil {
		return nil, err
	}
	return openStream(stream, l)
}

// openStream reads the workbook globals of a workbook stream; l has its
// defaults.
func openStream(stream []byte, l Limits) (*Workbook, error) {
	w := &Workbook{stream: stream, limits: l}
	if err := w.readGlobals(); err != nil {
		return nil, err
	}
	return w, nil
}

// Sheets returns the worksheets in tab order, hidden ones included. Chart,
// macro and VBA sheets hold no cells and are left out.
func (w *Workbook) Sheets() []Sheet {
	out := make([]Sheet, len(w.sheets))
	for i, s := range w.sheets {
		out[i] = s.Sheet
	}
	return out
}

// Date1904 reports whether the workbook counts dates from 1904 (the old
// Macintosh date system) rather than from 1900.
func (w *Workbook) Date1904() bool { return w.date1904 }

// Rows returns a reader of the rows of s, which must be one of the sheets
// that Sheets returned.
func (w *Workbook) Rows(s Sheet) (rr *RowReader, err error) {
	defer func() {
		if p := recover(); p != nil {
			if !recoverPanics {
				panic(p)
			}
			rr, err = nil, malformed("sheet %q: %v", s.Name, p)
		}
	}()
	for _, e := range w.sheets {
		if e.Index == s.Index && e.Name == s.Name {
			return newRowReader(w, e)
		}
	}
	return nil, fmt.Errorf("read sheet %q: the workbook has no worksheet of that name at position %d", s.Name, s.Index)
}

// readGlobals reads the workbook globals substream, from the first BOF to
// its EOF.
func (w *Workbook) readGlobals() error {
	s := w.stream
	bof, err := readRecord(s, 0)
	if err != nil {
		return err
	}
	if bof.id != recBOF || len(bof.data) < 4 {
		return malformed("the Workbook stream does not start with a BOF record")
	}
	switch vers, dt := u16(bof.data), u16(bof.data[2:]); {
	case vers == 0x0200 || vers == 0x0300 || vers == 0x0400 || vers == biff5:
		return ErrBIFF5
	case vers != biff8:
		return malformed("unknown BIFF version 0x%04X", vers)
	case dt != bofGlobals:
		return malformed("the Workbook stream starts with a substream of type 0x%04X, not the workbook globals", dt)
	}
	formats := map[uint16]string{}
	var xfFormats []uint16
	tab := 0
	for off := bof.next(); ; {
		rec, err := readRecord(s, off)
		if err != nil {
			return fmt.Errorf("read workbook globals: %w", err)
		}
		off = rec.next()
		switch rec.id {
		case recEOF:
			w.xfKinds = xfKinds(xfFormats, formats)
			return nil
		case recBOF:
			return malformed("the workbook globals end without an EOF record")
		case recFilePass:
			return ErrEncrypted
		case recDateMode:
			if len(rec.data) < 2 {
				return malformed("DATEMODE record at byte %d is %d bytes long", rec.off, len(rec.data))
			}
			w.date1904 = u16(rec.data) == 1
		case recFormat:
			c, err := continued(s, rec)
			if err != nil {
				return err
			}
			id, ok := c.u16()
			code, ok2 := c.unicodeString()
			if !ok || !ok2 {
				return malformed("FORMAT record at byte %d %s", rec.off, errTruncated)
			}
			formats[id] = code
		case recXF:
			if len(rec.data) < 4 {
				return malformed("XF record at byte %d is %d bytes long", rec.off, len(rec.data))
			}
			xfFormats = append(xfFormats, u16(rec.data[2:]))
		case recBoundSheet:
			tab++
			if err := w.addSheet(rec, tab); err != nil {
				return err
			}
		case recSST:
			c, err := continued(s, rec)
			if err != nil {
				return err
			}
			if w.sst, err = readSST(c, w.limits.MaxStrings); err != nil {
				return err
			}
		}
	}
}

// addSheet records the worksheet of a BOUNDSHEET8 record.
func (w *Workbook) addSheet(rec record, tab int) error {
	if len(rec.data) < 8 {
		return malformed("BOUNDSHEET record at byte %d is %d bytes long", rec.off, len(rec.data))
	}
	pos, state, kind := u32(rec.data), rec.data[4]&0x03, rec.data[5]
	name, ok := (&cursor{segs: [][]byte{rec.data[6:]}}).shortString()
	if !ok {
		return malformed("BOUNDSHEET record at byte %d: the sheet name %s", rec.off, errTruncated)
	}
	if kind != sheetNormal {
		return nil
	}
	if int64(pos) >= int64(len(w.stream)) {
		return malformed("sheet %q starts at byte %d, past the end of the %d-byte stream", name, pos, len(w.stream))
	}
	w.sheets = append(w.sheets, sheetEntry{Sheet: Sheet{Name: name, Index: tab, Hidden: state != 0}, offset: int(pos)})
	return nil
}

// readSST reads the shared string table.
func readSST(c *cursor, maxBytes int64) ([]string, error) {
	if _, ok := c.u32(); !ok { // cstTotal: how often the strings are used
		return nil, malformed("SST record %s", errTruncated)
	}
	unique, ok := c.u32()
	if !ok {
		return nil, malformed("SST record %s", errTruncated)
	}
	// Every string takes at least 3 bytes, so the record size bounds the
	// allocation whatever count it declares.
	var size int64
	for _, seg := range c.segs {
		size += int64(len(seg))
	}
	strs := make([]string, 0, min(int64(unique), size/3))
	var total int64
	for i := range int64(unique) {
		if c.atEnd() {
			// Fewer strings than declared: LABELSST indexes are checked
			// when the cells are read.
			break
		}
		s, ok := c.richString()
		if !ok {
			return nil, malformed("SST record: shared string %d of %d %s", i, unique, errTruncated)
		}
		total += int64(len(s))
		if total > maxBytes {
			return nil, &LimitError{What: "shared string table size in bytes", Limit: maxBytes, Found: total}
		}
		strs = append(strs, s)
	}
	return strs, nil
}

// xfKinds resolves the number format of each XF record.
func xfKinds(xfFormats []uint16, formats map[uint16]string) []dateKind {
	memo := map[uint16]dateKind{}
	kinds := make([]dateKind, len(xfFormats))
	for i, id := range xfFormats {
		k, ok := memo[id]
		if !ok {
			if code, custom := formats[id]; custom {
				k = classifyFormat(code)
			} else {
				k = builtinDateKinds[id]
			}
			memo[id] = k
		}
		kinds[i] = k
	}
	return kinds
}
