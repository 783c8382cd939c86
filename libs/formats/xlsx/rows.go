package xlsx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
)

// ErrNoSheet is returned by Rows for a sheet the workbook does not have.
var ErrNoSheet = errors.New("no such sheet")

// errClosed is returned by Next after Close.
var errClosed = errors.New("the row reader is closed")

// RowReader streams the rows of one sheet, in the order of the sheet part,
// holding one row at a time. It is not safe for concurrent use; several
// RowReaders, on the same sheet or different ones, may be used at once.
type RowReader struct {
	w     *Workbook
	name  string
	e     *entryReader
	ra    *readAhead // inflates e ahead of s; nil for small parts
	s     *xmlScanner
	state uint8
	depth int   // depth of <sheetData>
	row   int64 // number of the last row read
	width int   // cells in the last row returned, a capacity hint
	err   error

	// Scratch space for the current cell.
	val []byte // text of <v>
	str []byte // text of <is>
	out []byte // a formatted number or date
}

const (
	beforeData uint8 = iota
	inData
	afterData
)

// Rows opens a sheet for reading. The sheet is found by Index when the sheet
// at that position has the given Name (or Name is ""), else by Name (exactly,
// then ignoring case, as Excel does). Nothing of the sheet is read until
// Next.
func (w *Workbook) Rows(s Sheet) (rr *RowReader, err error) {
	defer recoverTo(&err)
	info, err := w.lookup(s)
	if err != nil {
		return nil, err
	}
	if info.part == "" {
		return nil, malformedf("sheet %q cannot be read: %s", info.Name, info.problem)
	}
	e, err := w.a.open(w.a.file(info.part))
	if err != nil {
		return nil, fmt.Errorf("sheet %q: %w", info.Name, err)
	}
	rr = &RowReader{w: w, name: info.Name, e: e}
	var src io.Reader = e
	if e.f.UncompressedSize64 >= readAheadMin {
		rr.ra = newReadAhead(e)
		src = rr.ra
	}
	rr.s = newXMLScanner(src)
	return rr, nil
}

func (w *Workbook) lookup(s Sheet) (sheetInfo, error) {
	if s.Index >= 1 && s.Index <= len(w.sheets) && (s.Name == "" || w.sheets[s.Index-1].Name == s.Name) {
		return w.sheets[s.Index-1], nil
	}
	for _, info := range w.sheets {
		if info.Name == s.Name {
			return info, nil
		}
	}
	for _, info := range w.sheets {
		if equalFold(info.Name, s.Name) {
			return info, nil
		}
	}
	return sheetInfo{}, fmt.Errorf("sheet %q: %w", s.Name, ErrNoSheet)
}

func equalFold(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

// Next returns the next row that has at least one non-empty cell: its 1-based
// row number (from the row's r attribute; a row without one follows the
// previous row) and its cell values by column (A is index 0), gaps filled
// with "" and trailing empty cells dropped. The slice is the caller's. After
// the last row Next returns io.EOF. Any other error ends the reading: Next
// returns it again on every later call.
//
// Values are what the cells hold, never evaluated nor inferred:
//   - strings (shared, inline and formula results) exactly, rich-text runs
//     concatenated and _xHHHH_ escapes decoded;
//   - numbers as the shortest decimal that gives back the stored double,
//     without exponent: 1234567890123456, 1.5, 0.0000001;
//   - numbers whose format shows a date or time as ISO 8601, as the package
//     documentation describes;
//   - booleans as TRUE and FALSE, errors as their text (#N/A);
//   - formulas as their cached value, "" when there is none;
//   - t="d" cells as written.
//
// A merged range is read as stored: the value is in its top-left cell, the
// other cells are empty.
func (r *RowReader) Next() (row int64, cells []string, err error) {
	if r.err != nil {
		return 0, nil, r.err
	}
	defer func() {
		if v := recover(); v != nil {
			row, cells = 0, nil
			err = &PanicError{Value: v, Stack: debug.Stack()}
			r.err = err
		}
	}()
	row, cells, err = r.next()
	if err != nil {
		r.err = r.wrap(err)
		return 0, nil, r.err
	}
	return row, cells, nil
}

// Close releases the sheet part. Next returns an error after Close.
func (r *RowReader) Close() error {
	if r.err == errClosed {
		return nil
	}
	r.err = errClosed
	if r.ra != nil {
		r.ra.close()
	}
	return r.e.Close()
}

// wrap adds the sheet and row to an error.
func (r *RowReader) wrap(err error) error {
	if err == io.EOF {
		return err
	}
	var le *LimitError
	if errors.As(err, &le) {
		if le.Sheet == "" {
			le.Sheet = r.name
		}
		if le.Row == 0 && le.What != LimitRows {
			le.Row = r.row
		}
		if le.What != LimitUncompressed && le.What != LimitRatio {
			le.Part = ""
		}
		return err
	}
	if r.row > 0 {
		return fmt.Errorf("sheet %q: row %d: %w", r.name, r.row, err)
	}
	return fmt.Errorf("sheet %q: %w", r.name, err)
}

func (r *RowReader) next() (int64, []string, error) {
	s := r.s
	for {
		switch r.state {
		case afterData:
			return 0, nil, io.EOF
		case beforeData:
			tok, err := s.next()
			if err != nil {
				return 0, nil, err
			}
			switch {
			case tok == tokEOF:
				r.state = afterData
			case tok == tokStart && string(s.name) == "sheetData":
				r.state, r.depth = inData, s.depth
			}
		case inData:
			tok, err := s.next()
			if err != nil {
				return 0, nil, err
			}
			switch {
			case tok == tokEnd && s.depth < r.depth:
				// The rest of the part (merged cells, hyperlinks, ...) is
				// not needed.
				r.state = afterData
			case tok == tokStart && string(s.name) == "row" && s.depth == r.depth+1:
				cells, err := r.readRow()
				if err != nil {
					return 0, nil, err
				}
				if len(cells) > 0 {
					r.width = len(cells)
					return r.row, cells, nil
				}
			case tok == tokStart:
				if err := s.skip(); err != nil {
					return 0, nil, err
				}
			}
		}
	}
}

// readRow reads the row whose start tag was just returned.
func (r *RowReader) readRow() ([]string, error) {
	s, l := r.s, r.w.limits
	n := r.row + 1
	if v, ok := s.attr("r"); ok {
		var valid bool
		if n, valid = parseRowNumber(v); !valid {
			return nil, malformedf("row number %s is not valid", quote(v))
		}
		if n > MaxSheetRows {
			return nil, malformedf("row %d is beyond row %d, the last of a sheet", n, MaxSheetRows)
		}
		if n <= r.row {
			return nil, malformedf("row %d comes after row %d", n, r.row)
		}
	}
	if n > MaxSheetRows {
		return nil, malformedf("more than %d rows", MaxSheetRows)
	}
	if n > l.MaxRows {
		return nil, &LimitError{What: LimitRows, Limit: l.MaxRows, Found: n, Row: n}
	}
	r.row = n
	var cells []string
	var size int64 // bytes of the values so far
	depth, col := s.depth, 0
	for {
		tok, err := s.next()
		if err != nil {
			return nil, err
		}
		if tok == tokEnd {
			if s.depth < depth {
				return cells, nil
			}
			continue
		}
		if tok == tokEOF {
			return nil, s.errorf("XML ends inside a row")
		}
		if string(s.name) != "c" || s.depth != depth+1 {
			if err := s.skip(); err != nil {
				return nil, err
			}
			continue
		}
		var v string
		if col, v, err = r.readCell(col); err != nil {
			return nil, err
		}
		if v == "" {
			continue
		}
		if size += int64(len(v)); size > l.MaxRowBytes {
			return nil, &LimitError{What: LimitRowSize, Limit: l.MaxRowBytes, Found: size, Row: n}
		}
		if cells == nil {
			// The previous row's width is a good guess, unless it was
			// very wide.
			cells = make([]string, 0, max(min(r.width, 256), col))
		}
		for len(cells) < col-1 {
			cells = append(cells, "")
		}
		cells = append(cells, v)
	}
}

// Cell types, from the t attribute.
const (
	typeNumber uint8 = iota
	typeShared
	typeFormulaString
	typeInline
	typeBool
	typeError
	typeDate
)

// readCell reads the cell whose start tag was just returned and returns its
// column and value. prev is the column of the previous cell of the row.
func (r *RowReader) readCell(prev int) (int, string, error) {
	s, l := r.s, r.w.limits
	col := prev + 1
	if ref, ok := s.attr("r"); ok {
		c, row, valid := parseRef(ref)
		switch {
		case !valid:
			return 0, "", malformedf("cell reference %s is not valid", quote(ref))
		case c > MaxSheetColumns || row > MaxSheetRows:
			return 0, "", malformedf("cell reference %s is beyond XFD%d, the last cell of a sheet", quote(ref), MaxSheetRows)
		case row != r.row:
			return 0, "", malformedf("cell %s is in row %d", cellName(c, row), r.row)
		case c <= prev:
			return 0, "", malformedf("cell %s comes after cell %s", cellName(c, row), cellName(prev, row))
		}
		col = c
	}
	if col > l.MaxColumns {
		return 0, "", &LimitError{What: LimitColumns, Limit: int64(l.MaxColumns), Found: int64(col), Row: r.row, Column: col}
	}
	if col > MaxSheetColumns {
		return 0, "", malformedf("more than %d cells in the row", MaxSheetColumns)
	}
	typ := typeNumber
	if t, ok := s.attr("t"); ok {
		switch string(t) {
		case "n":
		case "s":
			typ = typeShared
		case "str":
			typ = typeFormulaString
		case "inlineStr":
			typ = typeInline
		case "b":
			typ = typeBool
		case "e":
			typ = typeError
		case "d":
			typ = typeDate
		default:
			return 0, "", malformedf("cell %s has an unknown type %s", cellName(col, r.row), quote(t))
		}
	}
	kind := kindNumber
	if st, ok := s.attr("s"); ok {
		if i, err := strconv.Atoi(string(st)); err == nil && i >= 0 && i < len(r.w.styles) {
			kind = r.w.styles[i]
		}
	}

	// Children: <v> the value, <is> an inline string; <f> and anything else
	// skipped.
	val, str := r.val[:0], r.str[:0]
	var hasV, hasIS bool
	depth := s.depth
	for {
		tok, err := s.next()
		if err != nil {
			return 0, "", err
		}
		if tok == tokEOF {
			return 0, "", s.errorf("XML ends inside a cell")
		}
		if tok == tokEnd {
			if s.depth < depth {
				break
			}
			continue
		}
		switch {
		case s.depth != depth+1:
			err = s.skip()
		case string(s.name) == "v":
			hasV = true
			val, err = s.text(val[:0], l.MaxCellBytes)
			if err == nil {
				err = s.skip()
			}
		case string(s.name) == "is":
			hasIS = true
			str, err = richText(s, str[:0], l.MaxCellBytes)
		default:
			err = s.skip()
		}
		if err == errTextTooLong {
			return 0, "", &LimitError{What: LimitCellSize, Limit: int64(l.MaxCellBytes), Found: int64(max(len(val), len(str))), Row: r.row, Column: col}
		}
		if err != nil {
			return 0, "", err
		}
	}
	r.val, r.str = val, str

	var v string
	var err error
	switch typ {
	case typeNumber:
		v, err = r.number(val, kind)
	case typeShared:
		v, err = r.shared(val)
	case typeFormulaString:
		v = xstring(val)
	case typeInline:
		if hasIS || !hasV {
			v = string(str)
		} else {
			v = xstring(val)
		}
	case typeBool:
		switch string(trimSpace(val)) {
		case "":
		case "1", "true":
			v = "TRUE"
		case "0", "false":
			v = "FALSE"
		default:
			err = malformedf("boolean %s is not 0 or 1", quote(val))
		}
	case typeError, typeDate:
		v = string(val)
	}
	if err != nil {
		return 0, "", fmt.Errorf("cell %s: %w", cellName(col, r.row), err)
	}
	return col, v, nil
}

// number formats the <v> text of a numeric cell, as a date or time if its
// format shows one.
func (r *RowReader) number(val []byte, kind fmtKind) (string, error) {
	b := trimSpace(val)
	if len(b) == 0 {
		return "", nil
	}
	if kind == kindNumber && isShortInt(b) {
		return string(b), nil
	}
	if !isDecimal(b) {
		return "", malformedf("%s is not a number", quote(b))
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return "", malformedf("number %s is out of range", quote(b))
	}
	if kind != kindNumber {
		if out, ok := formatSerial(r.out[:0], f, kind, r.w.date1904); ok {
			r.out = out
			return string(out), nil
		}
	}
	r.out = appendNumber(r.out[:0], f)
	return string(r.out), nil
}

// shared returns the shared string whose index is the <v> text.
func (r *RowReader) shared(val []byte) (string, error) {
	b := trimSpace(val)
	if len(b) == 0 {
		return "", nil
	}
	i, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		if !isDecimal(b) || bytes.ContainsAny(b, ".eE") {
			return "", malformedf("shared string index %s is not a number", quote(b))
		}
		return "", malformedf("shared string %s does not exist", b)
	}
	if i < 0 || i >= int64(r.w.sst.len()) {
		return "", malformedf("shared string %d does not exist (the workbook has %d)", i, r.w.sst.len())
	}
	return r.w.sst.get(int(i)), nil
}

// xstring returns text with its _xHHHH_ escapes decoded.
func xstring(b []byte) string {
	if bytes.Contains(b, []byte("_x")) {
		return string(appendXString(nil, b))
	}
	return string(b)
}

// parseRowNumber parses a row's r attribute: 1 to 7 digits, not 0.
func parseRowNumber(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 7 {
		if len(b) > 7 && isDigits(b) {
			return MaxSheetRows + 1, true
		}
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n > 0
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// parseRef parses an A1-style cell reference. Columns and rows beyond the
// grid are returned as found (capped, so that they cannot overflow) for the
// caller to refuse.
func parseRef(b []byte) (col int, row int64, ok bool) {
	i := 0
	for ; i < len(b); i++ {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c < 'A' || c > 'Z' {
			break
		}
		if col <= MaxSheetColumns {
			col = col*26 + int(c-'A'+1)
		}
	}
	if i == 0 || i == len(b) {
		return 0, 0, false
	}
	for _, c := range b[i:] {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		if row <= MaxSheetRows {
			row = row*10 + int64(c-'0')
		}
	}
	return col, row, row > 0
}
