// Package source reads an uploaded file as a sequence of chunks of whole
// records, whatever its format: delimited text in any supported encoding is
// decoded to UTF-8 and split at record boundaries; a workbook's rows are
// written as standard CSV, with blank records where the sheet skips rows, so
// that row numbers stay the ones a person sees.
package source

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/formats/delimited"
	"github.com/ferrydata/ferry/libs/formats/filespec"
	"github.com/ferrydata/ferry/libs/formats/textenc"
	"github.com/ferrydata/ferry/libs/formats/xls"
	"github.com/ferrydata/ferry/libs/formats/xlsx"
)

// Limits bound what one file may be.
type Limits = filespec.Limits

// Source yields a file's header and chunks.
type Source interface {
	// Header returns the column names: the header row, or "1", "2", … for
	// a file without one.
	Header() ([]string, error)
	// Next returns the next chunk of data records, or io.EOF.
	Next() (delimited.Chunk, error)
	// Rows returns the rows read so far, header and skipped rows included.
	Rows() int64
	// Encoding names the text encoding in use; "" for workbooks.
	Encoding() string
	// StandardCSV says chunks are RFC 4180 CSV written here, not the file's dialect.
	StandardCSV() bool
}

// IsWorkbook reports whether the profile reads workbooks.
func IsWorkbook(spec *ferryv1.ImportProfileSpec) bool {
	f := spec.GetFormat()
	return f == ferryv1.FileFormat_FILE_FORMAT_XLSX || f == ferryv1.FileFormat_FILE_FORMAT_XLS
}

// Text reads delimited text: decoded to UTF-8, then split.
type Text struct {
	dec *textenc.Decoder
	sp  *delimited.Splitter
	max int64
}

// OpenText reads r, the whole file from its first byte.
func OpenText(r io.Reader, spec *ferryv1.ImportProfileSpec, l Limits) (*Text, error) {
	enc, err := textenc.Lookup(spec.GetCsv().GetEncoding())
	if err != nil {
		return nil, err
	}
	dec := textenc.NewDecoder(r, enc)
	return &Text{dec: dec, sp: delimited.NewSplitter(dec, filespec.CSVOptions(spec, l)), max: l.MaxRows}, nil
}

// Header implements Source.
func (t *Text) Header() ([]string, error) { return t.sp.Header() }

// Next implements Source.
func (t *Text) Next() (delimited.Chunk, error) {
	c, err := t.sp.Next()
	if err == nil && t.max > 0 && t.sp.Rows() > t.max {
		return c, fmt.Errorf("the file has more than %d rows; the limit is %d rows", t.max, t.max)
	}
	return c, err
}

// Rows implements Source.
func (t *Text) Rows() int64 { return t.sp.Rows() }

// Encoding implements Source.
func (t *Text) Encoding() string { return t.dec.Encoding().Name() }

// StandardCSV implements Source.
func (t *Text) StandardCSV() bool { return false }

// rowReader is what the xlsx and xls readers have in common.
type rowReader interface {
	Next() (int64, []string, error)
	Close() error
}

// Sheet reads the rows of one sheet of a workbook.
type Sheet struct {
	rows      rowReader
	headerRow int64
	noHeader  bool
	chunkSize int
	maxRows   int64

	header  []string
	width   int
	pending *pendingRow // a row read ahead
	last    int64       // the last row number written or skipped
	seq     int64
	done    bool
}

type pendingRow struct {
	row   int64
	cells []string
}

// OpenWorkbook opens the workbook in f (a file of size bytes) and the sheet
// the profile names.
func OpenWorkbook(f *os.File, size int64, spec *ferryv1.ImportProfileSpec, l Limits) (*Sheet, error) {
	b, err := openBook(f, size, spec.GetFormat(), l)
	if err != nil {
		return nil, err
	}
	sp := spec.GetSpreadsheet()
	i, err := pickSheet(b.sheets(), sp)
	if err != nil {
		return nil, err
	}
	rows, err := b.rows(i)
	if err != nil {
		return nil, err
	}
	return &Sheet{rows: rows, headerRow: int64(sp.GetHeaderRow()), noHeader: sp.GetNoHeader(), chunkSize: l.ChunkSize, maxRows: l.MaxRows}, nil
}

// SheetInfo describes a sheet of a workbook.
type SheetInfo struct {
	Name   string
	Index  int
	Hidden bool
}

// ListSheets lists the sheets of the workbook in f.
func ListSheets(f *os.File, size int64, format ferryv1.FileFormat, l Limits) ([]SheetInfo, error) {
	b, err := openBook(f, size, format, l)
	if err != nil {
		return nil, err
	}
	return b.sheets(), nil
}

// book is what the xlsx and xls readers have in common.
type book struct {
	sheets func() []SheetInfo
	// rows opens the sheet at position i of sheets().
	rows func(i int) (rowReader, error)
}

func openBook(f *os.File, size int64, format ferryv1.FileFormat, l Limits) (book, error) {
	switch format {
	case ferryv1.FileFormat_FILE_FORMAT_XLSX:
		wb, err := xlsx.Open(f, size, xlsx.Limits{MaxUncompressed: l.MaxUncompressed, MaxColumns: l.MaxColumns, MaxRows: l.MaxRows, MaxCellBytes: l.MaxFieldSize})
		if err != nil {
			return book{}, err
		}
		return book{
			sheets: func() []SheetInfo {
				return infos(wb.Sheets(), func(s xlsx.Sheet) SheetInfo { return SheetInfo{s.Name, s.Index, s.Hidden} })
			},
			rows: func(i int) (rowReader, error) { return wb.Rows(wb.Sheets()[i]) },
		}, nil
	case ferryv1.FileFormat_FILE_FORMAT_XLS:
		wb, err := xls.Open(f, size, xls.Limits{MaxColumns: l.MaxColumns, MaxRows: l.MaxRows, MaxCellBytes: l.MaxFieldSize})
		if err != nil {
			return book{}, err
		}
		return book{
			sheets: func() []SheetInfo {
				return infos(wb.Sheets(), func(s xls.Sheet) SheetInfo { return SheetInfo{s.Name, s.Index, s.Hidden} })
			},
			rows: func(i int) (rowReader, error) { return wb.Rows(wb.Sheets()[i]) },
		}, nil
	}
	return book{}, fmt.Errorf("format %v is not a workbook", format)
}

func infos[S any](sheets []S, info func(S) SheetInfo) []SheetInfo {
	out := make([]SheetInfo, len(sheets))
	for i, s := range sheets {
		out[i] = info(s)
	}
	return out
}

func pickSheet(sheets []SheetInfo, sp *ferryv1.SpreadsheetFormat) (int, error) {
	names := make([]string, len(sheets))
	for i, s := range sheets {
		names[i] = strconv.Quote(s.Name)
		if sp.GetSheet() != "" && s.Name == sp.GetSheet() {
			return i, nil
		}
		if sp.GetSheet() == "" && s.Index == int(sp.GetSheetIndex()) {
			return i, nil
		}
	}
	if sp.GetSheet() != "" {
		return 0, fmt.Errorf("the workbook has no sheet %q (sheets: %s)", sp.GetSheet(), strings.Join(names, ", "))
	}
	return 0, fmt.Errorf("the workbook has no sheet %d; it has %d sheets (%s)", sp.GetSheetIndex(), len(sheets), strings.Join(names, ", "))
}

func (s *Sheet) read() (*pendingRow, error) {
	if s.pending != nil {
		p := s.pending
		s.pending = nil
		return p, nil
	}
	row, cells, err := s.rows.Next()
	if err != nil {
		return nil, err
	}
	return &pendingRow{row: row, cells: cells}, nil
}

// Header implements Source.
func (s *Sheet) Header() ([]string, error) {
	if s.noHeader {
		first, err := s.read()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the sheet is empty")
		}
		if err != nil {
			return nil, err
		}
		s.pending = first
		s.width = len(first.cells)
		s.header = make([]string, s.width)
		for i := range s.header {
			s.header[i] = strconv.Itoa(i + 1)
		}
		return s.header, nil
	}
	for {
		r, err := s.read()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("the sheet has no row %d for the header", s.headerRow)
		}
		if err != nil {
			return nil, err
		}
		s.last = r.row
		if r.row < s.headerRow {
			continue
		}
		if r.row > s.headerRow {
			return nil, fmt.Errorf("the header row %d of the sheet is empty", s.headerRow)
		}
		s.header, s.width = r.cells, len(r.cells)
		return s.header, nil
	}
}

// Next implements Source.
func (s *Sheet) Next() (delimited.Chunk, error) {
	if s.done {
		return delimited.Chunk{}, io.EOF
	}
	var (
		buf bytes.Buffer
		c   = delimited.Chunk{Seq: s.seq + 1, FirstRow: s.last + 1}
	)
	w := csv.NewWriter(&buf)
	for buf.Len() < s.chunkSize {
		r, err := s.read()
		if errors.Is(err, io.EOF) {
			s.done = true
			break
		}
		if err != nil {
			return c, err
		}
		if s.maxRows > 0 && r.row > s.maxRows {
			return c, fmt.Errorf("the sheet has a row %d; the limit is %d rows", r.row, s.maxRows)
		}
		// Rows the sheet skips are blank records: counted, never read.
		for ; s.last+1 < r.row; s.last++ {
			w.Flush()
			buf.WriteByte('\n')
			c.Rows++
		}
		cells := r.cells
		if len(cells) < s.width {
			cells = append(cells, make([]string, s.width-len(cells))...)
		}
		if err := w.Write(cells); err != nil {
			return c, err
		}
		w.Flush()
		s.last = r.row
		c.Rows++
	}
	w.Flush()
	if c.Rows == 0 {
		return c, io.EOF
	}
	s.seq++
	c.Data = buf.Bytes()
	return c, nil
}

// Rows implements Source.
func (s *Sheet) Rows() int64 { return s.last }

// Encoding implements Source.
func (s *Sheet) Encoding() string { return "" }

// StandardCSV implements Source.
func (s *Sheet) StandardCSV() bool { return true }

// Close releases the sheet.
func (s *Sheet) Close() error { return s.rows.Close() }
