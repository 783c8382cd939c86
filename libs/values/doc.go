// Package values parses the text of a cell into the canonical text of a typed
// value: dates as YYYY-MM-DD, timestamps as RFC 3339 in UTC, numbers as plain
// decimal text and booleans from configurable words.
//
// Every parser is exact: it never guesses between two readings of a value and
// never changes a value silently. A value that could mean two things (a date
// such as 03/04/2024 without a format, or a local time that happens twice on
// the day clocks go back) is an error that names both readings. Errors are
// sentences a user can act on: they quote the value and say which form was
// expected.
package values
