package main

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf16"

	"golang.org/x/text/encoding"
)

const (
	bomUTF8    = "\xEF\xBB\xBF"
	lf         = "\n"
	crlf       = "\r\n"
	cr         = "\r"
	noTerminal = ""
)

// lines joins ls, each followed by term.
func lines(term string, ls ...string) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l)
		b.WriteString(term)
	}
	return b.String()
}

// text returns a generator of s as it is (UTF-8 or raw bytes).
func text(s string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(s), nil }
}

// encoded returns a generator of s encoded with e; a character e cannot
// encode is an error, never a replacement.
func encoded(e encoding.Encoding, s string) func() ([]byte, error) {
	return func() ([]byte, error) {
		b, err := e.NewEncoder().Bytes([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("encode %q: %w", s, err)
		}
		return b, nil
	}
}

// mustContain wraps a generator and fails unless the output holds every
// byte sequence of seqs (to be sure that a case holds the bytes it is about).
func mustContain(gen func() ([]byte, error), seqs ...string) func() ([]byte, error) {
	return func() ([]byte, error) {
		b, err := gen()
		if err != nil {
			return nil, err
		}
		for _, s := range seqs {
			if !bytes.Contains(b, []byte(s)) {
				return nil, fmt.Errorf("output does not contain % x", s)
			}
		}
		return b, nil
	}
}

// loneSurrogateMarker stands for the lone code unit U+D83D in a string given
// to utf16Text (a Go string cannot hold a surrogate): a private-use
// character that no case uses otherwise.
const loneSurrogateMarker = "\uE000"

// utf16Text encodes s as UTF-16 with a byte-order mark, writing
// loneSurrogateMarker as the lone high surrogate U+D83D.
func utf16Text(s string, bigEndian bool) []byte {
	var units []uint16
	for _, r := range s {
		if string(r) == loneSurrogateMarker {
			units = append(units, 0xD83D)
			continue
		}
		units = append(units, utf16.Encode([]rune{r})...)
	}
	out := make([]byte, 0, 2+2*len(units))
	put := func(u uint16) {
		if bigEndian {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	put(0xFEFF)
	for _, u := range units {
		put(u)
	}
	return out
}
