package xlsx

import (
	"fmt"
	"strings"
)

// Default limits, used for the zero fields of Limits.
const (
	DefaultMaxEntries       = 10_000
	DefaultMaxUncompressed  = 4 << 30
	DefaultMaxRatio         = 1000
	DefaultMaxSharedStrings = 256 << 20
	DefaultMaxColumns       = MaxSheetColumns
	DefaultMaxRows          = MaxSheetRows
	DefaultMaxCellBytes     = 1 << 20
	DefaultMaxRowBytes      = 64 << 20
)

// The size of Excel's grid: column XFD, row 1 048 576. A cell reference
// beyond it makes a workbook malformed whatever the Limits say.
const (
	MaxSheetColumns = 16_384
	MaxSheetRows    = 1_048_576
)

// ratioFloor is the uncompressed size of an entry below which its
// compression ratio is not checked: small, very repetitive parts (a styles.xml
// full of identical fonts) compress far better than 1000:1 and are harmless.
const ratioFloor = 1 << 20

// Limits bound what a workbook may make the reader do. Zero fields take the
// defaults.
type Limits struct {
	// MaxEntries is the number of zip entries; default 10 000.
	MaxEntries int
	// MaxUncompressed is the number of bytes decompressed from all the entries
	// read, in total, counted as they come out of the decompressor (declared
	// sizes are not trusted); default 4 GiB.
	MaxUncompressed int64
	// MaxRatio is the per-entry ratio of decompressed to compressed bytes,
	// checked once an entry has given more than 1 MiB; default 1000.
	MaxRatio int
	// MaxSharedStrings is the memory the shared strings may take: their bytes
	// plus 4 bytes of index per string; default 256 MiB, at most 4 GiB.
	MaxSharedStrings int64
	// MaxColumns is the number of cells per row: no cell may lie in a column
	// beyond it; default 16 384 (Excel's own maximum, column XFD).
	MaxColumns int
	// MaxRows is the number of rows per sheet: no row may be numbered above
	// it; default 1 048 576 (Excel's maximum).
	MaxRows int64
	// MaxCellBytes is the size in bytes of one cell value or shared string;
	// default 1 MiB (Excel's own limit is 32 767 characters).
	MaxCellBytes int
	// MaxRowBytes is the size in bytes of all the values of one row; default
	// 64 MiB. It bounds the memory of a row, which MaxColumns × MaxCellBytes
	// (16 GiB by default) does not.
	MaxRowBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxUncompressed <= 0 {
		l.MaxUncompressed = DefaultMaxUncompressed
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	if l.MaxSharedStrings <= 0 {
		l.MaxSharedStrings = DefaultMaxSharedStrings
	}
	// Shared strings are indexed with 32-bit offsets.
	if l.MaxSharedStrings > 1<<32-1 {
		l.MaxSharedStrings = 1<<32 - 1
	}
	if l.MaxColumns <= 0 {
		l.MaxColumns = DefaultMaxColumns
	}
	if l.MaxRows <= 0 {
		l.MaxRows = DefaultMaxRows
	}
	if l.MaxCellBytes <= 0 {
		l.MaxCellBytes = DefaultMaxCellBytes
	}
	if l.MaxRowBytes <= 0 {
		l.MaxRowBytes = DefaultMaxRowBytes
	}
	return l
}

// The limits a LimitError can name, as found in LimitError.What.
const (
	LimitZipEntries    = "zip entries"
	LimitUncompressed  = "uncompressed size"
	LimitRatio         = "compression ratio"
	LimitSharedStrings = "shared strings"
	LimitColumns       = "columns"
	LimitRows          = "rows"
	LimitCellSize      = "cell size"
	LimitRowSize       = "row size"
)

// LimitError names the limit that a workbook exceeded, the limit and what was
// found, plus the sheet, row and column where one applies.
type LimitError struct {
	// What is the limit, one of the Limit* constants such as LimitColumns.
	What string
	// Limit is the value of the limit in effect.
	Limit int64
	// Found is what the workbook had when reading stopped: the entry count,
	// the bytes decompressed, the ratio, the bytes of shared strings, the
	// column or row number, or the bytes of the cell or row read so far (for
	// sizes, reading stops just past the limit, so Found is a lower bound).
	Found int64
	// Part is the zip entry being read, when the limit concerns one.
	Part string
	// Sheet is the name of the sheet being read, if any.
	Sheet string
	// Row is the row number being read, 0 if none.
	Row int64
	// Column is the 1-based column of the cell, 0 if none.
	Column int
}

// Error names the limit, its value, what was found and where, such as
// `sheet "Data": row 1048576: cell XFD1048576 is in column 16384; the limit is
// 1000 columns`.
func (e *LimitError) Error() string {
	var b strings.Builder
	if e.Sheet != "" {
		fmt.Fprintf(&b, "sheet %q: ", e.Sheet)
	}
	if e.Row > 0 && e.What != LimitRows {
		fmt.Fprintf(&b, "row %d: ", e.Row)
	}
	if e.Part != "" {
		fmt.Fprintf(&b, "%s: ", e.Part)
	}
	switch e.What {
	case LimitZipEntries:
		fmt.Fprintf(&b, "the zip has %d entries; the limit is %d entries", e.Found, e.Limit)
	case LimitUncompressed:
		fmt.Fprintf(&b, "%d bytes decompressed from the workbook in total; the limit is %d bytes", e.Found, e.Limit)
	case LimitRatio:
		fmt.Fprintf(&b, "the entry expands %d times its compressed size; the limit is %d", e.Found, e.Limit)
	case LimitSharedStrings:
		fmt.Fprintf(&b, "the shared strings take at least %d bytes; the limit is %d bytes", e.Found, e.Limit)
	case LimitColumns:
		fmt.Fprintf(&b, "cell %s is in column %d; the limit is %d columns", cellName(e.Column, e.Row), e.Found, e.Limit)
	case LimitRows:
		fmt.Fprintf(&b, "row %d is beyond the limit of %d rows", e.Found, e.Limit)
	case LimitCellSize:
		what := "a shared string"
		if e.Column > 0 {
			what = "cell " + cellName(e.Column, e.Row)
		}
		fmt.Fprintf(&b, "%s holds at least %d bytes; the limit is %d bytes", what, e.Found, e.Limit)
	case LimitRowSize:
		fmt.Fprintf(&b, "the values of the row take at least %d bytes; the limit is %d bytes", e.Found, e.Limit)
	default:
		fmt.Fprintf(&b, "%s: found %d; the limit is %d", e.What, e.Found, e.Limit)
	}
	return b.String()
}

// cellName returns the A1-style name of a cell, such as "XFD1048576", or just
// the column letters when row is 0.
func cellName(col int, row int64) string {
	var letters [16]byte
	i := len(letters)
	for c := col; c > 0 && i > 0; c = (c - 1) / 26 {
		i--
		letters[i] = byte('A' + (c-1)%26)
	}
	if row <= 0 {
		return string(letters[i:])
	}
	return fmt.Sprintf("%s%d", letters[i:], row)
}
