// Package textenc decodes the text encodings of imported files to UTF-8
// without ever changing a value silently.
//
// A Decoder reads a whole file from its first byte. A byte-order mark at the
// start decides the encoding, whatever was declared, and is removed. Every
// maximal run of bytes that are invalid in the encoding is replaced by a
// marker: MarkerStart, the decimal offset of the run's first byte in the
// original file, MarkerEnd. Both marker bytes can never occur in UTF-8, so the
// markers survive any splitting of the output into records, and a later stage
// finds them with FindInvalid and rejects the row, naming the byte offset.
// Outside the markers the output is valid UTF-8; a U+FFFD that is validly
// encoded in the input stays U+FFFD.
//
// Line terminators, quotes and delimiters are ASCII in every supported
// encoding, so a CSV splitter can run on the decoded output.
//
// Detect proposes an encoding for the first bytes of a file.
package textenc
