package xlsx

import (
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"
)

// Writer writes one sheet of text cells as an .xlsx workbook, streaming
// rows through excelize's StreamWriter (which spools them to a temporary
// file, so memory does not grow with the row count). Every cell is a
// string cell: "007" stays "007" when the workbook is read again.
type Writer struct {
	f   *excelize.File
	sw  *excelize.StreamWriter
	row int
}

// NewWriter starts a workbook whose sheet at the 1-based position index is
// named sheet (or "Sheet<index>" when empty); the sheets before it are left
// empty, so a profile that reads a sheet by position reads this one.
func NewWriter(sheet string, index int) (*Writer, error) {
	index = max(index, 1)
	if sheet == "" {
		sheet = fmt.Sprintf("Sheet%d", index)
	}
	f := excelize.NewFile()
	first := f.GetSheetName(0)
	names := make([]string, index)
	for i := range index - 1 {
		names[i] = fmt.Sprintf("Empty%d", i+1)
	}
	names[index-1] = sheet
	if err := f.SetSheetName(first, names[0]); err != nil {
		return nil, err
	}
	for _, n := range names[1:] {
		if _, err := f.NewSheet(n); err != nil {
			return nil, err
		}
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, sw: sw}, nil
}

// Skip leaves n rows empty.
func (w *Writer) Skip(n int) { w.row += n }

// WriteRow writes the next row.
func (w *Writer) WriteRow(cells []string) error {
	w.row++
	vals := make([]any, len(cells))
	for i, c := range cells {
		vals[i] = c
	}
	cell, err := excelize.CoordinatesToCellName(1, w.row)
	if err != nil {
		return err
	}
	return w.sw.SetRow(cell, vals)
}

// Close finishes the workbook and writes it to out.
func (w *Writer) Close(out io.Writer) error {
	defer w.f.Close()
	if err := w.sw.Flush(); err != nil {
		return err
	}
	_, err := w.f.WriteTo(out)
	return err
}
