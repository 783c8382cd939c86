package textenc

import (
	"math"
	"strconv"
	"strings"
)

// The bytes that open and close the marker of an invalid run. Neither can
// occur in UTF-8.
const (
	MarkerStart byte = 0xFF
	MarkerEnd   byte = 0xFE
)

// maxMarkerLen is the length of the longest marker: MarkerStart, 19 digits
// and MarkerEnd.
const maxMarkerLen = 21

// putMarker writes the marker for file offset off at the start of dst, which
// has room for maxMarkerLen bytes, and returns its length.
func putMarker(dst []byte, off int64) int {
	dst[0] = MarkerStart
	digits := strconv.AppendInt(dst[1:1:maxMarkerLen], off, 10)
	dst[1+len(digits)] = MarkerEnd
	return len(digits) + 2
}

// FindInvalid returns the file offset carried by the first marker in s, if
// any. A MarkerStart byte that does not begin a well-formed marker, as when s
// was cut inside one, is reported as found with offset -1: s holds invalid
// input either way.
func FindInvalid(s string) (offset int64, found bool) {
	i := strings.IndexByte(s, MarkerStart)
	if i < 0 {
		return 0, false
	}
	digits := s[i+1:]
	end := strings.IndexByte(digits, MarkerEnd)
	if end <= 0 || end > maxMarkerLen-2 {
		return -1, true
	}
	var n int64
	for _, c := range []byte(digits[:end]) {
		d := int64(c - '0')
		if c < '0' || c > '9' || n > (math.MaxInt64-d)/10 {
			return -1, true
		}
		n = n*10 + d
	}
	return n, true
}
