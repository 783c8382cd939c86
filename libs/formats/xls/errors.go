package xls

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNotXLS is returned by Open when the file is not an Excel 97-2003
	// workbook at all.
	ErrNotXLS = errors.New("not an Excel 97-2003 workbook")
	// ErrXLSX is returned by Open when the file is an XLSX workbook (a zip
	// archive); it belongs to the XLSX reader.
	ErrXLSX = errors.New("this is an XLSX (zip) workbook, not an Excel 97-2003 one: read it as .xlsx")
	// ErrEncrypted is returned by Open when the workbook needs a password.
	ErrEncrypted = errors.New("the workbook is encrypted (password-protected)")
	// ErrBIFF5 is returned by Open for workbooks of Excel 5.0 and 95 (BIFF5)
	// and older.
	ErrBIFF5 = errors.New("Excel 5.0/95 workbooks are not supported; save as .xls 97-2003 or .xlsx")
	// ErrMalformed is wrapped by every error about a damaged or hostile
	// file: truncated records, indexes out of range, broken sector chains.
	ErrMalformed = errors.New("malformed workbook")
)

// malformed returns an error that wraps ErrMalformed, such as
// "malformed workbook: SST record: string 3 runs past the end of the record".
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// LimitError is returned when a workbook exceeds one of the Limits, or one
// of the reader's own bounds.
type LimitError struct {
	// What names the measured thing, such as "file size in bytes" or
	// "column number".
	What string
	// Limit is the largest allowed value, Found the value met.
	Limit, Found int64
	// Sheet, Row (1-based) and Column (1-based) say where, when the limit
	// concerns one place; they are zero values otherwise.
	Sheet  string
	Row    int64
	Column int
}

// Error says where, what, the value found and the limit, such as
// `sheet "Data", row 12, column IW: column number is 257, over the limit of 256`.
func (e *LimitError) Error() string {
	var where []string
	if e.Sheet != "" {
		where = append(where, fmt.Sprintf("sheet %q", e.Sheet))
	}
	if e.Row > 0 {
		where = append(where, fmt.Sprintf("row %d", e.Row))
	}
	if e.Column > 0 {
		where = append(where, "column "+columnName(e.Column-1))
	}
	msg := fmt.Sprintf("%s is %d, over the limit of %d", e.What, e.Found, e.Limit)
	if len(where) == 0 {
		return msg
	}
	return strings.Join(where, ", ") + ": " + msg
}

// columnName returns the spreadsheet name of a 0-based column: A, Z, AA, IV.
func columnName(col int) string {
	var b []byte
	for col >= 0 {
		b = append(b, byte('A'+col%26))
		col = col/26 - 1
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// cellName returns the A1-style name of a 0-based row and column.
func cellName(row, col int) string {
	return fmt.Sprintf("%s%d", columnName(col), row+1)
}
