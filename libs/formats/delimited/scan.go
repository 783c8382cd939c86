package delimited

import "bytes"

// scanner finds the end of a record in buf[:end]. It remembers where the next
// quote, LF and CR are, so that each byte is searched at most once per
// character with bytes.IndexByte, however short the records.
type scanner struct {
	buf   []byte
	end   int
	quote byte
	// Next position of each character at or after the last search; end means
	// none before end; any value below the current search position is stale.
	nextQuote, nextLF, nextCR int
}

func newScanner(buf []byte, end int, quote byte) scanner {
	return scanner{buf: buf, end: end, quote: quote, nextQuote: -1, nextLF: -1, nextCR: -1}
}

func (s *scanner) find(from int, c byte, at *int) int {
	if *at < from {
		if i := bytes.IndexByte(s.buf[from:s.end], c); i >= 0 {
			*at = from + i
		} else {
			*at = s.end
		}
	}
	return *at
}

// scan looks for the line terminator that ends the record, starting at from
// with the given quote parity. It returns the position of the terminator's
// first byte (LF or CR), or end when the data ends first, the quote parity
// there, and whether it passed a quote character. Every quote character
// toggles the parity, so a doubled quote toggles twice; fields are not
// validated here.
func (s *scanner) scan(from int, inQuote bool) (term int, stillInQuote, sawQuote bool) {
	for {
		if inQuote {
			p := s.find(from, s.quote, &s.nextQuote)
			if p == s.end {
				return s.end, true, sawQuote
			}
			inQuote, from = false, p+1
			continue
		}
		p := s.find(from, s.quote, &s.nextQuote)
		if lf := s.find(from, '\n', &s.nextLF); lf < p {
			p = lf
		}
		if cr := s.find(from, '\r', &s.nextCR); cr < p {
			p = cr
		}
		if p == s.end || s.buf[p] != s.quote {
			return p, false, sawQuote
		}
		inQuote, sawQuote, from = true, true, p+1
	}
}

// grow tells the scanner that buf now holds data up to end.
func (s *scanner) grow(end int) {
	for _, at := range []*int{&s.nextQuote, &s.nextLF, &s.nextCR} {
		if *at == s.end {
			*at = -1
		}
	}
	s.end = end
}

// shift tells the scanner that the data moved off bytes to the left, into buf.
func (s *scanner) shift(buf []byte, off int) {
	s.buf = buf
	s.end -= off
	s.nextQuote -= off
	s.nextLF -= off
	s.nextCR -= off
}
