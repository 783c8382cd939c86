// Package delimited splits CSV and other delimited text into chunks of whole
// records and parses the records of one chunk, keeping row numbers exact.
//
// A coordinator reads the file once with a Splitter, which finds record
// boundaries without parsing fields and hands out chunks of about
// Options.TargetChunkSize bytes. Workers parse each chunk independently with a
// Reader. Both find the end of a record by the same rule: a line terminator
// (LF, CRLF or a lone CR) after an even number of quote characters in the
// record, a quote escaped by a backslash not counting with EscapeBackslash;
// a comment record ends at its first line terminator. The row number of a
// record is its 1-based position among the file's records, counted from the
// file's first byte (after a BOM), whatever the header row; blank and
// comment records count as rows but yield no data.
//
// Memory stays bounded whatever the input: the Splitter rejects a record
// over Options.MaxRecordSize, and the Reader a field over MaxFieldSize or a
// record with more fields than MaxColumns, each with a *LimitError that
// names the limit. SniffDialect proposes the options for a sample of a file.
package delimited
