// Package xlsx reads Excel workbooks (.xlsx, .xlsm) from untrusted files,
// streaming one row at a time, with the standard library only.
//
// Open reads the structure of a workbook and keeps its shared strings in
// memory; Workbook.Rows streams a sheet, so memory stays bounded by one row
// plus the shared strings. Every cost a file can impose is bounded by Limits:
// zip entries, bytes decompressed (counted as they come out of the
// decompressor, not as declared), the compression ratio of each entry, the
// memory of the shared strings, the columns and rows of a sheet and the size
// of a cell and of a row. The XML reader refuses DOCTYPE declarations and undefined
// entities, so entity expansion and external entities cannot happen, and
// bounds nesting and tag size. The <dimension> of a sheet is ignored: memory
// follows the cells actually present. Open, Rows and Next turn panics into a
// *PanicError ("malformed workbook: ..."), and every error about the content
// of a file matches ErrMalformed, ErrNotWorkbook, ErrEncrypted, ErrLegacyXLS,
// ErrBinaryWorkbook or is a *LimitError.
//
// # Values
//
// The reader gives what a person typed and never infers types beyond the
// cell's own type and number format, nor evaluates formulas:
//
//   - Text (shared strings, inline strings, formula results) is returned
//     exactly: "00123" stays "00123". Rich-text runs are concatenated,
//     phonetic runs dropped, _xHHHH_ escapes decoded. A <t> without
//     xml:space="preserve" is trimmed of leading and trailing whitespace
//     unless it holds only whitespace, as Excel shows it.
//   - Numbers are the shortest decimal that round-trips to the stored double,
//     without exponent or trailing ".0": 1234567890123456, 1.5, 0.0000001;
//     -0 is "0". Whatever is stored is output in full, so a value Excel shows
//     as 0.3 may be 0.30000000000000004.
//   - Booleans are TRUE and FALSE; error cells give their text, like #N/A;
//     t="d" cells (ISO dates written by some tools) are passed through.
//   - A formula cell gives its cached value, typed as above; a formula
//     without a cached value gives "".
//   - A merged range is read as stored: its top-left cell has the value, the
//     other cells are empty. The <mergeCells> list follows the rows in the
//     sheet part, so a streaming reader could not copy the value anyway.
//   - Hidden sheets, rows and columns are read like any other.
//
// # Dates and times
//
// A numeric cell is a date or time when its number format is one: the
// built-in formats 14–22, 27–36, 45–47, 50–58 (and the Thai 71–81), or a
// custom format with y, m, d, h or s (or the East Asian era tokens e and g)
// outside quoted text, backslash escapes and brackets. Its serial number is
// converted in the workbook's date system (Date1904) and output as ISO 8601
// without a zone:
//
//   - "2024-03-15" when the format has no time part,
//   - "2024-03-15T09:30:00" when it has a date and a time,
//   - "09:30:00" when it has only a time (the time of day of the value),
//
// rounded to the nearest second, or to the millisecond with three fraction
// digits ("09:30:00.250") when the format shows fractions of a second. The
// rounding works on the fraction of the day, so 45366.395833333336 gives
// 09:30:00, not 09:29:59.
//
// In the 1900 date system serial 1 is 1900-01-01 and serial 60 is Excel's
// fictitious 1900-02-29 (a bug kept from Lotus 1-2-3): it is output as
// "1900-02-29", the text Excel shows, so that the error surfaces where the
// value is used rather than being shifted silently. Serial 0 is 1899-12-31
// (Excel shows "1900-01-00"). In the 1904 system serial 0 is 1904-01-01.
// A negative serial, or one past 9999-12-31, is output as a number.
//
// Elapsed-time formats, with [h], [m] or [s] (built-in 46, [h]:mm:ss), are
// durations, not times of day: they are output as hours, minutes and seconds
// with the hours not wrapped at 24 and a minus sign when negative, such as
// "36:30:00" for 1.5208333 ([mm]:ss showing 2190:00 gives "36:30:00" too).
//
// # Files that are not workbooks
//
// An OLE2 compound file (signature D0 CF 11 E0) is either an encrypted
// workbook or an Excel 97-2003 .xls. Open reads the compound file's
// directory: a stream named EncryptionInfo or EncryptedPackage gives
// ErrEncrypted ("the workbook is encrypted (password-protected); save it
// without a password"), a Workbook or Book stream ErrLegacyXLS; a directory
// that cannot be read gives ErrNotWorkbook with a message naming both.
package xlsx
