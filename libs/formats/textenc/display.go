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
