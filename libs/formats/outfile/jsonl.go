package outfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// jsonlWriter writes one JSON object per line, with the keys in column
// order.
type jsonlWriter struct {
	spec  *spec
	out   *countingWriter
	bw    *bufio.Writer
	keys  [][]byte // `{"key":` for the first column, `,"key":` for the others
	line  bytes.Buffer
	text  []byte
	field []byte

	stats  Stats
	bad    unencodable
	failed bool
	err    error
	closed bool
}

func newJSONL(w io.Writer, s *spec) (*jsonlWriter, error) {
	out := &countingWriter{w: w}
	j := &jsonlWriter{spec: s, out: out, bw: bufio.NewWriterSize(out, bufferSize)}
	j.bad.err.Encoding = s.enc.name
	seen := map[string]bool{}
	for i := range s.cols {
		h := s.cols[i].Header
		if k, r := firstUnfit(h, anyRune); k >= 0 {
			if !s.o.ReplaceUnencodable {
				return nil, fmt.Errorf("write jsonl: header %q has %s", h, describeRune(r))
			}
			var n int
			h, n = replaceUnfit(h, k, anyRune)
			if seen[h] {
				return nil, fmt.Errorf("write jsonl: header %q is %q once invalid UTF-8 is replaced, as another header is", s.cols[i].Header, h)
			}
			j.stats.Replaced += int64(n)
		}
		seen[h] = true
		key := []byte{','}
		if i == 0 {
			key[0] = '{'
		}
		key = appendJSONString(key, h)
		j.keys = append(j.keys, append(key, ':'))
	}
	return j, nil
}

func (j *jsonlWriter) WriteRow(row int64, cells []Value) error {
	switch {
	case j.closed:
		return errClosed
	case j.err != nil:
		return j.err
	}
	if err := j.spec.check(row, cells); err != nil {
		return err
	}
	j.line.Reset()
	rowBad, replaced := false, 0
	for i := range cells {
		v, col := &cells[i], &j.spec.cols[i]
		j.line.Write(j.keys[i])
		switch v.Kind {
		case Null:
			j.line.WriteString("null")
		case String, JSON:
			text := v.Text
			if k, r := firstUnfit(text, anyRune); k >= 0 {
				if !j.spec.o.ReplaceUnencodable {
					j.bad.add(row, col.Header, r)
					rowBad = true
					continue
				}
				var n int
				text, n = replaceUnfit(text, k, anyRune)
				replaced += n
			}
			// Compact validates, drops the whitespace (and so the line
			// breaks) between tokens and keeps numbers as written; on
			// an error it writes nothing.
			if v.Kind == JSON && json.Compact(&j.line, []byte(text)) == nil {
				continue
			}
			j.text = appendJSONString(j.text[:0], text)
			j.line.Write(j.text)
		case Integer, Decimal:
			j.line.WriteString(v.Num)
		case Bool:
			if v.Bool {
				j.line.WriteString("true")
			} else {
				j.line.WriteString("false")
			}
		case Date, Timestamp:
			j.field = col.appendText(j.field[:0], v)
			j.text = appendJSONString(j.text[:0], j.field)
			j.line.Write(j.text)
		}
	}
	j.line.WriteString("}\n")
	if rowBad {
		j.failed = true
	}
	if j.failed {
		return nil
	}
	if _, err := j.bw.Write(j.line.Bytes()); err != nil {
		j.err = fmt.Errorf("write jsonl row %d: %w", row, err)
		return j.err
	}
	j.stats.Rows++
	j.stats.Replaced += int64(replaced)
	return nil
}

func (j *jsonlWriter) Close() (Stats, error) {
	if j.closed {
		return j.stats, errClosed
	}
	j.closed = true
	j.stats.Bytes = j.out.n
	if j.err != nil {
		return j.stats, j.err
	}
	if err := j.bad.result(); err != nil {
		return j.stats, err
	}
	err := j.bw.Flush()
	j.stats.Bytes = j.out.n
	if err != nil {
		return j.stats, fmt.Errorf("write jsonl: %w", err)
	}
	return j.stats, nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s, valid UTF-8, as a JSON string. Like
// encoding/json it escapes control characters and U+2028 and U+2029 (line
// breaks to some readers), but not HTML.
func appendJSONString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0xE2 {
			continue
		}
		if c == 0xE2 {
			// U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
			if i+2 >= len(s) || s[i+1] != 0x80 || s[i+2] != 0xA8 && s[i+2] != 0xA9 {
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[s[i+2]&0xF])
			i += 2
			start = i + 1
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
