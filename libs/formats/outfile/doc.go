// Package outfile writes typed rows to CSV, XLSX and JSON Lines files that
// people open in spreadsheets and programs read. It is exact with the data,
// safe to open in a spreadsheet, and its memory does not grow with the
// number of rows.
//
// Values are written from their canonical text, never through a float:
// Integer and Decimal cells from Value.Num, dates as YYYY-MM-DD and
// timestamps as RFC 3339 in UTC unless the column has a date format. Every
// format writes a Null cell as nothing (CSV), an empty cell (XLSX) or null
// (JSONL).
//
// CSV follows RFC 4180: a field is quoted when it holds the delimiter, a
// quote, CR or LF, and also when it starts or ends with a space or a tab, or
// is an empty string (so "" is an empty string and nothing is a null).
// Quotes inside are doubled. Text is encoded cell by cell with
// golang.org/x/text; a character the encoding cannot hold is never written
// as something else unless Options.ReplaceUnencodable says so: the row is
// left out and Close returns an *UnencodableError naming the rows, which
// means the caller must discard what was written.
//
// Spreadsheets run cells that start with = + - @ (and, for some, TAB, CR or
// NUL) as formulas. Unless Options.AllowFormulas is set, CSV and XLSX write
// such String and JSON cells, and headers, with a leading apostrophe;
// numbers, dates and booleans are never changed.
//
// XLSX writes the sheet's XML itself, row by row, into a zip entry of the
// output deflated at best speed (nothing spooled, memory independent of the
// row count), and the workbook's other small parts at Close. Strings are
// inline string cells (no shared-strings table, which would hold every
// distinct text in memory), escaped so that they read back exactly: markup
// characters, carriage returns, spaces at the ends and literal _xHHHH_
// sequences; "007" stays "007". Numbers are number cells unless they have
// more than 15 significant digits or lie outside Excel's range: Excel stores a double and shows 15 digits, so such a number is
// written as a string cell to keep every digit. Dates and timestamps are
// Excel dates with a number format converted from the column's date format
// (yyyy-mm-dd and yyyy-mm-dd hh:mm:ss by default); Excel shows at most
// milliseconds and cannot show dates before 1900 or after 9999, which are
// written as text. Characters XML cannot hold (control characters other
// than TAB, CR and LF) are unencodable in XLSX, and text longer than the
// 32,767 characters of an Excel cell is an error.
//
// JSON Lines writes one object per line with the headers as keys in column
// order, numbers as JSON numbers copied from Num, booleans as true and
// false, and JSON cells embedded as JSON when they are valid JSON (compacted
// onto the line) and as strings otherwise.
//
// A large export may be written in parts that are concatenated: the first
// part carries the byte-order mark and the header, and the others set
// Options.NoHeader.
package outfile
