package xlsx

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// The scanner's own bounds, independent of Limits: the parts of a workbook
// never come near them.
const (
	maxDepth   = 256     // element nesting
	maxTagSize = 1 << 20 // bytes of one start or end tag, attributes included
	maxNameLen = 256     // bytes of an element name; the open ones are kept
	bufSize    = 64 << 10
)

// tokKind is what xmlScanner.next found.
type tokKind uint8

const (
	tokEOF tokKind = iota
	tokStart
	tokEnd
)

// xattr is one attribute of a start tag, as written (undecoded).
type xattr struct {
	name  []byte
	value []byte
}

// errTextTooLong is returned by xmlScanner.text when the text passes its
// limit; the caller turns it into a LimitError that says where.
var errTextTooLong = errors.New("text too long")

// xmlScanner is a small pull tokenizer for the XML of a workbook. It is not a
// general XML parser: it knows elements, attributes, character data, CDATA,
// comments and processing instructions, the five predefined entities and
// character references. It refuses DOCTYPE (so no entity can be declared, and
// an undefined entity is an error), nesting deeper than maxDepth and tags
// larger than maxTagSize. It checks that end tags match start tags and that
// the document is complete. Element names are matched by local name, so any
// namespace prefix is accepted.
//
// Text between tags is skipped by next without being buffered; text the
// caller wants is read with text right after the start tag, within a limit.
type xmlScanner struct {
	r    io.Reader
	buf  []byte
	pos  int // next byte to look at
	end  int // end of the data in buf
	rerr error
	// consumed counts the bytes dropped from the front of buf, so that
	// consumed+pos is the offset in the document.
	consumed int64

	// The current tag.
	name      []byte // local name
	attrs     []xattr
	selfClose bool // the current start tag is empty; next reports its end
	depth     int  // elements open, the current start tag included

	stack    []byte // qualified names of the open elements, concatenated
	marks    []int  // where each open element's name starts in stack
	preserve []bool // xml:space="preserve" in effect, per open element

	scratch []byte
}

func newXMLScanner(r io.Reader) *xmlScanner {
	return &xmlScanner{r: r, buf: make([]byte, bufSize)}
}

// offset returns the position in the document, for error messages.
func (s *xmlScanner) offset() int64 { return s.consumed + int64(s.pos) }

func (s *xmlScanner) errorf(format string, args ...any) error {
	args = append(args, s.offset())
	return malformedf(format+" (XML byte %d)", args...)
}

// fill reads more data, keeping buf[pos:end], and reports whether any came.
// It compacts the buffer and grows it up to maxTagSize+bufSize.
func (s *xmlScanner) fill() bool {
	if s.rerr != nil {
		return false
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.consumed += int64(s.pos)
		s.pos, s.end = 0, n
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= maxTagSize+bufSize {
			s.rerr = s.errorf("XML token larger than %d bytes", maxTagSize)
			return false
		}
		nb := make([]byte, min(2*len(s.buf), maxTagSize+bufSize))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := s.r.Read(s.buf[s.end:])
		if n < 0 || n > len(s.buf)-s.end {
			n = 0
		}
		first := s.consumed == 0 && s.end == 0
		s.end += n
		if first && n > 0 {
			if err := s.checkEncoding(); err != nil {
				s.rerr = err
				return false
			}
		}
		if err != nil {
			s.rerr = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.rerr = io.ErrNoProgress
	return false
}

// checkEncoding skips a UTF-8 byte-order mark and refuses UTF-16, which Excel
// never writes.
func (s *xmlScanner) checkEncoding() error {
	b := s.buf[:s.end]
	switch {
	case bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")):
		s.pos = 3
	case bytes.HasPrefix(b, []byte("\xFF\xFE")), bytes.HasPrefix(b, []byte("\xFE\xFF")):
		return malformedf("UTF-16 XML is not supported")
	}
	return nil
}

// ensure tries to have n bytes from pos in the buffer and reports whether it
// has them (false at the end of the data).
func (s *xmlScanner) ensure(n int) bool {
	for s.end-s.pos < n {
		if !s.fill() {
			return false
		}
	}
	return true
}

// readErr is the error for data that ended early: the read error, or an
// unexpected end of the XML.
func (s *xmlScanner) readErr(what string) error {
	if s.rerr != nil && s.rerr != io.EOF {
		return s.rerr
	}
	// Point at the end of the data, where the XML ends.
	s.pos = s.end
	return s.errorf("XML ends inside %s", what)
}

// next moves to the next start or end tag, skipping text, comments and
// processing instructions. At the end of the document it returns tokEOF,
// or an error if elements are still open.
func (s *xmlScanner) next() (tokKind, error) {
	if s.selfClose {
		s.selfClose = false
		s.pop()
		return tokEnd, nil
	}
	for {
		i := bytes.IndexByte(s.buf[s.pos:s.end], '<')
		if i < 0 {
			s.pos = s.end
			if !s.fill() {
				if s.rerr != nil && s.rerr != io.EOF {
					return tokEOF, s.rerr
				}
				if s.depth > 0 {
					return tokEOF, s.errorf("XML ends inside <%s>", cut(s.top()))
				}
				return tokEOF, nil
			}
			continue
		}
		s.pos += i
		if !s.ensure(2) {
			return tokEOF, s.readErr("a tag")
		}
		switch s.buf[s.pos+1] {
		case '/':
			return s.endTag()
		case '?':
			if err := s.skipPast("?>", "a processing instruction"); err != nil {
				return tokEOF, err
			}
		case '!':
			if err := s.markup(); err != nil {
				return tokEOF, err
			}
		default:
			return s.startTag()
		}
	}
}

// markup skips a comment or CDATA section outside text and refuses anything
// else that starts with "<!", DOCTYPE first of all.
func (s *xmlScanner) markup() error {
	s.ensure(9)
	b := s.buf[s.pos:s.end]
	switch {
	case bytes.HasPrefix(b, []byte("<!--")):
		return s.skipPast("-->", "a comment")
	case bytes.HasPrefix(b, []byte("<![CDATA[")):
		return s.skipPast("]]>", "a CDATA section")
	case len(b) >= 9 && string(bytes.ToUpper(b[:9])) == "<!DOCTYPE":
		return s.errorf("DOCTYPE not allowed")
	}
	return s.errorf("unexpected %s in XML", quote(b[:min(len(b), 9)]))
}

// skipPast moves past the next occurrence of pattern, without buffering what
// it skips.
func (s *xmlScanner) skipPast(pattern, what string) error {
	p := []byte(pattern)
	for {
		if i := bytes.Index(s.buf[s.pos:s.end], p); i >= 0 {
			s.pos += i + len(p)
			return nil
		}
		if keep := s.end - len(p) + 1; keep > s.pos {
			s.pos = keep
		}
		if !s.fill() {
			return s.readErr(what)
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// trimSpace trims leading and trailing XML whitespace.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// nameEnd returns the index in b of the first byte that cannot be in a name.
func nameEnd(b []byte) int {
	for i, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r', '/', '>', '=', '"', '\'', '<', '&':
			return i
		}
	}
	return len(b)
}

// cut returns a name for an error message, cut to 40 bytes.
func cut(name []byte) string {
	if len(name) > 40 {
		return string(name[:40]) + "..."
	}
	return string(name)
}

func localName(qname []byte) []byte {
	if i := bytes.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

// errShortTag tells startTag and endTag that the tag goes on past the data
// in the buffer.
var errShortTag = errors.New("short tag")

// moreTag reads more data for a tag starting at pos that goes on past the
// buffer. The tag is parsed again from its start, so moreTag fills the whole
// buffer (which doubles when full): however small the reads, a tag costs
// time linear in its size.
func (s *xmlScanner) moreTag() error {
	if s.end-s.pos >= maxTagSize {
		return s.errorf("XML tag larger than %d bytes", maxTagSize)
	}
	if !s.fill() {
		return s.readErr("a tag")
	}
	for s.end < len(s.buf) && s.fill() {
	}
	return nil
}

func (s *xmlScanner) startTag() (tokKind, error) {
	if s.depth >= maxDepth {
		return tokEOF, s.errorf("XML nested more than %d elements deep", maxDepth)
	}
	for {
		err := s.parseStartTag()
		if err == nil {
			break
		}
		if err != errShortTag {
			return tokEOF, err
		}
		if err := s.moreTag(); err != nil {
			return tokEOF, err
		}
	}
	preserve := s.depth > 0 && s.preserve[s.depth-1]
	for _, a := range s.attrs {
		if len(a.name) == 9 && string(a.name) == "xml:space" {
			preserve = string(a.value) == "preserve"
		}
	}
	s.marks = append(s.marks, len(s.stack))
	s.stack = append(s.stack, s.name...)
	s.preserve = append(s.preserve, preserve)
	s.depth++
	s.name = localName(s.stack[s.marks[s.depth-1]:])
	return tokStart, nil
}

// parseStartTag parses the start tag at pos in one pass, setting name (the
// qualified name here), attrs, selfClose and moving pos past it. It returns
// errShortTag, changing nothing, when the tag does not end in the buffer.
func (s *xmlScanner) parseStartTag() error {
	b := s.buf[:s.end]
	i := s.pos + 1
	n := nameEnd(b[i:])
	if i+n >= len(b) {
		return errShortTag
	}
	if n == 0 {
		return s.errorf("XML element without a name")
	}
	if n > maxNameLen {
		return s.errorf("XML element name longer than %d bytes", maxNameLen)
	}
	qname := b[i : i+n]
	i += n
	s.attrs = s.attrs[:0]
	for {
		sp := i
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			return errShortTag
		}
		switch b[i] {
		case '>':
			s.name, s.selfClose, s.pos = qname, false, i+1
			return nil
		case '/':
			if i+1 >= len(b) {
				return errShortTag
			}
			if b[i+1] != '>' {
				return s.errorf("malformed XML tag <%s>", cut(qname))
			}
			s.name, s.selfClose, s.pos = qname, true, i+2
			return nil
		}
		if i == sp {
			return s.errorf("malformed XML tag <%s>", cut(qname))
		}
		n := nameEnd(b[i:])
		if i+n >= len(b) {
			return errShortTag
		}
		if n == 0 {
			return s.errorf("malformed attribute in XML tag <%s>", cut(qname))
		}
		an := b[i : i+n]
		i += n
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			return errShortTag
		}
		if b[i] != '=' {
			return s.errorf("attribute %s of <%s> has no value", cut(an), cut(qname))
		}
		i++
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			return errShortTag
		}
		q := b[i]
		if q != '"' && q != '\'' {
			return s.errorf("attribute %s of <%s> is not quoted", cut(an), cut(qname))
		}
		end := bytes.IndexByte(b[i+1:], q)
		if end < 0 {
			return errShortTag
		}
		v := b[i+1 : i+1+end]
		if bytes.IndexByte(v, '<') >= 0 {
			return s.errorf("'<' in attribute %s of <%s>", cut(an), cut(qname))
		}
		s.attrs = append(s.attrs, xattr{name: an, value: v})
		i += end + 2
	}
}

func (s *xmlScanner) top() []byte { return s.stack[s.marks[s.depth-1]:] }

func (s *xmlScanner) pop() {
	s.depth--
	s.stack = s.stack[:s.marks[s.depth]]
	s.marks = s.marks[:s.depth]
	s.preserve = s.preserve[:s.depth]
}

func (s *xmlScanner) endTag() (tokKind, error) {
	var qname []byte
	var next int // where the tag ends
	for {
		b := s.buf[:s.end]
		i := s.pos + 2
		n := nameEnd(b[i:])
		j := i + n
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j < len(b) {
			if b[j] != '>' {
				return tokEOF, s.errorf("malformed XML end tag")
			}
			qname, next = b[i:i+n], j+1
			break
		}
		if err := s.moreTag(); err != nil {
			return tokEOF, err
		}
	}
	if s.depth == 0 {
		return tokEOF, s.errorf("unexpected XML end tag </%s>", cut(qname))
	}
	if top := s.top(); !bytes.Equal(qname, top) {
		return tokEOF, s.errorf("XML end tag </%s> does not match <%s>", cut(qname), cut(top))
	}
	s.pos = next
	// The name must outlive pop: point at the buffer, not the stack.
	s.name = localName(qname)
	s.pop()
	return tokEnd, nil
}

// skip skips the rest of the element whose start tag was just returned.
func (s *xmlScanner) skip() error {
	d := s.depth
	for s.depth >= d {
		tok, err := s.next()
		if err != nil {
			return err
		}
		if tok == tokEOF {
			return s.errorf("XML ends inside an element")
		}
	}
	return nil
}

// preserving reports whether xml:space="preserve" is in effect for the
// element whose start tag was just returned.
func (s *xmlScanner) preserving() bool { return s.depth > 0 && s.preserve[s.depth-1] }

// attr returns the raw value of the attribute with the given qualified name.
func (s *xmlScanner) attr(name string) ([]byte, bool) {
	for _, a := range s.attrs {
		if string(a.name) == name {
			return a.value, true
		}
	}
	return nil, false
}

// attrLocal returns the raw value of the first attribute whose local name is
// name and that has a namespace prefix, such as r:id.
func (s *xmlScanner) attrPrefixed(name string) ([]byte, bool) {
	for _, a := range s.attrs {
		if i := bytes.LastIndexByte(a.name, ':'); i > 0 && string(a.name[i+1:]) == name {
			return a.value, true
		}
	}
	return nil, false
}

// attrString returns the decoded value of an attribute, entities replaced and
// whitespace normalised as XML requires.
func (s *xmlScanner) attrString(name string) (string, bool, error) {
	v, ok := s.attr(name)
	if !ok {
		return "", false, nil
	}
	d, err := s.decodeAttr(v)
	return string(d), true, err
}

func (s *xmlScanner) decodeAttr(v []byte) ([]byte, error) {
	if bytes.IndexAny(v, "&\t\n\r") < 0 {
		return v, nil
	}
	out := s.scratch[:0]
	for i := 0; i < len(v); {
		switch c := v[i]; c {
		case '&':
			r, n, err := entity(v[i:])
			if err != nil {
				return nil, s.errorf("%v", err)
			}
			out = utf8.AppendRune(out, r)
			i += n
		case '\r':
			out = append(out, ' ')
			i++
			if i < len(v) && v[i] == '\n' {
				i++
			}
		case '\t', '\n':
			out = append(out, ' ')
			i++
		default:
			out = append(out, c)
			i++
		}
	}
	s.scratch = out
	if !utf8.Valid(out) {
		return nil, s.errorf("invalid UTF-8 in an attribute")
	}
	return out, nil
}

// entity decodes the entity or character reference at the start of b, which
// begins with '&', and returns the rune and the bytes it took.
func entity(b []byte) (rune, int, error) {
	end := bytes.IndexByte(b[:min(len(b), 12)], ';')
	if end < 0 {
		return 0, 0, errors.New("malformed XML entity " + quote(b[:min(len(b), 12)]))
	}
	name := b[1:end]
	switch string(name) {
	case "lt":
		return '<', end + 1, nil
	case "gt":
		return '>', end + 1, nil
	case "amp":
		return '&', end + 1, nil
	case "quot":
		return '"', end + 1, nil
	case "apos":
		return '\'', end + 1, nil
	}
	if len(name) > 1 && name[0] == '#' {
		var n uint64
		var err error
		if name[1] == 'x' {
			n, err = strconv.ParseUint(string(name[2:]), 16, 32)
		} else {
			n, err = strconv.ParseUint(string(name[1:]), 10, 32)
		}
		if err != nil || n == 0 || !utf8.ValidRune(rune(n)) {
			return 0, 0, errors.New("invalid XML character reference &" + string(name) + ";")
		}
		return rune(n), end + 1, nil
	}
	return 0, 0, errors.New("undefined XML entity &" + string(name) + ";")
}

// text appends to dst the character data that follows the start tag just
// returned, up to the next start or end tag, and leaves that tag for next.
// Entities are decoded, CDATA sections copied, comments and processing
// instructions skipped, and line ends normalised to "\n". If dst would grow
// past limit bytes it stops with errTextTooLong.
func (s *xmlScanner) text(dst []byte, limit int) ([]byte, error) {
	if s.selfClose {
		return dst, nil
	}
	start := len(dst)
	for {
		seg := s.buf[s.pos:s.end]
		i := bytes.IndexByte(seg, '<')
		if i < 0 {
			i = len(seg)
		}
		if a := bytes.IndexByte(seg[:i], '&'); a >= 0 {
			i = a
		}
		if r := bytes.IndexByte(seg[:i], '\r'); r >= 0 {
			i = r
		}
		if len(dst)+i > limit {
			// Keep one byte past the limit: len(dst) tells how much at
			// least the text holds.
			return append(dst, seg[:limit+1-len(dst)]...), errTextTooLong
		}
		dst = append(dst, seg[:i]...)
		s.pos += i
		if i == len(seg) {
			if !s.fill() {
				return dst, s.readErr("text")
			}
			continue
		}
		switch seg[i] {
		case '&':
			s.ensure(12)
			r, n, err := entity(s.buf[s.pos:s.end])
			if err != nil {
				return dst, s.errorf("%v", err)
			}
			dst = utf8.AppendRune(dst, r)
			s.pos += n
		case '\r':
			s.ensure(2)
			s.pos++
			if s.pos < s.end && s.buf[s.pos] == '\n' {
				s.pos++
			}
			dst = append(dst, '\n')
		case '<':
			s.ensure(9)
			b := s.buf[s.pos:s.end]
			switch {
			case bytes.HasPrefix(b, []byte("<![CDATA[")):
				s.pos += 9
				var err error
				if dst, err = s.cdata(dst, limit); err != nil {
					return dst, err
				}
			case bytes.HasPrefix(b, []byte("<!--")):
				if err := s.skipPast("-->", "a comment"); err != nil {
					return dst, err
				}
			case bytes.HasPrefix(b, []byte("<?")):
				if err := s.skipPast("?>", "a processing instruction"); err != nil {
					return dst, err
				}
			case bytes.HasPrefix(b, []byte("<!")):
				return dst, s.markup()
			default:
				if len(dst) > start && !utf8.Valid(dst[start:]) {
					return dst, s.errorf("invalid UTF-8 in text")
				}
				return dst, nil
			}
		}
		if len(dst) > limit {
			return dst, errTextTooLong
		}
	}
}

// cdata appends the rest of a CDATA section, normalising line ends.
func (s *xmlScanner) cdata(dst []byte, limit int) ([]byte, error) {
	for {
		b := s.buf[s.pos:s.end]
		i := bytes.Index(b, []byte("]]>"))
		n := i
		if i < 0 {
			// Keep two bytes back: they may start the terminator.
			n = max(len(b)-2, 0)
		}
		// b[j+1] exists for every j < n: either "]]>" follows or two bytes
		// were kept back.
		for j := 0; j < n; j++ {
			c := b[j]
			if c == '\r' {
				if b[j+1] == '\n' {
					continue
				}
				c = '\n'
			}
			dst = append(dst, c)
		}
		if len(dst) > limit {
			return dst, errTextTooLong
		}
		if i >= 0 {
			s.pos += i + 3
			return dst, nil
		}
		s.pos += n
		if !s.fill() {
			return dst, s.readErr("a CDATA section")
		}
	}
}
