package outfile

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// bufferSize is the output buffer of the text formats.
const bufferSize = 64 << 10

// bomChar and swappedBOMChar are U+FEFF and U+FFFE in UTF-8.
var (
	bomChar        = []byte("\uFEFF")
	swappedBOMChar = []byte("\uFFFE")
)

// csvWriter writes RFC 4180 CSV, one row at a time through a fixed buffer.
type csvWriter struct {
	spec *spec
	out  *countingWriter
	bw   *bufio.Writer

	delim, eol []byte // encoded
	line       []byte // the encoded row
	field      []byte // one field's text, UTF-8
	quoted     []byte // the field quoted, UTF-8

	// special marks the bytes that make a field need quotes (the
	// delimiter, '"', CR, LF) or a closer look (non-ASCII).
	special [256]bool

	stats Stats
	bad   unencodable
	// failed is set once a row could not be encoded: the caller discards
	// the file, so nothing more is written, but rows are still checked so
	// that the error lists them all.
	failed bool
	err    error
	closed bool
}

func newCSV(w io.Writer, s *spec) (*csvWriter, error) {
	out := &countingWriter{w: w}
	c := &csvWriter{spec: s, out: out, bw: bufio.NewWriterSize(out, bufferSize)}
	c.bad.err.Encoding = s.enc.name
	c.special[s.o.Delimiter], c.special['"'], c.special['\r'], c.special['\n'] = true, true, true, true
	for b := utf8.RuneSelf; b < 256; b++ {
		c.special[b] = true
	}
	eol := "\r\n"
	if s.o.LF {
		eol = "\n"
	}
	// ASCII is in every supported encoding.
	c.delim, _, _, _ = s.enc.append(nil, []byte{s.o.Delimiter})
	c.eol, _, _, _ = s.enc.append(nil, []byte(eol))
	if s.o.NoHeader {
		return c, nil
	}
	if s.o.BOM {
		c.line = append(c.line, s.enc.bom...)
	}
	for i := range s.cols {
		col := &s.cols[i]
		if i > 0 {
			c.line = append(c.line, c.delim...)
		}
		c.field = c.guard(c.field[:0], col.Header)
		c.field = append(c.field, col.Header...)
		n, r, ok := c.appendField(false)
		if !ok {
			return nil, fmt.Errorf("write csv: header %q has %s, which the encoding %s cannot hold", col.Header, describeRune(r), s.enc.name)
		}
		c.stats.Replaced += int64(n)
	}
	c.line = append(c.line, c.eol...)
	if _, err := c.bw.Write(c.line); err != nil {
		return nil, fmt.Errorf("write csv header: %w", err)
	}
	return c, nil
}

// guard starts b with an apostrophe if a spreadsheet could run text as a
// formula.
func (c *csvWriter) guard(b []byte, text string) []byte {
	if !c.spec.o.AllowFormulas && needsGuard(text) {
		b = append(b, '\'')
	}
	return b
}

func (c *csvWriter) WriteRow(row int64, cells []Value) error {
	switch {
	case c.closed:
		return errClosed
	case c.err != nil:
		return c.err
	}
	if err := c.spec.check(row, cells); err != nil {
		return err
	}
	c.line = c.line[:0]
	rowBad, replaced := false, 0
	for i := range cells {
		v, col := &cells[i], &c.spec.cols[i]
		if i > 0 {
			c.line = append(c.line, c.delim...)
		}
		if c.spec.enc.utf8 {
			// UTF-8 is written as is: the text goes straight into the line,
			// and only a field that needs quotes or is not valid UTF-8 is
			// written again the general way.
			start := len(c.line)
			if v.Kind == String || v.Kind == JSON {
				c.line = c.guard(c.line, v.Text)
			}
			c.line = col.appendText(c.line, v)
			f := c.line[start:]
			if c.plain(f, v.Kind == Null) || !c.needsQuotes(f, v.Kind == Null) && utf8.Valid(f) {
				continue
			}
			c.field = append(c.field[:0], f...)
			c.line = c.line[:start]
		} else {
			c.field = c.field[:0]
			if v.Kind == String || v.Kind == JSON {
				c.field = c.guard(c.field, v.Text)
			}
			c.field = col.appendText(c.field, v)
		}
		n, r, ok := c.appendField(v.Kind == Null)
		if !ok {
			c.bad.add(row, col.Header, r)
			rowBad = true
		}
		replaced += n
	}
	c.line = append(c.line, c.eol...)
	if rowBad {
		c.failed = true
	}
	if c.failed {
		return nil
	}
	if _, err := c.bw.Write(c.line); err != nil {
		c.err = fmt.Errorf("write csv row %d: %w", row, err)
		return c.err
	}
	c.stats.Rows++
	c.stats.Replaced += int64(replaced)
	return nil
}

// appendField quotes c.field if it needs quotes and appends it, encoded, to
// c.line. It returns the characters replaced, or the first one the encoding
// cannot hold.
func (c *csvWriter) appendField(null bool) (replaced int, bad rune, ok bool) {
	src := c.field
	if c.needsQuotes(src, null) {
		c.quoted = append(c.quoted[:0], '"')
		for _, b := range src {
			if b == '"' {
				c.quoted = append(c.quoted, '"')
			}
			c.quoted = append(c.quoted, b)
		}
		c.quoted = append(c.quoted, '"')
		src = c.quoted
	}
	c.line, replaced, bad, ok = c.spec.enc.append(c.line, src)
	return replaced, bad, ok
}

// plain reports, in one pass, that a field is ASCII and needs no quotes:
// most fields are, and are then written as they are. false says nothing:
// needsQuotes decides.
func (c *csvWriter) plain(f []byte, null bool) bool {
	if len(f) == 0 || c.spec.o.QuoteAll && !null {
		return false
	}
	switch f[0] {
	case ' ', '\t':
		return false
	}
	switch f[len(f)-1] {
	case ' ', '\t':
		return false
	}
	for _, b := range f {
		if c.special[b] {
			return false
		}
	}
	return true
}

// needsQuotes reports whether a field must be quoted: when it holds the
// delimiter, a quote, CR or LF (RFC 4180), starts or ends with a space or a
// tab (which readers often trim), starts with U+FEFF or U+FFFE (which a
// reader takes for a byte-order mark at the start of a file), or is empty but not null, so that an
// empty string ("") differs from a null (nothing). A one-column row is
// always quoted when empty, since many readers skip empty lines. QuoteAll
// quotes every field but nulls.
func (c *csvWriter) needsQuotes(f []byte, null bool) bool {
	if len(f) == 0 {
		return !null || len(c.spec.cols) == 1
	}
	if c.spec.o.QuoteAll && !null {
		return true
	}
	switch f[0] {
	case ' ', '\t':
		return true
	}
	switch f[len(f)-1] {
	case ' ', '\t':
		return true
	}
	if bytes.HasPrefix(f, bomChar) || bytes.HasPrefix(f, swappedBOMChar) {
		return true
	}
	d := c.spec.o.Delimiter
	for _, b := range f {
		if b == d || b == '"' || b == '\r' || b == '\n' {
			return true
		}
	}
	return false
}

func (c *csvWriter) Close() (Stats, error) {
	if c.closed {
		return c.stats, errClosed
	}
	c.closed = true
	c.stats.Bytes = c.out.n
	if c.err != nil {
		return c.stats, c.err
	}
	if err := c.bad.result(); err != nil {
		return c.stats, err
	}
	err := c.bw.Flush()
	c.stats.Bytes = c.out.n
	if err != nil {
		return c.stats, fmt.Errorf("write csv: %w", err)
	}
	return c.stats, nil
}
