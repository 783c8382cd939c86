package delimited

import (
	"errors"
	"fmt"
)

// ErrEmptyFile is returned by Splitter.Header when the stream holds no bytes
// (or only a UTF-8 byte-order mark).
var ErrEmptyFile = errors.New("the file is empty")

// Reasons a RecordError gives for a malformed record.
const (
	ReasonBareQuote      = "bare quote in unquoted field"
	ReasonAfterQuote     = "unexpected character after closing quote"
	ReasonQuoteNotClosed = "quoted field not closed"
	ReasonBlankHeader    = "the header row is blank; it must hold the column names"
)

// RecordError says what is wrong with one record.
type RecordError struct {
	// Row is the row number of the record.
	Row int64
	// Column is the 1-based position of the faulty field, 0 if the fault is
	// not in one field.
	Column int
	// Reason describes the fault, for example ReasonBareQuote.
	Reason string
}

// Error returns the row, the column when there is one, and the reason, such
// as "row 7, column 3: bare quote in unquoted field".
func (e *RecordError) Error() string {
	if e.Column == 0 {
		return fmt.Sprintf("row %d: %s", e.Row, e.Reason)
	}
	return fmt.Sprintf("row %d, column %d: %s", e.Row, e.Column, e.Reason)
}

// RecordTooLargeError is returned by the Splitter when a record is larger
// than Options.MaxRecordSize. Most often a quote was opened and never closed,
// so the rest of the file reads as one record.
type RecordTooLargeError struct {
	// Row is the row number of the record.
	Row int64
	// Limit is the MaxRecordSize in effect.
	Limit int
}

// Error names the row and the limit.
func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("row %d is larger than the %d-byte record limit (is a quote not closed?)", e.Row, e.Limit)
}
