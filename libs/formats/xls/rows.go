package xls

import (
	"cmp"
	"fmt"
	"io"
	"slices"
)

// RowReader reads the rows of one sheet, in row order.
type RowReader struct {
	w     *Workbook
	sheet string
	end   int // offset of the sheet's EOF record

	// Cells are read from the stream in order (pos, depth) or, when the
	// sheet does not store its rows in order, through order.
	pos   int
	depth int
	order []orderRef
	oi    int

	merges mergeSweep
	held   *cellRef // the first cell of the next row, read ahead
	err    error    // sticky: io.EOF or the first error
	closed bool
}

// cellRef is a cell record and the 0-based row it is in.
type cellRef struct {
	rec record
	row int
}

// orderRef is the compact form of a cellRef that sorting keeps for every
// cell record: 8 bytes for a record of at least 14.
type orderRef struct {
	off, row uint32
}

// minCellLen is the shortest valid payload of each cell record that holds
// a value ([MS-XLS] 2.4).
var minCellLen = map[uint16]int{
	recLabelSST: 10,
	recLabel:    9,
	recRString:  9,
	recNumber:   14,
	recRK:       10,
	recMulRK:    12,
	recBoolErr:  8,
	recFormula:  20,
}

// newRowReader checks the sheet substream once: every record inside the
// stream, an EOF at its end, the merged ranges, and whether the cells come
// in row order, as Excel and LibreOffice write them.
func newRowReader(w *Workbook, e sheetEntry) (*RowReader, error) {
	s := w.stream
	bof, err := readRecord(s, e.offset)
	if err != nil {
		return nil, fmt.Errorf("read sheet %q: %w", e.Name, err)
	}
	if bof.id != recBOF || len(bof.data) < 4 {
		return nil, malformed("sheet %q: no BOF record at byte %d", e.Name, e.offset)
	}
	if dt := u16(bof.data[2:]); dt != bofSheet {
		return nil, malformed("sheet %q: the substream at byte %d is of type 0x%04X, not a worksheet", e.Name, e.offset, dt)
	}
	r := &RowReader{w: w, sheet: e.Name, pos: bof.next(), depth: 1}
	var ranges []mergeRange
	inOrder, last := true, -1
	err = r.walk(func(rec record) error {
		if rec.id == recMergeCells {
			return r.addMerges(rec, &ranges)
		}
		row, err := r.cellRow(rec)
		if err != nil || row < 0 {
			return err
		}
		inOrder = inOrder && row >= last
		last = row
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.merges = newMergeSweep(ranges)
	if !inOrder {
		// Some writers store cells column by column. Sorting the records
		// by row costs a few bytes per cell and keeps Next in row order.
		err = r.walk(func(rec record) error {
			if row, _ := r.cellRow(rec); row >= 0 {
				r.order = append(r.order, orderRef{off: uint32(rec.off), row: uint32(row)})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(r.order, func(a, b orderRef) int { return cmp.Compare(a.row, b.row) })
	}
	return r, nil
}

// walk calls fn for every record of the sheet outside embedded chart
// substreams, and sets r.end.
func (r *RowReader) walk(fn func(record) error) error {
	s := r.w.stream
	depth := 1
	for off := r.pos; ; {
		rec, err := readRecord(s, off)
		if err != nil {
			return fmt.Errorf("read sheet %q: %w", r.sheet, err)
		}
		off = rec.next()
		switch {
		case rec.id == recBOF:
			depth++
		case rec.id == recEOF:
			depth--
			if depth == 0 {
				r.end = rec.off
				return nil
			}
		case depth == 1:
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
}

// cellRow returns the 0-based row of a cell record that holds a value, -1
// for other records.
func (r *RowReader) cellRow(rec record) (int, error) {
	n, ok := minCellLen[rec.id]
	if !ok {
		return -1, nil
	}
	if len(rec.data) < n || (rec.id == recMulRK && (len(rec.data)-6)%6 != 0) {
		return -1, malformed("sheet %q: cell record 0x%04X at byte %d is %d bytes long", r.sheet, rec.id, rec.off, len(rec.data))
	}
	return int(u16(rec.data)), nil
}

// errClosed is returned by Next after Close.
var errClosed = fmt.Errorf("the row reader is closed")

// Next returns the next row that has at least one value: its 1-based row
// number and its values by column (A=0), with "" for empty cells and no
// empty cells at the end. Rows whose cells are all empty, such as
// formatted blank cells, are skipped. At the end of the sheet it returns
// io.EOF; after an error it returns that error again.
func (r *RowReader) Next() (row int64, cells []string, err error) {
	if r.closed {
		return 0, nil, fmt.Errorf("read sheet %q: %w", r.sheet, errClosed)
	}
	if r.err != nil {
		return 0, nil, r.err
	}
	defer func() {
		if p := recover(); p != nil {
			if !recoverPanics {
				panic(p)
			}
			row, cells, err = 0, nil, malformed("sheet %q: %v", r.sheet, p)
		}
		if err != nil {
			r.err = err
		}
	}()
	return r.next()
}

// Close releases the sheet. It always returns nil.
func (r *RowReader) Close() error {
	r.closed = true
	r.w, r.order, r.held = nil, nil, nil
	return nil
}

func (r *RowReader) next() (int64, []string, error) {
	cur := -1
	var cells []string
	for {
		c, ok, err := r.nextCell()
		if err != nil {
			return 0, nil, err
		}
		if !ok || c.row != cur {
			// A row can end up empty: blank values, or a value overwritten
			// by a later record for the same cell.
			for len(cells) > 0 && cells[len(cells)-1] == "" {
				cells = cells[:len(cells)-1]
			}
			if len(cells) > 0 {
				if ok {
					r.held = &c
				}
				return int64(cur) + 1, cells, nil
			}
			if !ok {
				return 0, nil, io.EOF
			}
			cur, cells = c.row, nil
			r.merges.moveTo(cur)
		}
		if err := r.apply(c, &cells); err != nil {
			return 0, nil, err
		}
	}
}

// nextCell returns the next cell record that holds a value.
func (r *RowReader) nextCell() (cellRef, bool, error) {
	if r.held != nil {
		c := *r.held
		r.held = nil
		return c, true, nil
	}
	if r.order != nil {
		if r.oi >= len(r.order) {
			return cellRef{}, false, nil
		}
		o := r.order[r.oi]
		r.oi++
		rec, err := readRecord(r.w.stream, int(o.off))
		if err != nil {
			return cellRef{}, false, fmt.Errorf("read sheet %q: %w", r.sheet, err)
		}
		return cellRef{rec: rec, row: int(o.row)}, true, nil
	}
	for r.pos < r.end {
		rec, err := readRecord(r.w.stream, r.pos)
		if err != nil {
			return cellRef{}, false, fmt.Errorf("read sheet %q: %w", r.sheet, err)
		}
		r.pos = rec.next()
		switch {
		case rec.id == recBOF:
			r.depth++
		case rec.id == recEOF:
			r.depth--
		case r.depth == 1:
			row, err := r.cellRow(rec)
			if err != nil {
				return cellRef{}, false, err
			}
			if row >= 0 {
				return cellRef{rec: rec, row: row}, true, nil
			}
		}
	}
	return cellRef{}, false, nil
}

// apply puts the values of one cell record into the row.
func (r *RowReader) apply(c cellRef, cells *[]string) error {
	d := c.rec.data
	set := func(col int, v string) error {
		if v == "" {
			// No value: no limit applies, but it empties the cell.
			if col < len(*cells) {
				(*cells)[col] = ""
			}
			return nil
		}
		l := r.w.limits
		if int64(c.row)+1 > l.MaxRows {
			return &LimitError{What: "row number", Limit: l.MaxRows, Found: int64(c.row) + 1, Sheet: r.sheet, Row: int64(c.row) + 1}
		}
		if col >= l.MaxColumns {
			return &LimitError{What: "column number", Limit: int64(l.MaxColumns), Found: int64(col) + 1, Sheet: r.sheet, Row: int64(c.row) + 1, Column: col + 1}
		}
		if r.merges.hidden(c.row, col) {
			return nil
		}
		if len(v) > l.MaxCellBytes {
			return &LimitError{What: "cell size in bytes", Limit: int64(l.MaxCellBytes), Found: int64(len(v)), Sheet: r.sheet, Row: int64(c.row) + 1, Column: col + 1}
		}
		for len(*cells) <= col {
			*cells = append(*cells, "")
		}
		(*cells)[col] = v
		return nil
	}
	col := int(u16(d[2:]))
	switch c.rec.id {
	case recMulRK:
		for i := 0; 6+6*i < len(d); i++ {
			v, err := r.number(c.row, col+i, u16(d[4+6*i:]), decodeRK(u32(d[6+6*i:])))
			if err != nil {
				return err
			}
			if err := set(col+i, v); err != nil {
				return err
			}
		}
		return nil
	case recLabelSST:
		i := u32(d[6:])
		if int64(i) >= int64(len(r.w.sst)) {
			return malformed("sheet %q, cell %s: shared string %d does not exist, the table has %d", r.sheet, cellName(c.row, col), i, len(r.w.sst))
		}
		return set(col, r.w.sst[i])
	case recLabel, recRString:
		cur, err := continued(r.w.stream, c.rec)
		if err != nil {
			return fmt.Errorf("read sheet %q: %w", r.sheet, err)
		}
		cur.skip(6)
		v, ok := cur.unicodeString()
		if !ok {
			return malformed("sheet %q, cell %s: the string %s", r.sheet, cellName(c.row, col), errTruncated)
		}
		return set(col, v)
	case recNumber, recRK:
		var f float64
		if c.rec.id == recNumber {
			f = f64(d[6:])
		} else {
			f = decodeRK(u32(d[6:]))
		}
		v, err := r.number(c.row, col, u16(d[4:]), f)
		if err != nil {
			return err
		}
		return set(col, v)
	case recBoolErr:
		v, err := r.boolErr(c.row, col, d[6], d[7] != 0)
		if err != nil {
			return err
		}
		return set(col, v)
	case recFormula:
		v, err := r.formula(c, col)
		if err != nil {
			return err
		}
		return set(col, v)
	}
	return nil
}

// number renders a number by the format of its XF: a date or a decimal.
func (r *RowReader) number(row, col int, xf uint16, v float64) (string, error) {
	if int(xf) < len(r.w.xfKinds) {
		if k := r.w.xfKinds[xf]; k != notDate {
			if s, ok := formatDate(v, k, r.w.date1904); ok {
				return s, nil
			}
		}
	}
	s, ok := formatNumber(v)
	if !ok {
		return "", malformed("sheet %q, cell %s: the number %v is not finite", r.sheet, cellName(row, col), v)
	}
	return s, nil
}

// boolErr renders a boolean or an error value.
func (r *RowReader) boolErr(row, col int, v byte, isErr bool) (string, error) {
	if !isErr {
		if v != 0 {
			return "TRUE", nil
		}
		return "FALSE", nil
	}
	if s, ok := errorCodes[v]; ok {
		return s, nil
	}
	return "", malformed("sheet %q, cell %s: unknown error code 0x%02X", r.sheet, cellName(row, col), v)
}

// formula renders the cached result of a FORMULA record ([MS-XLS] 2.5.133).
func (r *RowReader) formula(c cellRef, col int) (string, error) {
	d := c.rec.data
	val := d[6:14]
	if u16(val[6:]) != 0xFFFF {
		return r.number(c.row, col, u16(d[4:]), f64(val))
	}
	switch val[0] {
	case 0:
		return r.formulaString(c, col)
	case 1:
		return r.boolErr(c.row, col, val[2], false)
	case 2:
		return r.boolErr(c.row, col, val[2], true)
	case 3:
		return "", nil
	}
	return "", malformed("sheet %q, cell %s: unknown formula result type %d", r.sheet, cellName(c.row, col), val[0])
}

// formulaString reads the STRING record that holds a formula's string
// result; shared, array and table formula records may come between.
func (r *RowReader) formulaString(c cellRef, col int) (string, error) {
	s := r.w.stream
	for off := c.rec.next(); off < r.end; {
		rec, err := readRecord(s, off)
		if err != nil {
			return "", fmt.Errorf("read sheet %q: %w", r.sheet, err)
		}
		if rec.id == recShrFmla || rec.id == recArray || rec.id == recTable || rec.id == recContinue {
			off = rec.next()
			continue
		}
		if rec.id != recString {
			break
		}
		cur, err := continued(s, rec)
		if err != nil {
			return "", fmt.Errorf("read sheet %q: %w", r.sheet, err)
		}
		v, ok := cur.unicodeString()
		if !ok {
			return "", malformed("sheet %q, cell %s: the formula's string result %s", r.sheet, cellName(c.row, col), errTruncated)
		}
		return v, nil
	}
	return "", malformed("sheet %q, cell %s: the formula's string result has no STRING record", r.sheet, cellName(c.row, col))
}

// mergeRange is a merged range, 0-based and inclusive.
type mergeRange struct{ r1, r2, c1, c2 int }

// mergeCols is BIFF8's column count: merged ranges cover no column past it.
const mergeCols = 256

// addMerges reads a MERGECELLS record.
func (r *RowReader) addMerges(rec record, ranges *[]mergeRange) error {
	d := rec.data
	if len(d) < 2 || len(d) < 2+8*int(u16(d)) {
		return malformed("sheet %q: MERGECELLS record at byte %d is %d bytes long", r.sheet, rec.off, len(d))
	}
	for i := range int(u16(d)) {
		b := d[2+8*i:]
		m := mergeRange{r1: int(u16(b)), r2: int(u16(b[2:])), c1: int(u16(b[4:])), c2: int(min(u16(b[6:]), mergeCols-1))}
		if m.r1 > m.r2 || m.c1 > m.c2 || (m.r1 == m.r2 && m.c1 == m.c2) {
			continue // inverted, out of range or a single cell: hides nothing
		}
		if len(*ranges) >= maxMergedRanges {
			return &LimitError{What: "merged cell ranges", Limit: maxMergedRanges, Found: int64(len(*ranges)) + 1, Sheet: r.sheet}
		}
		*ranges = append(*ranges, m)
	}
	return nil
}

// mergeSweep tells which cells merged ranges hide, for rows visited in
// ascending order. Per column it keeps the last row that a range started
// so far covers, and the row of the last range whose top-left cell is in
// the column, so each range costs its width once.
type mergeSweep struct {
	ranges []mergeRange // by first row
	next   int
	cover  [mergeCols]int32
	top    [mergeCols]int32
}

func newMergeSweep(ranges []mergeRange) mergeSweep {
	slices.SortStableFunc(ranges, func(a, b mergeRange) int { return cmp.Compare(a.r1, b.r1) })
	m := mergeSweep{ranges: ranges}
	for i := range mergeCols {
		m.cover[i], m.top[i] = -1, -1
	}
	return m
}

// moveTo takes in the ranges that start at or before row.
func (m *mergeSweep) moveTo(row int) {
	for ; m.next < len(m.ranges) && m.ranges[m.next].r1 <= row; m.next++ {
		g := m.ranges[m.next]
		if g.r2 < row {
			continue
		}
		for c := g.c1; c <= g.c2; c++ {
			m.cover[c] = max(m.cover[c], int32(g.r2))
		}
		m.top[g.c1] = int32(g.r1)
	}
}

// hidden reports whether a merged range hides the cell: it is in a range
// and not the range's top-left cell.
func (m *mergeSweep) hidden(row, col int) bool {
	return col < mergeCols && int32(row) <= m.cover[col] && m.top[col] != int32(row)
}
