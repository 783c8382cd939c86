// Package xls reads Excel 97-2003 workbooks (.xls, BIFF8 in an OLE2
// compound file) from untrusted uploads, row by row, as the strings a person
// typed.
//
// The API and the value rules are those of package xlsx: Open the file,
// pick a Sheet, and read its rows with a RowReader. Values follow these
// rules; formulas are never evaluated:
//
//   - strings exactly as stored;
//   - numbers as the shortest decimal that reads back as the same float64,
//     without an exponent and without a trailing ".0" ("1234567890123456",
//     "0.1", "-42", "0.00000015");
//   - booleans as "TRUE" or "FALSE", error cells as "#N/A", "#DIV/0!", ...;
//   - a number whose cell format is a date or time format as ISO 8601:
//     "2024-03-15", "2024-03-15T09:30:00" or "09:30:00", rounded to the
//     second, in the workbook's 1900 or 1904 date system; elapsed-time
//     formats such as [h]:mm:ss give hours past 24 ("36:00:00");
//   - a formula cell as its cached result, by the rules above;
//   - in a merged range only the top-left cell has a value.
//
// A .xls file is not streamed: the workbook stream is read into memory, so
// Limits.MaxBytes bounds the memory that one workbook takes. Rows are then
// decoded one at a time. Malformed input yields errors, never a panic.
package xls
