// Package mapping turns source records into dataset rows: it resolves an
// import profile's mappings against a file's header, computes values with
// expressions and cross-references, converts and validates every value
// exactly (no guessing), and writes rows as CSV for PostgreSQL's COPY. A bad
// value rejects its row with the row, column, value, rule and reason.
package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"golang.org/x/text/unicode/norm"

	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/expr"
	"github.com/ferrydata/ferry/libs/formats/textenc"
)

// RowColumn is the system column that carries a row's file row number.
const RowColumn = "_ferry_row"

// SourceColumn is the staging column that carries a row's original record,
// as a JSON array of strings, when the apply step may reject the row.
const SourceColumn = "_ferry_source"

// Table is a cross-reference table, external to internal.
type Table interface {
	Lookup(external string) (internal string, ok bool)
}

// Plan maps records of one file header to dataset rows. It is compiled once
// per run and used by one goroutine at a time per Row call (it keeps no
// per-row state, so concurrent calls are safe).
type Plan struct {
	fields []*planField
	rules  []*rowRule
	header []string
	// exprHeader is header with the names expressions use for the columns
	// they matched (with normalized header matching they may differ).
	exprHeader []string
	columns    []string
	keepSource bool
	tables     map[string]Table
	// Encoding names the file's encoding in rejects for invalid bytes.
	Encoding string
}

type rowRule struct {
	name, message string
	prog          *expr.Program
}

// Columns returns the columns a row is written with, in order: the mapped
// fields, RowColumn, and SourceColumn when KeepSource.
func (p *Plan) Columns() []string { return p.columns }

// KeepSource says rows carry their original record, because the apply step
// can reject them (insert-only and update-only modes, unique rules,
// references).
func (p *Plan) KeepSource() bool { return p.keepSource }

// FieldColumns maps each field read from a column to the column's header
// name, for rejects found after mapping.
func (p *Plan) FieldColumns() map[string]string {
	out := map[string]string{}
	for _, f := range p.fields {
		if f.src >= 0 {
			out[f.name] = f.column
		}
	}
	return out
}

// KeyFields returns the dataset's key fields.
func (p *Plan) KeyFields() []string {
	var out []string
	for _, f := range p.fields {
		if f.key {
			out = append(out, f.name)
		}
	}
	return out
}

// Tables lists the cross-reference tables a spec uses, sorted and unique.
func Tables(spec *ferryv1.ImportProfileSpec) ([]string, error) {
	seen := map[string]bool{}
	for _, m := range spec.GetMappings() {
		if t := m.GetCrossReference().GetTable(); t != "" {
			seen[t] = true
		}
		if m.GetExpr() != "" {
			prog, err := expr.Compile(m.GetExpr(), expr.Options{})
			if err != nil {
				return nil, errs.Invalid("field %q: expression %s", m.GetField(), err)
			}
			for _, t := range prog.Tables() {
				seen[t] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// Check compiles a spec against its dataset without a file: expressions,
// formats, rules and cross-reference tables (tables lists those that exist;
// nil skips that check). The error names the field or rule, and the
// position in an expression.
func Check(spec *ferryv1.ImportProfileSpec, ds *ferryv1.Dataset, tables []string) error {
	loc, err := location(spec)
	if err != nil {
		return err
	}
	byName := fieldsByName(ds)
	isKey := keySet(ds)
	for _, m := range spec.GetMappings() {
		f, ok := byName[m.GetField()]
		if !ok {
			return errs.Invalid("mapping names field %q, which dataset %q does not have", m.GetField(), ds.GetName())
		}
		if _, err := compileField(m, f, isKey[f.GetName()], loc, tables); err != nil {
			return err
		}
	}
	_, err = compileRules(spec)
	return err
}

func compileRules(spec *ferryv1.ImportProfileSpec) ([]*rowRule, error) {
	var out []*rowRule
	names := map[string]bool{}
	for i, r := range spec.GetRules() {
		name := r.GetName()
		if name == "" {
			name = fmt.Sprintf("rule%d", i+1)
		}
		if names[name] {
			return nil, errs.Invalid("row rule %q is named twice", name)
		}
		names[name] = true
		prog, err := expr.Compile(r.GetExpr(), expr.Options{RowRule: true})
		if err != nil {
			return nil, errs.Invalid("row rule %q: expression %s", name, err)
		}
		msg := r.GetMessage()
		if msg == "" {
			msg = fmt.Sprintf("row rule %s failed: %s", name, r.GetExpr())
		}
		out = append(out, &rowRule{name: name, message: msg, prog: prog})
	}
	return out, nil
}

func location(spec *ferryv1.ImportProfileSpec) (*time.Location, error) {
	if spec.GetTimeZone() == "" {
		return nil, nil
	}
	loc, err := time.LoadLocation(spec.GetTimeZone())
	if err != nil {
		return nil, errs.Invalid("time zone %q is not an IANA time zone name (like Europe/Berlin)", spec.GetTimeZone())
	}
	return loc, nil
}

func fieldsByName(ds *ferryv1.Dataset) map[string]*ferryv1.Field {
	m := map[string]*ferryv1.Field{}
	for _, f := range ds.GetFields() {
		m[f.GetName()] = f
	}
	return m
}

func keySet(ds *ferryv1.Dataset) map[string]bool {
	m := map[string]bool{}
	for _, k := range ds.GetKey() {
		m[k] = true
	}
	return m
}

// normalizeHeader is the case-and-space-insensitive form of a header name.
func normalizeHeader(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '_' || r == '-' {
			return ' '
		}
		return r
	}, strings.ToLower(norm.NFC.String(s)))
	return strings.Join(strings.Fields(s), " ")
}

// Resolve checks spec against the dataset and the file's header and returns
// the plan. tables are the cross-reference tables the spec uses. An error
// names what is missing or ambiguous.
func Resolve(spec *ferryv1.ImportProfileSpec, ds *ferryv1.Dataset, header []string, tables map[string]Table) (*Plan, error) {
	loc, err := location(spec)
	if err != nil {
		return nil, err
	}
	normalized := spec.GetHeaderMatch() == ferryv1.HeaderMatch_HEADER_MATCH_NORMALIZED
	pos := map[string][]int{}
	for i, h := range header {
		if normalized {
			h = normalizeHeader(h)
		}
		pos[h] = append(pos[h], i+1)
	}
	find := func(name string) []int {
		if normalized {
			name = normalizeHeader(name)
		}
		return pos[name]
	}
	byName := fieldsByName(ds)
	isKey := keySet(ds)
	mappings := spec.GetMappings()
	if len(mappings) == 0 {
		for _, f := range ds.GetFields() {
			if len(find(f.GetName())) > 0 || f.GetRequired() || isKey[f.GetName()] {
				mappings = append(mappings, &ferryv1.FieldMapping{Field: f.GetName(), Column: f.GetName()})
			}
		}
	}
	var names []string
	for n := range tables {
		names = append(names, n)
	}
	p := &Plan{header: header, exprHeader: append([]string(nil), header...), tables: tables}
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
		pf, err := compileField(m, f, isKey[f.GetName()], loc, names)
		if err != nil {
			return nil, err
		}
		pf.column = f.GetName()
		if err := p.locate(pf, m, header, find); err != nil {
			return nil, err
		}
		if pf.prog != nil {
			for _, c := range pf.prog.Columns() {
				at := find(c)
				switch {
				case len(at) == 0:
					return nil, errs.Invalid("the expression of field %q uses column %q, which is not in the file's header (%s)", m.GetField(), c, headerList(header))
				case len(at) > 1:
					return nil, errs.Invalid("the expression of field %q uses column %q, which appears %d times in the header (columns %s)", m.GetField(), c, len(at), joinInts(at))
				}
				p.exprHeader[at[0]-1] = c
			}
		}
		if pf.rules.unique {
			p.keepSource = true
		}
		p.fields = append(p.fields, pf)
	}
	for _, k := range ds.GetKey() {
		if !seen[k] {
			return nil, errs.Invalid("key field %q is not mapped", k)
		}
	}
	for _, f := range ds.GetFields() {
		// A delete file lists keys only.
		if f.GetRequired() && !seen[f.GetName()] && spec.GetWriteMode() != ferryv1.WriteMode_WRITE_MODE_DELETE {
			return nil, errs.Invalid("required field %q is not mapped", f.GetName())
		}
	}
	if p.rules, err = compileRules(spec); err != nil {
		return nil, err
	}
	switch spec.GetWriteMode() {
	case ferryv1.WriteMode_WRITE_MODE_INSERT_ONLY, ferryv1.WriteMode_WRITE_MODE_UPDATE_ONLY:
		p.keepSource = true
	}
	if len(ds.GetReferences()) > 0 {
		p.keepSource = true
	}
	for _, f := range p.fields {
		p.columns = append(p.columns, f.name)
	}
	p.columns = append(p.columns, RowColumn)
	if p.keepSource {
		p.columns = append(p.columns, SourceColumn)
	}
	return p, nil
}

// locate finds the source column of a mapping in the header.
func (p *Plan) locate(pf *planField, m *ferryv1.FieldMapping, header []string, find func(string) []int) error {
	if idx := int(m.GetColumnIndex()); idx != 0 {
		if idx < 1 || idx > len(header) {
			return errs.Invalid("column %d for field %q does not exist: the file has %d columns", idx, m.GetField(), len(header))
		}
		pf.src, pf.column = idx-1, header[idx-1]
		return nil
	}
	if m.GetColumn() == "" {
		if m.GetExpr() == "" {
			return errs.Invalid("field %q has no column and no expression", m.GetField())
		}
		return nil // computed from the row
	}
	names := append([]string{m.GetColumn()}, m.GetAliases()...)
	var at []int
	var matched []string
	for _, n := range names {
		for _, i := range find(n) {
			if !slices.Contains(at, i) {
				at = append(at, i)
				matched = append(matched, n)
			}
		}
	}
	switch {
	case len(at) == 0:
		what := fmt.Sprintf("column %q", m.GetColumn())
		if len(m.GetAliases()) > 0 {
			what = fmt.Sprintf("no column named %s", quoteList(names))
		}
		return errs.Invalid("%s for field %q is not in the file's header (%s)", what, m.GetField(), headerList(header))
	case len(at) > 1 && len(names) == 1:
		return errs.Invalid("column %q for field %q appears %d times in the header (columns %s)", m.GetColumn(), m.GetField(), len(at), joinInts(at))
	case len(at) > 1:
		return errs.Invalid("field %q matches %d columns of the header (%s at columns %s); exactly one must match", m.GetField(), len(at), quoteList(matched), joinInts(at))
	}
	pf.src, pf.column = at[0]-1, header[at[0]-1]
	return nil
}

func quoteList(v []string) string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
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
	Rule   string
	Reason string
}

// Held is a row held because a cross-reference table lacks its value.
type Held struct {
	Row    int64
	Column string
	Value  string
	Table  string
	Reason string
}

// Result is what Row did with a record: wrote it, or rejected or held it.
type Result struct {
	Reject *Reject
	Held   *Held
}

// maxRejectValue bounds the value kept in a reject.
const maxRejectValue = 200

func reject(row int64, column, value, rule, reason string) Result {
	if len(value) > maxRejectValue {
		value = strings.ToValidUTF8(value[:maxRejectValue], "") + "…"
	}
	return Result{Reject: &Reject{Row: row, Column: column, Value: value, Rule: rule, Reason: reason}}
}

// lookup adapts the plan's tables to expressions.
type lookup map[string]Table

func (l lookup) Lookup(table, external string) (string, bool) {
	t, ok := l[table]
	if !ok {
		return "", false
	}
	return t.Lookup(external)
}

// Row converts one record. On success it appends the row as one CSV line for
// COPY to out. On a reject or hold, out is unchanged.
func (p *Plan) Row(row int64, record []string, out *bytes.Buffer) Result {
	if len(record) != len(p.header) {
		return reject(row, "", "", "format", fmt.Sprintf("row has %d fields, the header has %d", len(record), len(p.header)))
	}
	mark := out.Len()
	var (
		in    *expr.Input
		typed map[string]any
	)
	if len(p.rules) > 0 {
		typed = make(map[string]any, len(p.fields))
	}
	for i, f := range p.fields {
		raw := ""
		if f.src >= 0 {
			raw = record[f.src]
			if off, bad := textenc.FindInvalid(raw); bad && off >= 0 {
				out.Truncate(mark)
				return reject(row, f.column, textenc.Printable(raw), "encoding", fmt.Sprintf("bytes at byte offset %d of the file are not valid %s", off, p.encodingName()))
			}
		}
		v := raw
		if f.prog != nil {
			if in == nil {
				in = &expr.Input{Header: p.exprHeader, Record: record, Lookup: lookup(p.tables)}
			}
			in.Value = raw
			text, native, err := f.prog.EvalText(in)
			if !native {
				var res any
				res, err = f.prog.Eval(in)
				text = exprText(res)
			}
			if err != nil {
				out.Truncate(mark)
				return reject(row, f.column, textenc.Printable(raw), "expression", err.Error())
			}
			v = text
		}
		if f.xref != nil && v != "" {
			internal, ok := p.xrefLookup(f.xref.GetTable(), v)
			switch {
			case ok:
				v = internal
			case f.xref.GetUnknown() == ferryv1.UnknownValue_UNKNOWN_VALUE_PASS_THROUGH:
			case f.xref.GetUnknown() == ferryv1.UnknownValue_UNKNOWN_VALUE_DEFAULT:
				v = f.xref.GetDefaultValue()
			case f.xref.GetUnknown() == ferryv1.UnknownValue_UNKNOWN_VALUE_HOLD:
				out.Truncate(mark)
				return Result{Held: &Held{Row: row, Column: f.column, Value: v, Table: f.xref.GetTable(),
					Reason: fmt.Sprintf("value %q is not in cross-reference table %q", v, f.xref.GetTable())}}
			default:
				out.Truncate(mark)
				return reject(row, f.column, v, "cross_reference", fmt.Sprintf("value %q is not in cross-reference table %q", v, f.xref.GetTable()))
			}
		}
		if v == "" && f.hasDefault {
			v = f.def
		}
		val, null, reason := convert(f.typ, v, &f.parse)
		rule := "type"
		if reason == "" && null && f.required {
			rule = "required"
			if f.key {
				reason = fmt.Sprintf("key field %q is empty", f.name)
			} else {
				reason = fmt.Sprintf("required field %q is empty", f.name)
			}
		}
		if reason == "" && !null {
			rule, reason = f.check(val)
		}
		if reason != "" {
			out.Truncate(mark)
			return reject(row, f.column, v, rule, reason)
		}
		if f.key && f.typ == ferryv1.FieldType_FIELD_TYPE_STRING && !null {
			// "é" typed as one code point or as e + combining accent is one key.
			val = norm.NFC.String(val)
		}
		if typed != nil {
			typed[f.name] = typedValue(f.typ, val, null)
		}
		if i > 0 {
			out.WriteByte(',')
		}
		if !null {
			writeQuoted(out, val)
		}
	}
	for _, r := range p.rules {
		if in == nil {
			in = &expr.Input{Header: p.exprHeader, Record: record, Lookup: lookup(p.tables)}
		}
		in.Value, in.Fields = "", typed
		res, err := r.prog.Eval(in)
		if err != nil {
			out.Truncate(mark)
			return reject(row, "", "", "rule:"+r.name, fmt.Sprintf("row rule %s could not be evaluated: %v", r.name, err))
		}
		if ok, _ := res.(bool); !ok {
			out.Truncate(mark)
			return reject(row, "", "", "rule:"+r.name, r.message)
		}
	}
	var num [24]byte
	out.WriteByte(',')
	out.Write(strconv.AppendInt(num[:0], row, 10))
	if p.keepSource {
		out.WriteByte(',')
		writeQuoted(out, sourceJSON(record))
	}
	out.WriteByte('\n')
	return Result{}
}

func (p *Plan) xrefLookup(table, v string) (string, bool) {
	t, ok := p.tables[table]
	if !ok {
		return "", false
	}
	return t.Lookup(v)
}

// exprText is an expression's result as field text; null is empty.
func exprText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case int64, uint64:
		return fmt.Sprint(x)
	case float64:
		b, _ := json.Marshal(x)
		return string(b)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// sourceJSON is a record as a JSON array, storable as PostgreSQL text.
func sourceJSON(record []string) string {
	b, _ := json.Marshal(textenc.StorableAll(record))
	return string(b)
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
