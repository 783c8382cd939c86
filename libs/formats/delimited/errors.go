package delimited

import (
	"errors"
	"fmt"
)

// ErrEmptyFile is returned by Splitter.Header when the stream holds no bytes
// (or only a UTF-8 byte-order mark) and, with NoHeader, when it holds no data
// record at or after HeaderRow.
var ErrEmptyFile = errors.New("the file is empty")

// Reasons a RecordError gives for a malformed record.
const (
	ReasonBareQuote      = "bare quote in unquoted field"
	ReasonAfterQuote     = "unexpected character after closing quote"
	ReasonQuoteNotClosed = "quoted field not closed"
	ReasonBlankHeader    = "the header row is blank; it must hold the column names"
	ReasonNoHeaderRow    = "the file ends before the header row"
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
	// Err is the *LimitError when the record exceeds a limit; nil otherwise.
	Err error
}

// Error returns the row, the column when there is one, and the reason, such
// as "row 7, column 3: bare quote in unquoted field".
func (e *RecordError) Error() string {
	if e.Column == 0 {
		return fmt.Sprintf("row %d: %s", e.Row, e.Reason)
	}
	return fmt.Sprintf("row %d, column %d: %s", e.Row, e.Column, e.Reason)
}

// Unwrap returns Err.
func (e *RecordError) Unwrap() error { return e.Err }

// What a LimitError says is too large.
const (
	// LimitRecord is Options.MaxRecordSize, in bytes.
	LimitRecord = "record"
	// LimitField is Options.MaxFieldSize, in bytes.
	LimitField = "field"
	// LimitColumns is Options.MaxColumns, a number of fields.
	LimitColumns = "columns"
)

// LimitError says that a record exceeds one of the limits of Options. The
// Reader returns it wrapped in a *RecordError, so that the caller can carry
// on with the next record; the Splitter returns it, or a
// *RecordTooLargeError that errors.As also finds as a *LimitError, and stops.
type LimitError struct {
	// What is the limit: LimitRecord, LimitField or LimitColumns.
	What string
	// Row is the row number of the record.
	Row int64
	// Column is the 1-based position of the field for LimitField, else 0.
	Column int
	// Limit is the limit in effect.
	Limit int
	// Got is the size or count found; 0 when reading stopped at the limit,
	// before it was known.
	Got int
	// Header says that the record is the header.
	Header bool
}

// Error names the row, the column for a field, and the limit, such as
// "row 3, column 2: field is larger than the 1048576-byte field limit" or
// "the header has 100000 columns; the limit is 10000".
func (e *LimitError) Error() string {
	if e.What == LimitColumns && e.Header {
		if e.Got == 0 {
			return fmt.Sprintf("the header has more than %d columns; the limit is %d", e.Limit, e.Limit)
		}
		return fmt.Sprintf("the header has %d columns; the limit is %d", e.Got, e.Limit)
	}
	if e.Column == 0 {
		return fmt.Sprintf("row %d: %s", e.Row, e.reason())
	}
	return fmt.Sprintf("row %d, column %d: %s", e.Row, e.Column, e.reason())
}

// reason is the message without the row and column, as a RecordError's
// Reason.
func (e *LimitError) reason() string {
	switch e.What {
	case LimitField:
		return fmt.Sprintf("field is larger than the %d-byte field limit", e.Limit)
	case LimitColumns:
		if e.Got == 0 {
			return fmt.Sprintf("the record has more than %d fields; the limit is %d columns", e.Limit, e.Limit)
		}
		return fmt.Sprintf("the record has %d fields; the limit is %d columns", e.Got, e.Limit)
	}
	return fmt.Sprintf("the record is larger than the %d-byte %s limit", e.Limit, e.What)
}

// recordError wraps e for the Reader.
func (e *LimitError) recordError() *RecordError {
	return &RecordError{Row: e.Row, Column: e.Column, Reason: e.reason(), Err: e}
}

// RecordTooLargeError is returned by the Splitter when a record is larger
// than Options.MaxRecordSize. Most often a quote was opened and never closed,
// so the rest of the file reads as one record. errors.As finds it as a
// *LimitError too, for LimitRecord.
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

// As sets a **LimitError target to the LimitRecord error that e is, so that
// callers can tell every limit apart with one type.
func (e *RecordTooLargeError) As(target any) bool {
	t, ok := target.(**LimitError)
	if ok {
		*t = &LimitError{What: LimitRecord, Row: e.Row, Limit: e.Limit}
	}
	return ok
}
