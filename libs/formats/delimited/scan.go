package delimited

import "bytes"

// quoteState is where the scanner is within a record.
type quoteState uint8

const (
	// outside quotes: a quote opens a quoted section, a line terminator ends
	// the record.
	outside quoteState = iota
	// inQuote: a quote closes the section (a doubled quote closes and
	// reopens it); with backslash escapes, a backslash escapes the next byte.
	inQuote
	// escaped: in a quoted section, and the byte at the scan position is
	// escaped by a backslash that ended the previous scan.
	escaped
	// inComment: in a comment record, which only a line terminator ends.
	inComment
)

// scanner finds the end of a record in buf[:end]. It remembers where the next
// quote, escape, LF and CR are, so that each byte is searched at most once
// per character with bytes.IndexByte, however short the records.
type scanner struct {
	buf     []byte
	end     int
	quote   byte
	esc     byte // the escape character inside quotes, 0 for none
	comment byte // the first byte of a comment record, 0 for none
	// Next position of each character at or after the last search; end means
	// none before end; any value below the current search position is stale.
	// Searches must never move backwards.
	nextQuote, nextEsc, nextLF, nextCR int
}

// newScanner returns a scanner for o, whose defaults are applied.
func newScanner(buf []byte, end int, o Options) scanner {
	return scanner{
		buf: buf, end: end, quote: o.Quote, esc: o.escapeByte(), comment: o.Comment,
		nextQuote: -1, nextEsc: -1, nextLF: -1, nextCR: -1,
	}
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

// start returns the state in which to scan a record whose first byte is at
// from, which must be before end.
func (s *scanner) start(from int) quoteState {
	if s.comment != 0 && s.buf[from] == s.comment {
		return inComment
	}
	return outside
}

// scan looks for the line terminator that ends the record, starting at from
// in state st. It returns the position of the terminator's first byte (LF or
// CR), or end when the data ends first, the state there, and whether it
// passed a quote character. Every quote character toggles between outside
// and inQuote, so a doubled quote toggles twice; with backslash escapes, the
// byte after a backslash inside quotes is skipped. Fields are not validated
// here.
func (s *scanner) scan(from int, st quoteState) (term int, _ quoteState, sawQuote bool) {
	for {
		switch st {
		case outside:
			p := s.find(from, s.quote, &s.nextQuote)
			if lf := s.find(from, '\n', &s.nextLF); lf < p {
				p = lf
			}
			if cr := s.find(from, '\r', &s.nextCR); cr < p {
				p = cr
			}
			if p == s.end || s.buf[p] != s.quote {
				return p, outside, sawQuote
			}
			st, sawQuote, from = inQuote, true, p+1
		case inQuote:
			p := s.find(from, s.quote, &s.nextQuote)
			if s.esc != 0 {
				if e := s.find(from, s.esc, &s.nextEsc); e < p {
					if e+1 == s.end {
						return s.end, escaped, sawQuote
					}
					from = e + 2
					continue
				}
			}
			if p == s.end {
				return s.end, inQuote, sawQuote
			}
			st, from = outside, p+1
		case escaped:
			if from == s.end {
				return s.end, escaped, sawQuote
			}
			st, from = inQuote, from+1
		default:
			p := s.find(from, '\n', &s.nextLF)
			if cr := s.find(from, '\r', &s.nextCR); cr < p {
				p = cr
			}
			if p == s.end {
				return s.end, inComment, sawQuote
			}
			return p, outside, sawQuote
		}
	}
}

// grow tells the scanner that buf now holds data up to end.
func (s *scanner) grow(end int) {
	for _, at := range []*int{&s.nextQuote, &s.nextEsc, &s.nextLF, &s.nextCR} {
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
	s.nextEsc -= off
	s.nextLF -= off
	s.nextCR -= off
}
