package delimited

import (
	"bufio"
	"io"
	"strings"
)

// Writer writes records in a dialect that the Reader with the same Options
// reads back to the same fields: delimiter, quote, escape and trailing
// delimiter are honoured; a field is quoted when it holds the delimiter, the
// quote, a line terminator, the comment character at the start of a record,
// or a backslash under EscapeBackslash, and an empty field is written
// quoted only when it is the trailing field of a record that needs it.
type Writer struct {
	w *bufio.Writer
	o Options
}

// NewWriter returns a writer of records to w; lines end with CRLF.
func NewWriter(w io.Writer, o Options) *Writer {
	return &Writer{w: bufio.NewWriter(w), o: o.withDefaults()}
}

// Write writes one record.
func (w *Writer) Write(fields []string) error {
	d := w.o.Delimiter
	for i, f := range fields {
		if i > 0 {
			w.w.WriteByte(d)
		}
		last := i == len(fields)-1
		if w.needsQuotes(f, i == 0) || (last && f == "" && w.o.TrailingDelimiter) || (len(fields) == 1 && f == "") {
			w.quoted(f)
		} else {
			w.w.WriteString(f)
		}
	}
	if w.o.TrailingDelimiter {
		w.w.WriteByte(d)
	}
	_, err := w.w.WriteString("\r\n")
	return err
}

// Flush writes buffered data to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

func (w *Writer) needsQuotes(f string, first bool) bool {
	if f == "" {
		return false
	}
	if strings.IndexByte(f, w.o.Delimiter) >= 0 || strings.IndexByte(f, w.o.Quote) >= 0 || strings.ContainsAny(f, "\r\n") {
		return true
	}
	if w.o.Escape == EscapeBackslash && strings.IndexByte(f, '\\') >= 0 {
		return true
	}
	return first && w.o.Comment != 0 && f[0] == w.o.Comment
}

func (w *Writer) quoted(f string) {
	q := w.o.Quote
	w.w.WriteByte(q)
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == q && w.o.Escape == EscapeBackslash:
			w.w.WriteByte('\\')
		case c == '\\' && w.o.Escape == EscapeBackslash:
			w.w.WriteByte('\\')
		case c == q:
			w.w.WriteByte(q)
		}
		w.w.WriteByte(c)
	}
	w.w.WriteByte(q)
}
