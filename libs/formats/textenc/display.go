package textenc

import "strings"

// Printable returns s with every invalid-byte marker replaced by U+FFFD, for
// showing a value to a person (in a reject); the value itself is never
// stored that way.
func Printable(s string) string {
	if strings.IndexByte(s, MarkerStart) < 0 {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, MarkerStart)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString("\uFFFD")
		j := strings.IndexByte(s[i:], MarkerEnd)
		if j < 0 {
			return b.String()
		}
		s = s[i+j+1:]
	}
}

// Storable returns s as text that PostgreSQL and protobuf can hold, for
// showing a record to a person (rejects, held rows): invalid-byte markers
// and invalid UTF-8 become U+FFFD, and NUL, which PostgreSQL text cannot
// hold, becomes U+2400 (␀).
func Storable(s string) string {
	s = strings.ToValidUTF8(Printable(s), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\u2400")
}

// StorableAll applies Storable to every value of v.
func StorableAll(v []string) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = Storable(s)
	}
	return out
}
