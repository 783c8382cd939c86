package delimited

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// sniffSize is the most of a sample that SniffDialect looks at.
const sniffSize = 64 << 10

// sniffDelimiters are the delimiters SniffDialect tries, best first; the
// last two are chosen only when they do strictly better than the others.
var sniffDelimiters = []byte{',', ';', '\t', '|', ':', '^'}

// primaryDelimiters is how many of sniffDelimiters are common ones.
const primaryDelimiters = 4

// Dialect is what SniffDialect proposes.
type Dialect struct {
	// Delimiter separates fields.
	Delimiter byte
	// Quote starts and ends a quoted field.
	Quote byte
	// Escape says how a quote is written inside a quoted field.
	Escape Escape
	// HeaderRow is the 1-based row where the table starts: the header's, or
	// with NoHeader the first data record's.
	HeaderRow int
	// NoHeader says that the first record of the table looks like data.
	NoHeader bool
	// Comment starts a comment record; 0 for none.
	Comment byte
	// Confidence is how sure the proposal is, from 0 to 1.
	Confidence float64
	// Reason explains the proposal to a person, in one short sentence.
	Reason string
}

// SniffDialect proposes a dialect for the first bytes of a UTF-8 file, up to
// 64 KiB; the rest is ignored, and so is a last record without a line
// terminator, which may be cut off, unless it is the only one.
//
// The delimiter is the candidate (, ; tab |, then : and ^) that gives the
// same field count, above one, to the most records, quotes respected: the
// table uniformity method. Quotes are double unless single quotes parse
// better; escapes are backslashes when that parses better, or as well with
// \" or \\ in quoted fields and no doubled quote. '#' is the comment
// character when at least two lines start with it and most of them do not
// have the table's field count. The table starts at row 1 unless the
// records before the first full one hold fewer fields (at most half as many)
// or are mostly empty, like the title and account lines above a bank
// statement. NoHeader is proposed only when the table's first record has, in
// every column whose values below are all numbers or all dates, a value of
// the same kind, and there is at least one such column; when in doubt, the
// proposal is a header. The confidence is the share of the table's records
// that have its field count, lowered when the table has fewer than ten
// records, when another delimiter does nearly as well, and for : and ^.
func SniffDialect(sample []byte) Dialect {
	sample = bytes.TrimPrefix(sample, utf8BOM)
	cut := len(sample) > sniffSize
	if cut {
		sample = sample[:sniffSize]
	}
	if n := len(sample); n > 0 && sample[n-1] != '\n' && sample[n-1] != '\r' {
		cut = true
	}
	d := Dialect{Delimiter: ',', Quote: '"', HeaderRow: 1}
	if len(bytes.TrimSpace(sample)) == 0 {
		d.Reason = "the sample is empty"
		return d
	}

	comment := byte(0)
	if countLinesStartingWith(sample, '#') >= 2 {
		comment = '#'
	}
	best, runnerUp := chooseDelimiter(sample, cut, comment)
	if comment != 0 && best.k > 0 && !commentsDiffer(sample, cut, best) {
		comment = 0
		best, runnerUp = chooseDelimiter(sample, cut, comment)
	}
	if best.k == 0 {
		d.Comment = comment
		d.Confidence = 0.2
		d.Reason = "no candidate delimiter gives more than one field per record; the file may have one column"
		return d
	}

	d.Delimiter, d.Quote, d.Escape, d.Comment = best.o.Delimiter, best.o.Quote, best.o.Escape, comment
	start := tableStart(best.recs, best.k)
	d.HeaderRow = int(best.recs[start].row)
	d.NoHeader = looksLikeData(best.recs[start].fields, tableBody(best.recs[start+1:], best.k))

	table := best.recs[start:]
	inTable := 0
	for _, r := range table {
		if !r.bad && len(r.fields) == best.k {
			inTable++
		}
	}
	conf := float64(inTable) / float64(len(table))
	switch {
	case len(table) < 3:
		conf *= 0.5
	case len(table) < 10:
		conf *= 0.85
	}
	if runnerUp.k > 0 && float64(runnerUp.hits) >= 0.9*float64(best.hits) {
		conf *= 0.75
	}
	if best.priority >= primaryDelimiters {
		conf *= 0.8
	}
	d.Confidence = math.Round(conf*100) / 100

	reasons := []string{fmt.Sprintf("%s gives %d fields to %d of %d records", delimiterName(d.Delimiter), best.k, best.hits, len(best.recs))}
	if d.Quote != '"' {
		reasons = append(reasons, "fields are quoted with single quotes")
	}
	if d.Escape == EscapeBackslash {
		reasons = append(reasons, `quotes are escaped with backslashes (\")`)
	}
	if d.Comment != 0 {
		reasons = append(reasons, fmt.Sprintf("lines starting with %q are comments", d.Comment))
	}
	if start > 0 {
		reasons = append(reasons, fmt.Sprintf("the table starts on row %d, after a preamble", d.HeaderRow))
	}
	if d.NoHeader {
		reasons = append(reasons, "its first record looks like data, so there is no header")
	}
	d.Reason = strings.Join(reasons, "; ")
	return d
}

// candidate is one dialect tried on the sample.
type candidate struct {
	o        Options
	priority int // position of the delimiter in sniffDelimiters
	recs     []sniffRecord
	k        int // the most common field count above 1; 0 when none
	hits     int // records with k fields
	bad      int // malformed records
	escapes  int // \" and \\ in quoted fields
	doubled  int // doubled quotes in quoted fields
}

// sniffRecord is one record of the sample that is neither blank nor a comment.
type sniffRecord struct {
	row    int64
	fields []string
	bad    bool
}

// better reports whether c does better than o, ties going to o.
func (c *candidate) better(o *candidate) bool {
	if c.hits != o.hits {
		return c.hits > o.hits
	}
	return c.bad < o.bad
}

// chooseDelimiter returns the best candidate and the best one with another
// delimiter.
func chooseDelimiter(sample []byte, cut bool, comment byte) (best, runnerUp candidate) {
	for i, delim := range sniffDelimiters {
		if bytes.IndexByte(sample, delim) < 0 || delim == comment {
			continue
		}
		c := chooseQuoting(sample, cut, Options{Delimiter: delim, Comment: comment})
		c.priority = i
		switch {
		case best.o.Delimiter == 0 || c.better(&best):
			best, runnerUp = c, best
		case runnerUp.o.Delimiter == 0 || c.better(&runnerUp):
			runnerUp = c
		}
	}
	return best, runnerUp
}

// chooseQuoting returns the best quote and escape for o's delimiter.
func chooseQuoting(sample []byte, cut bool, o Options) candidate {
	quotes := []byte{'"'}
	if bytes.IndexByte(sample, '\'') >= 0 {
		quotes = append(quotes, '\'')
	}
	escapes := []Escape{EscapeDoubled}
	if bytes.IndexByte(sample, '\\') >= 0 {
		escapes = append(escapes, EscapeBackslash)
	}
	var best candidate
	for _, q := range quotes {
		o.Quote, o.Escape = q, EscapeDoubled
		pick := evaluate(sample, cut, o)
		if len(escapes) > 1 {
			o.Escape = EscapeBackslash
			c := evaluate(sample, cut, o)
			// Backslashes win a tie only on evidence: \" or \\ in quoted
			// fields and no doubled quote.
			if c.better(&pick) || (!pick.better(&c) && c.escapes > 0 && c.doubled == 0) {
				pick = c
			}
		}
		// Single quotes win a tie only when there is no double quote and
		// the double-quote reading left many values wrapped in them.
		if best.o.Quote == 0 || pick.better(&best) ||
			(!best.better(&pick) && bytes.IndexByte(sample, '"') < 0 && singleQuoted(best.recs)) {
			best = pick
		}
	}
	return best
}

// singleQuoted reports whether at least a quarter of the non-empty values
// start and end with a single quote.
func singleQuoted(recs []sniffRecord) bool {
	var values, wrapped int
	for _, r := range recs {
		for _, f := range r.fields {
			if f == "" {
				continue
			}
			values++
			if len(f) >= 2 && f[0] == '\'' && f[len(f)-1] == '\'' {
				wrapped++
			}
		}
	}
	return wrapped > 0 && 4*wrapped >= values
}

// evaluate reads the sample with o and counts the field counts.
func evaluate(sample []byte, cut bool, o Options) candidate {
	data := completeRecords(sample, cut, o)
	c := candidate{o: o}
	r := NewReader(data, 1, o)
	counts := map[int]int{}
	for {
		row, fields, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			c.recs = append(c.recs, sniffRecord{row: row, bad: true})
			c.bad++
			continue
		}
		c.recs = append(c.recs, sniffRecord{row: row, fields: fields})
		if len(fields) > 1 {
			counts[len(fields)]++
		}
	}
	for n, hits := range counts {
		if hits > c.hits || (hits == c.hits && n > c.k) {
			c.k, c.hits = n, hits
		}
	}
	c.escapes, c.doubled = escapeEvidence(data, o.Quote)
	return c
}

// completeRecords returns the sample without its last record when it may
// be cut off and is not the only one.
func completeRecords(sample []byte, cut bool, o Options) []byte {
	if !cut {
		return sample
	}
	o = o.withDefaults()
	sc := newScanner(sample, len(sample), o)
	end := 0
	for pos := 0; pos < len(sample); {
		term, _, _ := sc.scan(pos, sc.start(pos))
		if term == len(sample) {
			break
		}
		pos = term + 1
		if sample[term] == '\r' && pos < len(sample) && sample[pos] == '\n' {
			pos++
		}
		end = pos
	}
	if end == 0 {
		return sample
	}
	return sample[:end]
}

// escapeEvidence counts, in the quoted fields of data, backslashes before a
// quote or a backslash, and doubled quotes.
func escapeEvidence(data []byte, q byte) (escapes, doubled int) {
	in := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case !in:
			in = c == q
		case c == '\\' && i+1 < len(data) && (data[i+1] == q || data[i+1] == '\\'):
			escapes++
			i++
		case c == q && i+1 < len(data) && data[i+1] == q:
			doubled++
			i++
		case c == q:
			in = false
		}
	}
	return escapes, doubled
}

// countLinesStartingWith counts the lines of sample that start with c.
func countLinesStartingWith(sample []byte, c byte) int {
	n := 0
	for i := 0; i < len(sample); i++ {
		if sample[i] == c && (i == 0 || sample[i-1] == '\n' || sample[i-1] == '\r') {
			n++
		}
	}
	return n
}

// commentsDiffer reports whether most records starting with '#' lack the
// field count of the table that c found, so that they are comments rather
// than data.
func commentsDiffer(sample []byte, cut bool, c candidate) bool {
	o := c.o
	o.Comment = 0
	plain := evaluate(sample, cut, o)
	data := completeRecords(sample, cut, o)
	sc := newScanner(data, len(data), o.withDefaults())
	starts := map[int64]bool{}
	row := int64(1)
	for pos := 0; pos < len(data); row++ {
		starts[row] = data[pos] == c.o.Comment
		term, _, _ := sc.scan(pos, outside)
		if term == len(data) {
			break
		}
		pos = term + 1
		if data[term] == '\r' && pos < len(data) && data[pos] == '\n' {
			pos++
		}
	}
	var comments, likeTable int
	for _, r := range plain.recs {
		if starts[r.row] {
			comments++
			if !r.bad && len(r.fields) == c.k {
				likeTable++
			}
		}
	}
	return likeTable*2 < comments
}

// tableStart returns the index in recs of the table's first record: 0, or
// the first full record with k fields when every record before it is
// malformed, holds at most half as many fields, or is mostly empty.
func tableStart(recs []sniffRecord, k int) int {
	first := -1
	for i, r := range recs {
		if !r.bad && len(r.fields) == k && !sparse(r.fields) {
			first = i
			break
		}
	}
	if first <= 0 {
		return 0
	}
	for _, r := range recs[:first] {
		if !r.bad && 2*len(r.fields) > k && !(len(r.fields) == k && sparse(r.fields)) {
			return 0
		}
	}
	return first
}

// sparse reports whether fewer than half the fields have a value.
func sparse(fields []string) bool {
	filled := 0
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			filled++
		}
	}
	return 2*filled < len(fields)
}

// tableBody returns the fields of up to 200 well-formed records with k fields.
func tableBody(recs []sniffRecord, k int) [][]string {
	var body [][]string
	for _, r := range recs {
		if !r.bad && len(r.fields) == k {
			body = append(body, r.fields)
			if len(body) == 200 {
				break
			}
		}
	}
	return body
}

// looksLikeData reports whether first looks like one more row of body, whose
// rows have the same field count: first has that count too and, in each
// column where body holds numbers or dates only, first holds the same
// kind of value or none, and there is at least one such column where it
// holds one.
func looksLikeData(first []string, body [][]string) bool {
	if len(body) < 2 || len(first) != len(body[0]) {
		return false
	}
	typed := 0
	for j, v := range first {
		want := columnKind(body, j)
		if want == kindText || want == kindNull {
			continue
		}
		switch kindOf(v) {
		case kindNull:
			continue // says nothing either way
		case want:
		default:
			return false
		}
		typed++
	}
	return typed > 0
}

// kind is what a value looks like to SniffDialect.
type kind uint8

const (
	kindNull kind = iota
	kindText
	kindInteger
	kindDecimal
	kindDate
)

// columnKind returns the kind that at least 90% of the column's non-null
// values have, else kindText; kindNull when it has no value.
func columnKind(body [][]string, j int) kind {
	counts := map[kind]int{}
	n := 0
	for _, fields := range body {
		if k := kindOf(fields[j]); k != kindNull {
			counts[k]++
			n++
		}
	}
	if n == 0 {
		return kindNull
	}
	for k, c := range counts {
		if c*10 >= n*9 {
			return k
		}
	}
	return kindText
}

// kindOf classifies one value: empty and \N or NULL are null; dates have
// three groups of digits joined by the same '-', '.' or '/', one of four
// digits at either end, maybe followed by a time; numbers have an optional
// sign, digits, and for decimals a point, a comma or an apostrophe between
// groups of digits.
func kindOf(v string) kind {
	v = strings.TrimSpace(v)
	switch v {
	case "", `\N`, "NULL", "null":
		return kindNull
	}
	if isDate(v) {
		return kindDate
	}
	s := strings.TrimLeft(v, "+-")
	if len(v)-len(s) > 1 || s == "" {
		return kindText
	}
	seps := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case (c == '.' || c == ',' || c == '\'') && i > 0 && i < len(s)-1 && isDigit(s[i-1]) && isDigit(s[i+1]):
			seps++
		default:
			return kindText
		}
	}
	if seps > 0 {
		return kindDecimal
	}
	return kindInteger
}

func isDate(v string) bool {
	date, _, _ := strings.Cut(strings.Replace(v, "T", " ", 1), " ")
	var groups []string
	var sep byte
	start := 0
	for i := 0; i <= len(date); i++ {
		if i < len(date) && isDigit(date[i]) {
			continue
		}
		if i == start {
			return false
		}
		groups = append(groups, date[start:i])
		if i < len(date) {
			c := date[i]
			if c != '-' && c != '.' && c != '/' || (sep != 0 && c != sep) {
				return false
			}
			sep = c
		}
		start = i + 1
	}
	if len(groups) != 3 {
		return false
	}
	a, b, c := len(groups[0]), len(groups[1]), len(groups[2])
	return b <= 2 && ((a == 4 && c <= 2) || (a <= 2 && (c == 4 || c == 2)))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// delimiterName names a delimiter for a Reason.
func delimiterName(d byte) string {
	switch d {
	case ',':
		return "comma"
	case ';':
		return "semicolon"
	case '\t':
		return "tab"
	case '|':
		return "pipe"
	case ':':
		return "colon"
	case '^':
		return "caret"
	}
	return fmt.Sprintf("%q", d)
}
