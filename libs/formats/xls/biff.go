package xls

import (
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// BIFF8 record types read by the package ([MS-XLS] 2.3).
const (
	recFormula    = 0x0006
	recEOF        = 0x000A
	recDateMode   = 0x0022
	recFilePass   = 0x002F
	recContinue   = 0x003C
	recCodePage   = 0x0042
	recBoundSheet = 0x0085
	recMulRK      = 0x00BD
	recMulBlank   = 0x00BE
	recRString    = 0x00D6
	recXF         = 0x00E0
	recMergeCells = 0x00E5
	recSST        = 0x00FC
	recLabelSST   = 0x00FD
	recBlank      = 0x0201
	recNumber     = 0x0203
	recLabel      = 0x0204
	recBoolErr    = 0x0205
	recString     = 0x0207
	recArray      = 0x0221
	recTable      = 0x0236
	recRK         = 0x027E
	recFormat     = 0x041E
	recShrFmla    = 0x04BC
	recBOF        = 0x0809
)

// BOF versions and substream types.
const (
	biff8       = 0x0600
	biff5       = 0x0500
	bofGlobals  = 0x0005
	bofSheet    = 0x0010
	sheetNormal = 0 // BOUNDSHEET8 dt of a worksheet or dialog sheet
)

func u16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func u32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// record is one BIFF record of the workbook stream.
type record struct {
	id   uint16
	off  int    // offset of the record header in the stream
	data []byte // the payload
}

// next is the offset of the record after r.
func (r record) next() int { return r.off + 4 + len(r.data) }

// readRecord reads the record whose header starts at off.
func readRecord(s []byte, off int) (record, error) {
	if off < 0 || off > len(s)-4 {
		return record{}, malformed("a record at byte %d runs past the end of the %d-byte stream (is the file truncated?)", off, len(s))
	}
	id, n := u16(s[off:]), int(u16(s[off+2:]))
	if n > len(s)-off-4 {
		return record{}, malformed("record 0x%04X at byte %d declares %d bytes, %d remain (is the file truncated?)", id, off, n, len(s)-off-4)
	}
	return record{id: id, off: off, data: s[off+4 : off+4+n]}, nil
}

// continued returns a cursor over the payload of r and of the CONTINUE
// records that follow it.
func continued(s []byte, r record) (*cursor, error) {
	c := &cursor{segs: [][]byte{r.data}}
	for off := r.next(); off <= len(s)-4 && u16(s[off:]) == recContinue; {
		next, err := readRecord(s, off)
		if err != nil {
			return nil, err
		}
		c.segs = append(c.segs, next.data)
		off = next.next()
	}
	return c, nil
}

// errTruncated is the detail of a read past the end of a record and its
// CONTINUE records.
const errTruncated = "runs past the end of its record"

// cursor reads a record split over CONTINUE records. Fixed-size fields run
// on across the split; character data restarts with a new flags byte at
// the start of each CONTINUE record ([MS-XLS] 2.5.293).
type cursor struct {
	segs [][]byte
	seg  int
	off  int
}

// atEnd reports whether every byte has been read.
func (c *cursor) atEnd() bool {
	for c.seg < len(c.segs) && c.off >= len(c.segs[c.seg]) {
		c.seg++
		c.off = 0
	}
	return c.seg >= len(c.segs)
}

// take returns the next n bytes; n is small.
func (c *cursor) take(n int) ([]byte, bool) {
	if c.seg < len(c.segs) && c.off+n <= len(c.segs[c.seg]) {
		b := c.segs[c.seg][c.off : c.off+n]
		c.off += n
		return b, true
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		if c.atEnd() {
			return nil, false
		}
		seg := c.segs[c.seg]
		k := min(n-len(out), len(seg)-c.off)
		out = append(out, seg[c.off:c.off+k]...)
		c.off += k
	}
	return out, true
}

// skip passes over n bytes.
func (c *cursor) skip(n int64) bool {
	for n > 0 {
		if c.atEnd() {
			return false
		}
		k := min(n, int64(len(c.segs[c.seg])-c.off))
		c.off += int(k)
		n -= k
	}
	return n == 0
}

func (c *cursor) u8() (byte, bool) {
	b, ok := c.take(1)
	if !ok {
		return 0, false
	}
	return b[0], true
}

func (c *cursor) u16() (uint16, bool) {
	b, ok := c.take(2)
	if !ok {
		return 0, false
	}
	return u16(b), true
}

func (c *cursor) u32() (uint32, bool) {
	b, ok := c.take(4)
	if !ok {
		return 0, false
	}
	return u32(b), true
}

// chars reads cch characters, one byte each (Latin-1) when high is false,
// UTF-16LE otherwise, and returns them as UTF-8.
func (c *cursor) chars(cch int, high bool) (string, bool) {
	d := utf8Builder{buf: make([]byte, 0, cch)}
	for n := 0; n < cch; {
		if c.seg >= len(c.segs) {
			return "", false
		}
		seg := c.segs[c.seg]
		if c.off >= len(seg) {
			// The string goes on in the next CONTINUE record, whose first
			// byte says whether it goes on compressed or not.
			c.seg++
			c.off = 0
			if c.seg < len(c.segs) && len(c.segs[c.seg]) > 0 {
				high = c.segs[c.seg][0]&0x01 != 0
				c.off = 1
			}
			continue
		}
		rest := seg[c.off:]
		if !high {
			k := min(cch-n, len(rest))
			for _, b := range rest[:k] {
				d.put(rune(b))
			}
			c.off += k
			n += k
			continue
		}
		k := min(cch-n, len(rest)/2)
		if k == 0 {
			return "", false // half a UTF-16 code unit before the split
		}
		for i := range k {
			d.put(rune(u16(rest[2*i:])))
		}
		c.off += 2 * k
		n += k
	}
	return d.String(), true
}

// utf8Builder turns UTF-16 code units into UTF-8. A surrogate pair may be
// split between two CONTINUE records; unpaired surrogates become U+FFFD, as
// in utf16.Decode.
type utf8Builder struct {
	buf  []byte
	high rune // a high surrogate waiting for its pair, or 0
}

func (d *utf8Builder) put(u rune) {
	if d.high != 0 {
		if 0xDC00 <= u && u < 0xE000 {
			d.buf = utf8.AppendRune(d.buf, utf16.DecodeRune(d.high, u))
			d.high = 0
			return
		}
		d.buf = utf8.AppendRune(d.buf, utf8.RuneError)
		d.high = 0
	}
	switch {
	case u < 0x80:
		d.buf = append(d.buf, byte(u))
	case 0xD800 <= u && u < 0xDC00:
		d.high = u
	case 0xDC00 <= u && u < 0xE000:
		d.buf = utf8.AppendRune(d.buf, utf8.RuneError)
	default:
		d.buf = utf8.AppendRune(d.buf, u)
	}
}

func (d *utf8Builder) String() string {
	if d.high != 0 {
		d.buf = utf8.AppendRune(d.buf, utf8.RuneError)
		d.high = 0
	}
	return string(d.buf)
}

// unicodeString reads an XLUnicodeString: a 16-bit count, flags, characters.
func (c *cursor) unicodeString() (string, bool) {
	cch, ok := c.u16()
	if !ok {
		return "", false
	}
	flags, ok := c.u8()
	if !ok {
		return "", false
	}
	return c.chars(int(cch), flags&0x01 != 0)
}

// shortString reads a ShortXLUnicodeString: an 8-bit count, flags,
// characters.
func (c *cursor) shortString() (string, bool) {
	cch, ok := c.u8()
	if !ok {
		return "", false
	}
	flags, ok := c.u8()
	if !ok {
		return "", false
	}
	return c.chars(int(cch), flags&0x01 != 0)
}

// richString reads an XLUnicodeRichExtendedString, the string of the shared
// string table, and drops its formatting runs and phonetic data.
func (c *cursor) richString() (string, bool) {
	cch, ok := c.u16()
	if !ok {
		return "", false
	}
	flags, ok := c.u8()
	if !ok {
		return "", false
	}
	var runs uint16
	var ext uint32
	if flags&0x08 != 0 {
		if runs, ok = c.u16(); !ok {
			return "", false
		}
	}
	if flags&0x04 != 0 {
		if ext, ok = c.u32(); !ok {
			return "", false
		}
	}
	s, ok := c.chars(int(cch), flags&0x01 != 0)
	if !ok {
		return "", false
	}
	// cbExtRst is signed in the specification; a negative one is damage.
	if int32(ext) < 0 || !c.skip(4*int64(runs)+int64(ext)) {
		return "", false
	}
	return s, true
}
