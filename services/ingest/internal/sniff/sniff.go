// Package sniff proposes how to read a file from its first bytes.
package sniff

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/formats/delimited"
	"github.com/ferrydata/ferry/libs/formats/filespec"
	"github.com/ferrydata/ferry/libs/formats/textenc"
	"github.com/ferrydata/ferry/services/ingest/internal/source"
)

// MaxSample is the largest sample accepted.
const MaxSample = 8 << 20

var (
	zipMagic = []byte("PK\x03\x04")
	oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
)

// Sniff proposes a spec for the sample and parses its first rows with it.
// Settings in req.Spec win over what is sniffed. tmp is a directory for
// workbooks, which are read from a file.
func Sniff(req *ferryv1.SniffRequest, l source.Limits, tmp string) (*ferryv1.SniffResponse, error) {
	sample := req.GetSample()
	if len(sample) == 0 {
		return nil, errs.Invalid("the sample is empty")
	}
	if len(sample) > MaxSample {
		return nil, errs.Invalid("the sample is %d bytes; at most %d are read", len(sample), MaxSample)
	}
	want := req.GetSpec()
	if want == nil {
		want = &ferryv1.ImportProfileSpec{}
	}
	rows := int(req.GetRows())
	if rows <= 0 {
		rows = 10
	}
	rows = min(rows, 100)
	res := &ferryv1.SniffResponse{Proposed: &ferryv1.ImportProfileSpec{Format: want.GetFormat()}}
	if res.Proposed.Format == ferryv1.FileFormat_FILE_FORMAT_UNSPECIFIED {
		switch {
		case bytes.HasPrefix(sample, zipMagic):
			res.Proposed.Format = ferryv1.FileFormat_FILE_FORMAT_XLSX
			res.Reasons = append(res.Reasons, "format: xlsx (a zip archive)")
		case bytes.HasPrefix(sample, oleMagic):
			res.Proposed.Format = ferryv1.FileFormat_FILE_FORMAT_XLS
			res.Reasons = append(res.Reasons, "format: xls (an OLE2 compound file, Excel 97-2003)")
		default:
			res.Proposed.Format = ferryv1.FileFormat_FILE_FORMAT_CSV
			res.Reasons = append(res.Reasons, "format: csv (text)")
		}
	}
	if source.IsWorkbook(res.Proposed) {
		return sniffWorkbook(req, want, res, rows, l, tmp)
	}
	return sniffText(sample, want, res, rows, l)
}

func sniffText(sample []byte, want *ferryv1.ImportProfileSpec, res *ferryv1.SniffResponse, rows int, l source.Limits) (*ferryv1.SniffResponse, error) {
	detected, why := textenc.Detect(sample)
	// UTF-16 text is full of NUL bytes; anything else with them is binary.
	if detected != textenc.UTF16LE && detected != textenc.UTF16BE {
		if r := delimited.Sniff(sample[:min(len(sample), 64<<10)]); r != "" {
			return nil, errs.Invalid("%s", r)
		}
	}
	csvSpec := proto.Clone(want.GetCsv()).(*ferryv1.CSVFormat)
	if csvSpec == nil {
		csvSpec = &ferryv1.CSVFormat{}
	}
	if csvSpec.GetEncoding() == "" {
		csvSpec.Encoding = detected.Name()
		res.Reasons = append(res.Reasons, "encoding: "+detected.Name()+" ("+why+")")
	}
	enc, err := textenc.Lookup(csvSpec.GetEncoding())
	if err != nil {
		return nil, errs.Invalid("%v", err)
	}
	decoded, err := io.ReadAll(textenc.NewDecoder(bytes.NewReader(sample), enc))
	if err != nil {
		return nil, errs.Invalid("decode the sample: %v", err)
	}
	d := delimited.SniffDialect(decoded)
	if csvSpec.Delimiter == "" {
		csvSpec.Delimiter = string(d.Delimiter)
	}
	if csvSpec.Quote == "" {
		csvSpec.Quote = string(d.Quote)
	}
	if csvSpec.Escape == ferryv1.CSVEscape_CSV_ESCAPE_UNSPECIFIED {
		csvSpec.Escape = ferryv1.CSVEscape_CSV_ESCAPE_DOUBLED
		if d.Escape == delimited.EscapeBackslash {
			csvSpec.Escape = ferryv1.CSVEscape_CSV_ESCAPE_BACKSLASH
		}
	}
	if csvSpec.Comment == "" && d.Comment != 0 {
		csvSpec.Comment = string(d.Comment)
	}
	if csvSpec.HeaderRow == 0 && !csvSpec.NoHeader {
		if d.NoHeader {
			csvSpec.NoHeader = true
		} else {
			csvSpec.HeaderRow = int32(max(d.HeaderRow, 1))
		}
	}
	if d.Reason != "" {
		res.Reasons = append(res.Reasons, fmt.Sprintf("dialect: %s (confidence %.0f%%)", d.Reason, d.Confidence*100))
	}
	res.Proposed.Csv = csvSpec
	src, err := source.OpenText(bytes.NewReader(sample), res.Proposed, l)
	if err != nil {
		return nil, errs.Invalid("%v", err)
	}
	return preview(src, res, rows, true)
}

func sniffWorkbook(req *ferryv1.SniffRequest, want *ferryv1.ImportProfileSpec, res *ferryv1.SniffResponse, rows int, l source.Limits, tmp string) (*ferryv1.SniffResponse, error) {
	sp := proto.Clone(want.GetSpreadsheet()).(*ferryv1.SpreadsheetFormat)
	if sp == nil {
		sp = &ferryv1.SpreadsheetFormat{}
	}
	f, err := os.CreateTemp(tmp, "ferry-sniff-*")
	if err != nil {
		return nil, fmt.Errorf("sniff workbook: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(req.GetSample()); err != nil {
		return nil, fmt.Errorf("sniff workbook: %w", err)
	}
	sheets, err := source.ListSheets(f, int64(len(req.GetSample())), res.Proposed.GetFormat(), l)
	if err != nil {
		return nil, errs.Invalid("%v", err)
	}
	for _, s := range sheets {
		res.Sheets = append(res.Sheets, &ferryv1.SheetInfo{Name: s.Name, Index: int32(s.Index), Hidden: s.Hidden})
	}
	if sp.Sheet == "" && sp.SheetIndex == 0 {
		for _, s := range sheets {
			if !s.Hidden {
				sp.SheetIndex = int32(s.Index)
				res.Reasons = append(res.Reasons, fmt.Sprintf("sheet: %q, the first visible sheet", s.Name))
				break
			}
		}
	}
	if sp.HeaderRow == 0 && !sp.NoHeader {
		sp.HeaderRow = 1
	}
	res.Proposed.Spreadsheet = sp
	src, err := source.OpenWorkbook(f, int64(len(req.GetSample())), res.Proposed, l)
	if err != nil {
		return nil, errs.Invalid("%v", err)
	}
	defer src.Close()
	return preview(src, res, rows, false)
}

// preview reads the header and the first rows as the import would.
func preview(src source.Source, res *ferryv1.SniffResponse, rows int, sampleMayEndMidRecord bool) (*ferryv1.SniffResponse, error) {
	header, err := src.Header()
	if err != nil {
		return nil, errs.Invalid("read the header: %v", err)
	}
	for _, h := range header {
		res.Header = append(res.Header, textenc.Printable(h))
	}
	opts := filespec.ChunkOptions(res.Proposed, src.StandardCSV(), source.Limits{})
	for len(res.Rows) < rows {
		c, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if sampleMayEndMidRecord {
				break // the sample may end inside a long record
			}
			return nil, errs.Invalid("%v", err)
		}
		r := delimited.NewReader(c.Data, c.FirstRow, opts)
		for len(res.Rows) < rows {
			row, fields, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			sr := &ferryv1.SniffRow{Row: row}
			var recErr *delimited.RecordError
			switch {
			case errors.As(err, &recErr):
				sr.Row, sr.Error = recErr.Row, recErr.Reason
			case err != nil:
				return nil, errs.Invalid("%v", err)
			}
			for _, f := range fields {
				sr.Cells = append(sr.Cells, textenc.Printable(f))
			}
			res.Rows = append(res.Rows, sr)
		}
	}
	return res, nil
}
