// Package mapping turns source records into dataset rows: it resolves an
// import profile's mappings against a file's header, converts and validates
// every value exactly (no guessing), and writes rows as CSV for PostgreSQL's
// COPY. A bad value rejects its row with the row, column, value and reason.
package mapping

import (
	"bytes"
	"fmt"
	"strings"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"golang.org/x/text/unicode/norm"

	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/formats/textenc"
)

// RowColumn is the system column that carries a row's file row number.
const RowColumn = "_ferry_row"

// keySep separates the parts of a composite canonical key.
const keySep = "\x1f"

type planField struct {
	name     string
	typ      ferryv1.FieldType
	required bool
	key      bool
	src      int    // index in the header
	column   string // header name
}

// Plan maps records of one file header to dataset rows.
type Plan struct {
	fields    []planField
	keyIdx    []int
	headerLen int
	columns   []string
	// Encoding names the file's encoding in rejects for invalid bytes.
	Encoding string
}

// Columns returns the dataset columns a row is written with, in order; the
// last one is RowColumn.
func (p *Plan) Columns() []string { return p.columns }

// KeyFields returns the dataset's key fields.
func (p *Plan) KeyFields() []string {
	out := make([]string, len(p.keyIdx))
	for i, k := range p.keyIdx {
		out[i] = p.fields[k].name
	}
	return out
}

// Resolve checks spec against the dataset and the file's header and returns
// the plan. An error names what is missing or ambiguous.
func Resolve(spec *ferryv1.ImportProfileSpec, ds *ferryv1.Dataset, header []string) (*Plan, error) {
	pos := map[string][]int{}
	for i, h := range header {
		pos[h] = append(pos[h], i+1)
	}
	byName := map[string]*ferryv1.Field{}
	for _, f := range ds.GetFields() {
		byName[f.GetName()] = f
	}
	isKey := map[string]bool{}
	for _, k := range ds.GetKey() {
		isKey[k] = true
	}
	mappings := spec.GetMappings()
	implicit := len(mappings) == 0
	if implicit {
		for _, f := range ds.GetFields() {
			if _, ok := pos[f.GetName()]; ok || f.GetRequired() || isKey[f.GetName()] {
				mappings = append(mappings, &ferryv1.FieldMapping{Field: f.GetName(), Column: f.GetName()})
			}
		}
	}
	p := &Plan{headerLen: len(header)}
	seen := map[string]bool{}
	for _, m := range mappings {
		f, ok := byName[m.GetField()]
		if !ok {
			return nil, errs.Invalid("mapping names field %q, which dataset %q does not have", m.GetField(), ds.GetName())
		}
		if seen[m.GetField()] {
			return nil, errs.Invalid("field %q is mapped twice", m.GetField())
		}
		seen[m.GetField()] = true
		at := pos[m.GetColumn()]
		column := m.GetColumn()
		if idx := int(m.GetColumnIndex()); idx != 0 {
			if idx < 1 || idx > len(header) {
				return nil, errs.Invalid("column %d for field %q does not exist: the file has %d columns", idx, m.GetField(), len(header))
			}
			at, column = []int{idx}, header[idx-1]
		}
		switch {
		case len(at) == 0:
			return nil, errs.Invalid("column %q for field %q is not in the file's header (%s)", m.GetColumn(), m.GetField(), headerList(header))
		case len(at) > 1:
			return nil, errs.Invalid("column %q for field %q appears %d times in the header (columns %s)", m.GetColumn(), m.GetField(), len(at), joinInts(at))
		}
		p.fields = append(p.fields, planField{
			name: f.GetName(), typ: f.GetType(), required: f.GetRequired() || isKey[f.GetName()],
			key: isKey[f.GetName()], src: at[0] - 1, column: column,
		})
	}
	for _, k := range ds.GetKey() {
		found := false
		for i, f := range p.fields {
			if f.name == k {
				p.keyIdx = append(p.keyIdx, i)
				found = true
			}
		}
		if !found {
			return nil, errs.Invalid("key field %q is not mapped", k)
		}
	}
	for _, f := range ds.GetFields() {
		if f.GetRequired() && !seen[f.GetName()] {
			return nil, errs.Invalid("required field %q is not mapped", f.GetName())
		}
	}
	for _, f := range p.fields {
		p.columns = append(p.columns, f.name)
	}
	p.columns = append(p.columns, RowColumn)
	return p, nil
}

func headerList(h []string) string {
	const max = 10
	q := make([]string, 0, max+1)
	for i, s := range h {
		if i == max {
			q = append(q, fmt.Sprintf("and %d more", len(h)-max))
			break
		}
		q = append(q, fmt.Sprintf("%q", s))
	}
	return "header: " + strings.Join(q, ", ")
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// Reject is why one row was not taken.
type Reject struct {
	Row    int64
	Column string
	Value  string
	Reason string
}

// maxRejectValue bounds the value kept in a reject.
const maxRejectValue = 200

func reject(row int64, column, value, reason string) *Reject {
	if len(value) > maxRejectValue {
		value = strings.ToValidUTF8(value[:maxRejectValue], "") + "…"
	}
	return &Reject{Row: row, Column: column, Value: value, Reason: reason}
}

// Row converts one record. On success it appends the row as one CSV line for
// COPY (the file row number last) to out and returns the row's canonical key.
// On failure out is unchanged and the reject says why.
func (p *Plan) Row(row int64, record []string, out *bytes.Buffer) (string, *Reject) {
	if len(record) != p.headerLen {
		return "", reject(row, "", "", fmt.Sprintf("row has %d fields, the header has %d", len(record), p.headerLen))
	}
	mark := out.Len()
	var key strings.Builder
	for i, f := range p.fields {
		raw := record[f.src]
		if off, bad := textenc.FindInvalid(raw); bad && off >= 0 {
			out.Truncate(mark)
			return "", reject(row, f.column, textenc.Printable(raw), fmt.Sprintf("bytes at byte offset %d of the file are not valid %s", off, p.encodingName()))
		}
		val, null, reason := convert(f.typ, raw)
		if reason == "" && null && f.required {
			if f.key {
				reason = fmt.Sprintf("key field %q is empty", f.name)
			} else {
				reason = fmt.Sprintf("required field %q is empty", f.name)
			}
		}
		if reason != "" {
			out.Truncate(mark)
			return "", reject(row, f.column, raw, reason)
		}
		if f.key && f.typ == ferryv1.FieldType_FIELD_TYPE_STRING && !null {
			// "é" typed as one code point or as e + combining accent is one key.
			val = norm.NFC.String(val)
		}
		if f.key {
			if key.Len() > 0 {
				key.WriteString(keySep)
			}
			key.WriteString(canonicalKey(f.typ, val))
		}
		if i > 0 {
			out.WriteByte(',')
		}
		if !null {
			writeQuoted(out, val)
		}
	}
	fmt.Fprintf(out, ",%d\n", row)
	return key.String(), nil
}

// writeQuoted writes v as a quoted CSV field; COPY's CSV format reads an
// unquoted empty field as NULL and a quoted one as a value.
func writeQuoted(out *bytes.Buffer, v string) {
	out.WriteByte('"')
	for {
		i := strings.IndexByte(v, '"')
		if i < 0 {
			out.WriteString(v)
			break
		}
		out.WriteString(v[:i+1])
		out.WriteByte('"')
		v = v[i+1:]
	}
	out.WriteByte('"')
}

func (p *Plan) encodingName() string {
	if p.Encoding == "" {
		return "text in the file's encoding"
	}
	return p.Encoding
}
