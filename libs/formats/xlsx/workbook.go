package xlsx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds on the structure parts, far above what Excel writes (it allows
// about 250 custom number formats and 64 000 cell formats).
const (
	maxRelationships = 1 << 16
	maxSheets        = 1 << 16
	maxNumFmts       = 1 << 16
	maxCellFormats   = 1 << 20
)

// Workbook is an open workbook: its sheets, shared strings and date formats.
// Sheets, Date1904 and Rows may be called from several goroutines at once.
type Workbook struct {
	a        *archive
	limits   Limits
	sheets   []sheetInfo
	date1904 bool
	sst      sharedStrings
	styles   []fmtKind // by cell format (xf) index
}

// Sheet is a sheet of a workbook, as listed in the workbook part.
type Sheet struct {
	// Name is the sheet's name, as shown on its tab.
	Name string
	// Index is the sheet's 1-based position among all the sheets of the
	// workbook, hidden ones counted.
	Index int
	// Hidden is true for a hidden or very hidden sheet. Hidden sheets are
	// read like any other.
	Hidden bool
}

type sheetInfo struct {
	Sheet
	part    string // zip entry of the sheet part; "" when it could not be resolved
	problem string // why part is "", for the error Rows returns
}

// Open reads the workbook's structure: the zip directory, [Content_Types].xml,
// the workbook part and its relationships, the shared strings (kept in
// memory, within Limits.MaxSharedStrings), the styles (which cell formats
// show dates and times) and the date system. Sheet data is only read by
// Rows.
//
// r must hold the whole file, size bytes. Open refuses, with an error that
// says why: a file that is not a zip or is a truncated one (ErrNotWorkbook),
// a zip without a workbook part (ErrNotWorkbook), an OLE2 compound file
// (ErrEncrypted if it holds an EncryptionInfo stream, ErrLegacyXLS if it holds
// a Workbook stream, else ErrNotWorkbook), an .xlsb (ErrBinaryWorkbook), a
// workbook that exceeds the limits (*LimitError) and one whose parts are not
// well-formed or break the rules of the format (ErrMalformed). A panic while
// reading becomes a *PanicError.
func Open(r io.ReaderAt, size int64, l Limits) (w *Workbook, err error) {
	defer recoverTo(&err)
	l = l.withDefaults()
	if isOLE(r, size) {
		return nil, oleError(r, size)
	}
	a, err := openArchive(r, size, l)
	if err != nil {
		return nil, err
	}
	w = &Workbook{a: a, limits: l}
	part, err := a.findWorkbook()
	if err != nil {
		return nil, err
	}
	rels, err := a.readRels(part)
	if err != nil {
		return nil, err
	}
	if err := w.readWorkbook(part, rels); err != nil {
		return nil, err
	}
	if p := relTarget(part, rels, "/sharedStrings", "xl/sharedStrings.xml", a); p != "" {
		if err := a.parse(p, func(s *xmlScanner) error { return w.readSharedStrings(s, p) }); err != nil {
			return nil, err
		}
	}
	if p := relTarget(part, rels, "/styles", "xl/styles.xml", a); p != "" {
		if err := a.parse(p, w.readStyles); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Sheets returns the sheets in workbook order, hidden ones included.
func (w *Workbook) Sheets() []Sheet {
	out := make([]Sheet, len(w.sheets))
	for i, s := range w.sheets {
		out[i] = s.Sheet
	}
	return out
}

// Date1904 reports whether the workbook uses the 1904 date system, in which
// serial 0 is 1904-01-01, rather than the 1900 one.
func (w *Workbook) Date1904() bool { return w.date1904 }

// parse opens a part and runs fn over its XML. Errors name the part.
func (a *archive) parse(part string, fn func(*xmlScanner) error) (err error) {
	f := a.file(part)
	if f == nil {
		return malformedf("the workbook has no part %s", part)
	}
	e, err := a.open(f)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := fn(newXMLScanner(e)); err != nil {
		var le *LimitError
		if errors.As(err, &le) {
			if le.Part == "" {
				le.Part = f.Name
			}
			return err
		}
		return fmt.Errorf("read %s: %w", f.Name, err)
	}
	return nil
}

// relationship is one entry of a .rels part.
type relationship struct {
	typ      string
	target   string
	external bool
}

// relsPart returns the name of the relationships part of a part.
func relsPart(part string) string {
	dir, file := path.Split(part)
	return dir + "_rels/" + file + ".rels"
}

// readRels reads the relationships of a part ("" for the package), by id. A
// missing .rels part gives none.
func (a *archive) readRels(part string) (map[string]relationship, error) {
	rp := relsPart(part)
	rels := map[string]relationship{}
	if a.file(rp) == nil {
		return rels, nil
	}
	err := a.parse(rp, func(s *xmlScanner) error {
		for {
			tok, err := s.next()
			if err != nil || tok == tokEOF {
				return err
			}
			if tok != tokStart || string(s.name) != "Relationship" {
				continue
			}
			if len(rels) >= maxRelationships {
				return malformedf("more than %d relationships", maxRelationships)
			}
			id, _, err := s.attrString("Id")
			if err != nil {
				return err
			}
			var r relationship
			if r.typ, _, err = s.attrString("Type"); err != nil {
				return err
			}
			if r.target, _, err = s.attrString("Target"); err != nil {
				return err
			}
			mode, _, err := s.attrString("TargetMode")
			if err != nil {
				return err
			}
			r.external = strings.EqualFold(mode, "External")
			if _, dup := rels[id]; !dup {
				rels[id] = r
			}
		}
	})
	return rels, err
}

// resolve returns the part a relationship target names, relative to the
// directory of the source part or, with a leading slash, to the package root.
func resolve(source, target string) string {
	target = strings.ReplaceAll(target, `\`, "/")
	if strings.HasPrefix(target, "/") {
		return path.Clean(target)[1:]
	}
	return path.Join(path.Dir(source), target)
}

// relTarget returns the part of the first internal relationship of the given
// type (matched by suffix, which covers both transitional and strict
// namespaces), or fallback if the workbook has that part but no relationship
// to it, or "".
func relTarget(source string, rels map[string]relationship, typeSuffix, fallback string, a *archive) string {
	ids := make([]string, 0, len(rels))
	for id := range rels {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := rels[id]
		if !r.external && strings.HasSuffix(r.typ, typeSuffix) {
			if p := resolve(source, r.target); a.file(p) != nil {
				return p
			}
		}
	}
	if fallback != "" && a.file(fallback) != nil {
		return fallback
	}
	return ""
}

// findWorkbook returns the name of the workbook part: the package's
// officeDocument relationship, else the main part named in
// [Content_Types].xml, else xl/workbook.xml.
func (a *archive) findWorkbook() (string, error) {
	var main string
	var binary bool
	if a.file("[Content_Types].xml") != nil {
		err := a.parse("[Content_Types].xml", func(s *xmlScanner) error {
			for {
				tok, err := s.next()
				if err != nil || tok == tokEOF {
					return err
				}
				if tok != tokStart || string(s.name) != "Override" {
					continue
				}
				ct, _, err := s.attrString("ContentType")
				if err != nil {
					return err
				}
				name, _, err := s.attrString("PartName")
				if err != nil {
					return err
				}
				switch {
				case strings.Contains(ct, ".sheet.binary.macroEnabled.main"):
					binary = true
				case main == "" && isMainContentType(ct):
					main = resolve("", name)
				}
			}
		})
		if err != nil {
			return "", err
		}
	}
	rels, err := a.readRels("")
	if err != nil {
		return "", err
	}
	part := relTarget("", rels, "/officeDocument", "", a)
	if part == "" && main != "" && a.file(main) != nil {
		part = main
	}
	if part == "" {
		part = "xl/workbook.xml"
	}
	switch {
	case strings.HasSuffix(strings.ToLower(part), ".bin"), binary && a.file(part) == nil, a.file("xl/workbook.bin") != nil && a.file(part) == nil:
		return "", ErrBinaryWorkbook
	case a.file(part) != nil:
		return part, nil
	case a.file("word/document.xml") != nil:
		return "", fmt.Errorf("%w: the file is a Word document", ErrNotWorkbook)
	case a.file("ppt/presentation.xml") != nil:
		return "", fmt.Errorf("%w: the file is a PowerPoint presentation", ErrNotWorkbook)
	}
	return "", fmt.Errorf("%w: the zip has no xl/workbook.xml", ErrNotWorkbook)
}

func isMainContentType(ct string) bool {
	return strings.Contains(ct, "spreadsheetml.sheet.main+xml") ||
		strings.Contains(ct, "spreadsheetml.template.main+xml") ||
		strings.HasPrefix(ct, "application/vnd.ms-excel.") && strings.HasSuffix(ct, ".main+xml") && !strings.Contains(ct, "binary")
}

// readWorkbook reads the sheet list and the date system.
func (w *Workbook) readWorkbook(part string, rels map[string]relationship) error {
	return w.a.parse(part, func(s *xmlScanner) error {
		for {
			tok, err := s.next()
			if err != nil || tok == tokEOF {
				return err
			}
			if tok != tokStart {
				continue
			}
			switch string(s.name) {
			case "workbookPr":
				v, _, err := s.attrString("date1904")
				if err != nil {
					return err
				}
				w.date1904 = v == "1" || v == "true"
			case "sheet":
				if len(w.sheets) >= maxSheets {
					return malformedf("more than %d sheets", maxSheets)
				}
				if err := w.addSheet(s, part, rels); err != nil {
					return err
				}
			}
		}
	})
}

func (w *Workbook) addSheet(s *xmlScanner, part string, rels map[string]relationship) error {
	name, _, err := s.attrString("name")
	if err != nil {
		return err
	}
	state, _, err := s.attrString("state")
	if err != nil {
		return err
	}
	info := sheetInfo{Sheet: Sheet{Name: name, Index: len(w.sheets) + 1, Hidden: state == "hidden" || state == "veryHidden"}}
	rid, ok := s.attrPrefixed("id")
	if d, err := s.decodeAttr(rid); err == nil {
		rid = d
	}
	r, found := rels[string(rid)]
	switch {
	case !ok:
		info.problem = "it has no relationship id"
	case !found:
		info.problem = fmt.Sprintf("its relationship %s does not exist", quote(rid))
	case r.external:
		info.problem = "its part is outside the workbook"
	default:
		info.part = resolve(part, r.target)
		if w.a.file(info.part) == nil {
			info.problem = fmt.Sprintf("its part %s is missing", cut([]byte(info.part)))
			info.part = ""
		}
	}
	w.sheets = append(w.sheets, info)
	return nil
}

// sharedStrings holds the shared string table in chunks of about
// sstChunkSize bytes, so that it takes little more memory than its text and
// each value is a substring, not a copy. Offsets are positions in the
// concatenation of the chunks; no non-empty string spans two chunks.
type sharedStrings struct {
	chunks []string
	starts []uint32 // offset of each chunk
	offs   []uint32 // offset of each string, then the end of the last
}

const sstChunkSize = 4 << 20

func (t *sharedStrings) len() int { return max(len(t.offs)-1, 0) }

func (t *sharedStrings) get(i int) string {
	start, end := t.offs[i], t.offs[i+1]
	if start == end {
		return ""
	}
	k := sort.Search(len(t.starts), func(k int) bool { return t.starts[k] > start }) - 1
	c := t.chunks[k]
	return c[start-t.starts[k] : end-t.starts[k]]
}

// readSharedStrings reads the shared string table, within the shared-string
// and cell-size limits. Its count attributes are ignored.
func (w *Workbook) readSharedStrings(s *xmlScanner, part string) error {
	t := &w.sst
	t.offs = append(t.offs, 0)
	var cur []byte // the chunk being filled
	var used int64 // bytes of text plus index
	var item []byte
	flush := func() {
		if len(cur) > 0 {
			t.chunks = append(t.chunks, string(cur))
			t.starts = append(t.starts, t.offs[len(t.offs)-1]-uint32(len(cur)))
		}
	}
	for {
		tok, err := s.next()
		if err != nil {
			return err
		}
		if tok == tokEOF {
			break
		}
		if tok != tokStart || string(s.name) != "si" {
			continue
		}
		item, err = richText(s, item[:0], w.limits.MaxCellBytes)
		if err == errTextTooLong {
			return &LimitError{What: LimitCellSize, Limit: int64(w.limits.MaxCellBytes), Found: int64(len(item)), Part: part}
		}
		if err != nil {
			return fmt.Errorf("shared string %d: %w", t.len(), err)
		}
		used += int64(len(item)) + 4
		if used > w.limits.MaxSharedStrings {
			return &LimitError{What: LimitSharedStrings, Limit: w.limits.MaxSharedStrings, Found: used, Part: part}
		}
		if len(item) > 0 && len(cur)+len(item) > cap(cur) {
			flush()
			cur = make([]byte, 0, max(sstChunkSize, len(item)))
		}
		cur = append(cur, item...)
		t.offs = append(t.offs, t.offs[len(t.offs)-1]+uint32(len(item)))
	}
	flush()
	return nil
}

// richText reads the text of a string item (<si> or <is>), whose start tag
// was just returned, up to its end tag: a <t> child, or the <t> of each <r>
// run, concatenated. Phonetic runs (<rPh>) and everything else are skipped.
// Each <t> is trimmed of leading and trailing XML whitespace unless
// xml:space="preserve" applies or it holds only whitespace (as Excel shows
// it), then its _xHHHH_ escapes are decoded.
func richText(s *xmlScanner, dst []byte, limit int) ([]byte, error) {
	depth := s.depth
	if s.selfClose {
		_, err := s.next()
		return dst, err
	}
	for {
		tok, err := s.next()
		if err != nil {
			return dst, err
		}
		if tok == tokEOF {
			return dst, s.errorf("XML ends inside a string")
		}
		if tok == tokEnd {
			if s.depth < depth {
				return dst, nil
			}
			continue
		}
		switch {
		case string(s.name) == "t" && s.depth == depth+1:
			if dst, err = textElem(s, dst, limit); err != nil {
				return dst, err
			}
		case string(s.name) == "r" && s.depth == depth+1:
			// Inside a run, <t> is read and <rPr> skipped below.
		case string(s.name) == "t" && s.depth == depth+2:
			if dst, err = textElem(s, dst, limit); err != nil {
				return dst, err
			}
		default:
			if err := s.skip(); err != nil {
				return dst, err
			}
		}
	}
}

// textElem appends the text of a <t> element, trimmed and decoded as
// richText says, and moves past its end tag.
func textElem(s *xmlScanner, dst []byte, limit int) ([]byte, error) {
	preserve := s.preserving()
	start := len(dst)
	dst, err := s.text(dst, limit)
	if err != nil {
		return dst, err
	}
	raw := dst[start:]
	if !preserve {
		raw = trimXMLSpace(raw)
	}
	if bytes.Contains(raw, []byte("_x")) {
		dec := appendXString(nil, raw)
		dst = append(dst[:start], dec...)
	} else if len(raw) != len(dst)-start {
		dst = append(dst[:start], raw...)
	}
	// Whatever the element holds besides text is skipped.
	if err := s.skip(); err != nil {
		return dst, err
	}
	return dst, nil
}

// trimXMLSpace trims leading and trailing XML whitespace, unless b is all
// whitespace.
func trimXMLSpace(b []byte) []byte {
	t := trimSpace(b)
	if len(t) == 0 {
		return b
	}
	return t
}

// appendXString appends src with Excel's _xHHHH_ escapes decoded: each is a
// UTF-16 code unit; a surrogate pair of two escapes gives one character and
// a lone surrogate gives U+FFFD. Excel writes a literal "_x0041_" as
// "_x005F_x0041_", escaping the underscore.
func appendXString(dst, src []byte) []byte {
	for {
		i := bytes.Index(src, []byte("_x"))
		if i < 0 {
			return append(dst, src...)
		}
		u, ok := xEscape(src[i:])
		if !ok {
			dst = append(dst, src[:i+2]...)
			src = src[i+2:]
			continue
		}
		dst = append(dst, src[:i]...)
		src = src[i+7:]
		r := rune(u)
		if utf16IsHigh(u) {
			if lo, ok := xEscape(src); ok && utf16IsLow(lo) {
				r = 0x10000 + (rune(u)-0xD800)<<10 + (rune(lo) - 0xDC00)
				src = src[7:]
			} else {
				r = utf8.RuneError
			}
		} else if utf16IsLow(u) {
			r = utf8.RuneError
		}
		dst = utf8.AppendRune(dst, r)
	}
}

func utf16IsHigh(u uint16) bool { return u >= 0xD800 && u < 0xDC00 }
func utf16IsLow(u uint16) bool  { return u >= 0xDC00 && u < 0xE000 }

// xEscape decodes an _xHHHH_ escape at the start of b.
func xEscape(b []byte) (uint16, bool) {
	if len(b) < 7 || b[0] != '_' || b[1] != 'x' || b[6] != '_' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[2:6]), 16, 16)
	return uint16(n), err == nil
}

// readStyles reads which cell formats (cellXfs) show dates, times or
// durations. The number formats are read first and resolved at the end, so
// their order in the part does not matter.
func (w *Workbook) readStyles(s *xmlScanner) error {
	custom := map[int]fmtKind{}
	var xfIDs []int
	for {
		tok, err := s.next()
		if err != nil {
			return err
		}
		if tok == tokEOF {
			break
		}
		if tok != tokStart {
			continue
		}
		switch string(s.name) {
		case "numFmts":
			if err := eachChild(s, "numFmt", func() error {
				if len(custom) >= maxNumFmts {
					return malformedf("more than %d number formats", maxNumFmts)
				}
				id := numFmtID(s)
				code, _, err := s.attrString("formatCode")
				if err != nil {
					return err
				}
				custom[id] = classifyFormat(code)
				return nil
			}); err != nil {
				return err
			}
		case "cellXfs":
			if err := eachChild(s, "xf", func() error {
				if len(xfIDs) >= maxCellFormats {
					return malformedf("more than %d cell formats", maxCellFormats)
				}
				xfIDs = append(xfIDs, numFmtID(s))
				return nil
			}); err != nil {
				return err
			}
		}
	}
	w.styles = make([]fmtKind, len(xfIDs))
	for i, id := range xfIDs {
		k, ok := custom[id]
		if !ok {
			k = builtinFormats[id]
		}
		w.styles[i] = k
	}
	return nil
}

// numFmtID returns the numFmtId attribute of the current tag, 0 (General) if
// it is missing or not a number.
func numFmtID(s *xmlScanner) int {
	v, _ := s.attr("numFmtId")
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// eachChild calls fn at the start tag of each child element named name of
// the element whose start tag was just returned, skipping the children's
// content and any other element.
func eachChild(s *xmlScanner, name string, fn func() error) error {
	depth := s.depth
	for {
		tok, err := s.next()
		if err != nil {
			return err
		}
		if tok == tokEOF {
			return s.errorf("XML ends inside an element")
		}
		if tok == tokEnd {
			if s.depth < depth {
				return nil
			}
			continue
		}
		if string(s.name) == name && s.depth == depth+1 {
			if err := fn(); err != nil {
				return err
			}
		}
		if err := s.skip(); err != nil {
			return err
		}
	}
}
