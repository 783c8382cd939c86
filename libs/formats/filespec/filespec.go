// Package filespec turns an import profile's file settings into the options
// of the format readers, so that every stage reads a file the same way.
package filespec

import (
	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/formats/delimited"
)

// Limits bound what one file may make the readers do.
type Limits struct {
	ChunkSize     int
	MaxRecordSize int
	MaxFieldSize  int
	MaxColumns    int
	MaxRows       int64
	// MaxUncompressed bounds what a workbook may decompress to.
	MaxUncompressed int64
}

// CSVOptions are the options that split a CSV profile's (decoded) file.
func CSVOptions(spec *ferryv1.ImportProfileSpec, l Limits) delimited.Options {
	c := spec.GetCsv()
	o := delimited.Options{
		TargetChunkSize: l.ChunkSize, MaxRecordSize: l.MaxRecordSize, MaxFieldSize: l.MaxFieldSize, MaxColumns: l.MaxColumns,
		HeaderRow: int(c.GetHeaderRow()), NoHeader: c.GetNoHeader(), TrailingDelimiter: c.GetTrailingDelimiter(),
	}
	if d := c.GetDelimiter(); len(d) == 1 {
		o.Delimiter = d[0]
	}
	if q := c.GetQuote(); len(q) == 1 {
		o.Quote = q[0]
	}
	if m := c.GetComment(); len(m) == 1 {
		o.Comment = m[0]
	}
	if c.GetEscape() == ferryv1.CSVEscape_CSV_ESCAPE_BACKSLASH {
		o.Escape = delimited.EscapeBackslash
	}
	return o
}

// ChunkOptions are the options that read the records of a chunk: the
// profile's dialect, or RFC 4180 for chunks that ingest wrote from a
// workbook (standard). Chunks hold no header.
func ChunkOptions(spec *ferryv1.ImportProfileSpec, standard bool, l Limits) delimited.Options {
	if standard {
		return delimited.Options{MaxRecordSize: l.MaxRecordSize, MaxFieldSize: l.MaxFieldSize, MaxColumns: l.MaxColumns}
	}
	o := CSVOptions(spec, l)
	o.HeaderRow, o.NoHeader = 0, false
	return o
}
