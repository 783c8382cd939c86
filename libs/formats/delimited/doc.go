// Package delimited splits CSV and other delimited text into chunks of whole
// records and parses the records of one chunk, keeping row numbers exact.
//
// A coordinator reads the file once with a Splitter, which finds record
// boundaries without parsing fields and hands out chunks of about
// Options.TargetChunkSize bytes. Workers parse each chunk independently with a
// Reader. Both find the end of a record by the same rule: a line terminator
// (LF, CRLF or a lone CR) after an even number of quote characters in the
// record. The row number of a record is its 1-based position among the
// file's records, the header being row 1; blank records count as rows but
// yield no data.
package delimited
