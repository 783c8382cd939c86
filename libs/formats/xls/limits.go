package xls

const (
	// DefaultMaxBytes is the file size limit used when Limits.MaxBytes is 0.
	DefaultMaxBytes = 512 << 20
	// DefaultMaxColumns is the column limit used when Limits.MaxColumns is
	// 0: BIFF8's own 256 columns (A to IV).
	DefaultMaxColumns = 256
	// DefaultMaxRows is the row limit used when Limits.MaxRows is 0: BIFF8's
	// own 65 536 rows.
	DefaultMaxRows = 65536
	// DefaultMaxCellBytes is the cell size limit used when
	// Limits.MaxCellBytes is 0.
	DefaultMaxCellBytes = 1 << 20
	// DefaultMaxStrings is the shared string table limit used when
	// Limits.MaxStrings is 0.
	DefaultMaxStrings = 256 << 20

	// maxMergedRanges bounds the merged ranges of one sheet: far more than a
	// real sheet has, and few enough to check cells against them quickly.
	maxMergedRanges = 1 << 20
)

// Limits bound what one workbook may make the reader do. A field of zero or
// less takes its default.
type Limits struct {
	// MaxBytes is the largest file accepted, in bytes. The workbook stream
	// is held in memory, so this bounds the memory of an open Workbook.
	// 512 MiB when 0.
	MaxBytes int64
	// MaxColumns is the number of columns a row may have: a value in a
	// column past it is an error. 256 when 0.
	MaxColumns int
	// MaxRows is the largest row number that may hold a value. 65 536 when 0.
	MaxRows int64
	// MaxCellBytes is the largest value of one cell, in bytes of UTF-8.
	// 1 MiB when 0.
	MaxCellBytes int
	// MaxStrings is the largest shared string table, in bytes of UTF-8.
	// 256 MiB when 0.
	MaxStrings int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
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
	if l.MaxStrings <= 0 {
		l.MaxStrings = DefaultMaxStrings
	}
	return l
}
