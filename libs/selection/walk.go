package selection

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/expr"
)

// Names of the functions a selection may call.
const (
	fnDate       = "date"
	fnTimestamp  = "timestamp"
	fnStartsWith = "startsWith"
	fnEndsWith   = "endsWith"
	fnContains   = "contains"
)

// The comparison operators, as they are written.
const (
	opEq = "=="
	opNe = "!="
	opLt = "<"
	opLe = "<="
	opGt = ">"
	opGe = ">="
)

// litKind is the kind of a literal value.
type litKind int

const (
	litString litKind = iota + 1
	litInt
	litDouble
	litBool
	litNull
	litDate
	litTimestamp
)

// literal is a value written in a selection.
type literal struct {
	kind litKind
	expr ast.Expr
	s    string    // a string; the decimal text of a double; YYYY-MM-DD of a date
	i    int64     // an int
	b    bool      // a bool
	t    time.Time // a timestamp, or a date at midnight UTC
}

// walker translates a parsed selection into a cond, collecting every
// problem with its position. It reads the parsed rather than the checked
// expression, so that an unknown field or an unsupported construct is
// reported as such rather than as a type error.
type walker struct {
	info   *ast.SourceInfo
	src    []rune
	lines  [][]rune
	ds     *dataset
	issues []Issue
	// widen holds integer literals compared with decimal fields, which are
	// type-checked as doubles.
	widen []ast.Expr
}

func newWalker(src string, info *ast.SourceInfo, ds *dataset) *walker {
	w := &walker{info: info, src: []rune(src), ds: ds}
	for _, l := range strings.Split(src, "\n") {
		w.lines = append(w.lines, []rune(l))
	}
	return w
}

// report records a problem at the start of node id.
func (w *walker) report(id int64, format string, args ...any) {
	loc := w.info.GetStartLocation(id)
	w.add(loc.Line(), loc.Column(), format, args...)
}

// reportCall records a problem with a function call at the function's name
// (CEL places a call at its parenthesis) and with an operator at the
// operator.
func (w *walker) reportCall(id int64, function, format string, args ...any) {
	loc := w.info.GetStartLocation(id)
	line, col := loc.Line(), loc.Column()
	if line >= 1 && line <= len(w.lines) {
		text, name := w.lines[line-1], []rune(function)
		if start := col - len(name); start >= 0 && col <= len(text) && string(text[start:col]) == function {
			col = start
		}
	}
	w.add(line, col, format, args...)
}

func (w *walker) add(line, col int, format string, args ...any) {
	if line <= 0 {
		line, col = 1, 0
	}
	w.issues = append(w.issues, Issue{Line: line, Column: col + 1, Message: fmt.Sprintf(format, args...)})
}

// cond translates a condition.
func (w *walker) cond(e ast.Expr) cond {
	switch e.Kind() {
	case ast.LiteralKind:
		if b, ok := e.AsLiteral().(types.Bool); ok {
			return boolConst{val: value{arg: bool(b), cast: "boolean"}}
		}
		if lit := w.literal(e); lit != nil {
			w.report(e.ID(), "a selection is a condition, not %s", litName(lit.kind))
		}
		return nil
	case ast.IdentKind:
		f := w.field(e)
		if f == nil {
			return nil
		}
		if f.GetType() == ferryv1.FieldType_FIELD_TYPE_BOOLEAN {
			return boolField{field: f}
		}
		w.report(e.ID(), "%s is %s field, not a condition: compare it with a value", f.GetName(), typeName(f.GetType()))
		return nil
	case ast.CallKind:
		call := e.AsCall()
		switch fn := call.FunctionName(); fn {
		case operators.LogicalAnd, operators.LogicalOr:
			j := junction{and: fn == operators.LogicalAnd}
			w.flatten(e, fn, &j.terms)
			return j
		case operators.LogicalNot:
			return negation{x: w.cond(call.Args()[0])}
		case operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
			return w.compare(e)
		case operators.In:
			return w.membership(e)
		case fnStartsWith, fnEndsWith, fnContains:
			if call.IsMemberFunction() {
				return w.match(e)
			}
		case fnDate, fnTimestamp:
			if !call.IsMemberFunction() {
				w.reportCall(e.ID(), fn, "%s() is a value, not a condition: compare a field with it", fn)
				return nil
			}
		}
	}
	w.unsupported(e)
	return nil
}

// flatten collects the terms of a chain of && or ||.
func (w *walker) flatten(e ast.Expr, fn string, terms *[]cond) {
	for _, a := range e.AsCall().Args() {
		if a.Kind() == ast.CallKind && a.AsCall().FunctionName() == fn {
			w.flatten(a, fn, terms)
			continue
		}
		*terms = append(*terms, w.cond(a))
	}
}

// unsupported reports a construct that a selection may not use.
func (w *walker) unsupported(e ast.Expr) {
	switch e.Kind() {
	case ast.CallKind:
		fn := e.AsCall().FunctionName()
		switch fn {
		case operators.Index:
			w.report(e.ID(), "indexing with [] is not supported")
		case operators.Conditional:
			w.report(e.ID(), "the conditional operator ?: is not supported")
		default:
			if op, ok := operators.FindReverse(fn); ok && op != "" {
				w.report(e.ID(), "operator %s is not supported", op)
			} else {
				w.reportCall(e.ID(), fn, "function %s is not supported", fn)
			}
		}
	case ast.ComprehensionKind:
		name := "comprehension"
		if m, ok := w.info.GetMacroCall(e.ID()); ok && m.Kind() == ast.CallKind {
			name = m.AsCall().FunctionName()
		}
		w.reportCall(e.ID(), name, "macro %s is not supported", name)
	case ast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			w.reportCall(e.ID(), "has", "macro has is not supported")
			return
		}
		if sel.Operand().Kind() == ast.IdentKind {
			if w.field(sel.Operand()) != nil {
				w.report(sel.Operand().ID(), "selecting .%s of field %s is not supported", sel.FieldName(), sel.Operand().AsIdent())
			}
			return
		}
		w.report(e.ID(), ".%s is not supported", sel.FieldName())
	case ast.ListKind:
		w.report(e.ID(), "a list is only supported after in, as in status in [\"a\", \"b\"]")
	case ast.MapKind:
		w.report(e.ID(), "maps are not supported")
	case ast.StructKind:
		w.report(e.ID(), "messages are not supported")
	default:
		w.report(e.ID(), "this expression is not supported")
	}
}

// field returns the field an identifier names, reporting an unknown name.
func (w *walker) field(e ast.Expr) *ferryv1.Field {
	name := e.AsIdent()
	f := w.ds.byName[name]
	if f == nil {
		w.report(e.ID(), "%s", unknownField(name, w.ds.names))
	}
	return f
}

// operand translates one side of a comparison: a field or a literal. ok is
// false when a problem was reported.
func (w *walker) operand(e ast.Expr) (f *ferryv1.Field, lit *literal, ok bool) {
	switch e.Kind() {
	case ast.IdentKind:
		f = w.field(e)
		return f, nil, f != nil
	case ast.LiteralKind:
		lit = w.literal(e)
		return nil, lit, lit != nil
	case ast.CallKind:
		call := e.AsCall()
		if fn := call.FunctionName(); (fn == fnDate || fn == fnTimestamp) && !call.IsMemberFunction() {
			lit = w.timeLiteral(e)
			return nil, lit, lit != nil
		}
	}
	w.unsupported(e)
	return nil, nil, false
}

// literal translates a literal other than a list.
func (w *walker) literal(e ast.Expr) *literal {
	switch v := e.AsLiteral().(type) {
	case types.String:
		if strings.ContainsRune(string(v), 0) {
			w.report(e.ID(), "a string may not contain the NUL character (\\0)")
			return nil
		}
		return &literal{kind: litString, expr: e, s: string(v)}
	case types.Int:
		return &literal{kind: litInt, expr: e, i: int64(v)}
	case types.Double:
		return &literal{kind: litDouble, expr: e, s: w.decimalText(e, float64(v))}
	case types.Bool:
		return &literal{kind: litBool, expr: e, b: bool(v)}
	case types.Null:
		return &literal{kind: litNull, expr: e}
	case types.Uint:
		w.report(e.ID(), "unsigned integers are not supported: write %d", uint64(v))
	case types.Bytes:
		w.report(e.ID(), "bytes literals are not supported")
	default:
		w.report(e.ID(), "this literal is not supported")
	}
	return nil
}

// decimalPrefix matches a decimal literal, with CEL's folded minus sign.
var decimalPrefix = regexp.MustCompile(`^-?\s*(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?`)

// decimalText returns a double literal as it is written, so that 0.1 stays
// exactly 0.1 in a numeric comparison; it falls back to the shortest text
// that reads back as v when the source cannot be found.
func (w *walker) decimalText(e ast.Expr, v float64) string {
	if r, ok := w.info.GetOffsetRange(e.ID()); ok && r.Start >= 0 && int(r.Start) < len(w.src) {
		if m := decimalPrefix.FindString(string(w.src[r.Start:])); m != "" {
			text := strings.Join(strings.Fields(m), "")
			if f, err := strconv.ParseFloat(text, 64); (err == nil || math.IsInf(f, 0)) && f == v {
				return text
			}
		}
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// timeLiteral translates date("YYYY-MM-DD") and timestamp("RFC 3339").
func (w *walker) timeLiteral(e ast.Expr) *literal {
	call := e.AsCall()
	fn := call.FunctionName()
	example := `date("2024-01-31")`
	if fn == fnTimestamp {
		example = `timestamp("2024-01-31T08:00:00Z")`
	}
	args := call.Args()
	if len(args) != 1 || args[0].Kind() != ast.LiteralKind {
		w.reportCall(e.ID(), fn, "%s() takes one string literal, as in %s", fn, example)
		return nil
	}
	s, ok := args[0].AsLiteral().(types.String)
	if !ok {
		w.reportCall(e.ID(), fn, "%s() takes one string literal, as in %s", fn, example)
		return nil
	}
	if fn == fnDate {
		t, err := time.Parse(time.DateOnly, string(s))
		if err != nil {
			w.report(args[0].ID(), "%q is not a date: write YYYY-MM-DD, as in %s", string(s), example)
			return nil
		}
		return &literal{kind: litDate, expr: e, s: t.Format(time.DateOnly), t: t}
	}
	t, err := time.Parse(time.RFC3339, string(s))
	if err != nil {
		w.report(args[0].ID(), "%q is not an RFC 3339 timestamp, as in %s", string(s), example)
		return nil
	}
	if t.Nanosecond()%1000 != 0 {
		w.report(args[0].ID(), "%q is more precise than a microsecond, the precision of a timestamp field", string(s))
		return nil
	}
	return &literal{kind: litTimestamp, expr: e, t: t.UTC()}
}

// compare translates a comparison.
func (w *walker) compare(e ast.Expr) cond {
	call := e.AsCall()
	op := expr.DisplayName(call.FunctionName())
	args := call.Args()
	lf, ll, lok := w.operand(args[0])
	rf, rl, rok := w.operand(args[1])
	if !lok || !rok {
		return nil
	}
	switch {
	case lf != nil && rf != nil:
		return w.compareFields(e, op, lf, rf)
	case lf == nil && rf == nil:
		w.report(e.ID(), "%s compares two values: one side must be a field", op)
		return nil
	case lf == nil:
		// 9 <= grade is grade >= 9.
		lf, rl, op = rf, ll, mirror[op]
	}
	if rl.kind == litNull {
		switch op {
		case opEq:
			return nullTest{field: lf, null: true}
		case opNe:
			return nullTest{field: lf, null: false}
		}
		w.report(e.ID(), "null can only be compared with == and !=")
		return nil
	}
	v, ok := w.value(e, lf, rl, op == opEq || op == opNe)
	if !ok {
		return nil
	}
	return compare{op: op, field: lf, val: v}
}

// mirror gives the operator that compares the same way with its sides
// swapped.
var mirror = map[string]string{opEq: opEq, opNe: opNe, opLt: opGt, opLe: opGe, opGt: opLt, opGe: opLe}

// compareFields checks a comparison of two fields.
func (w *walker) compareFields(e ast.Expr, op string, l, r *ferryv1.Field) cond {
	lt, rt := l.GetType(), r.GetType()
	equality := op == opEq || op == opNe
	switch {
	case lt == ferryv1.FieldType_FIELD_TYPE_JSON || rt == ferryv1.FieldType_FIELD_TYPE_JSON:
		json := l
		if rt == ferryv1.FieldType_FIELD_TYPE_JSON {
			json = r
		}
		w.report(e.ID(), "%s is a JSON field: it can only be compared with null", json.GetName())
		return nil
	case lt == rt, isNumber(lt) && isNumber(rt) && !equality:
		return compareFields{op: op, left: l, right: r}
	case isNumber(lt) && isNumber(rt):
		w.report(e.ID(), "%s is %s field and %s is %s field: they can be compared with <, <=, > and >=, not with %s",
			l.GetName(), typeName(lt), r.GetName(), typeName(rt), op)
	default:
		w.report(e.ID(), "%s is %s field and %s is %s field: they cannot be compared",
			l.GetName(), typeName(lt), r.GetName(), typeName(rt))
	}
	return nil
}

func isNumber(t ferryv1.FieldType) bool {
	return t == ferryv1.FieldType_FIELD_TYPE_INTEGER || t == ferryv1.FieldType_FIELD_TYPE_DECIMAL
}

// value converts a literal compared with field f, reporting at e a literal
// of the wrong type. equality is set for ==, != and in.
func (w *walker) value(e ast.Expr, f *ferryv1.Field, lit *literal, equality bool) (value, bool) {
	switch f.GetType() {
	case ferryv1.FieldType_FIELD_TYPE_STRING:
		if lit.kind == litString {
			return value{arg: lit.s, cast: "text"}, true
		}
	case ferryv1.FieldType_FIELD_TYPE_INTEGER:
		switch {
		case lit.kind == litInt:
			return value{arg: lit.i, cast: "bigint"}, true
		case lit.kind == litDouble && !equality:
			return value{arg: lit.s, cast: "numeric"}, true
		case lit.kind == litDouble:
			w.report(e.ID(), "%s is an integer field: it can equal only an integer, not %s", f.GetName(), lit.s)
			return value{}, false
		}
	case ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		switch lit.kind {
		case litInt:
			w.widen = append(w.widen, lit.expr)
			return value{arg: strconv.FormatInt(lit.i, 10), cast: "numeric"}, true
		case litDouble:
			return value{arg: lit.s, cast: "numeric"}, true
		}
	case ferryv1.FieldType_FIELD_TYPE_BOOLEAN:
		if lit.kind == litBool {
			return value{arg: lit.b, cast: "boolean"}, true
		}
	case ferryv1.FieldType_FIELD_TYPE_DATE:
		switch lit.kind {
		case litDate:
			return value{arg: lit.s, cast: "date"}, true
		case litTimestamp:
			// A date has no time zone; comparing it with an instant would
			// depend on the session's.
			w.report(e.ID(), "%s is a date field: compare it with a date, as in date(\"2024-01-31\"), not a timestamp", f.GetName())
			return value{}, false
		}
	case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		switch lit.kind {
		case litTimestamp, litDate:
			return value{arg: lit.t, cast: "timestamptz"}, true
		}
	case ferryv1.FieldType_FIELD_TYPE_JSON:
		w.report(e.ID(), "%s is a JSON field: it can only be compared with null (%s == null, %s != null)", f.GetName(), f.GetName(), f.GetName())
		return value{}, false
	}
	msg := fmt.Sprintf("%s is %s field and cannot be compared with %s", f.GetName(), typeName(f.GetType()), litName(lit.kind))
	if lit.kind == litString {
		switch f.GetType() {
		case ferryv1.FieldType_FIELD_TYPE_DATE:
			msg += fmt.Sprintf(": write date(%q)", lit.s)
		case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
			msg += fmt.Sprintf(": write timestamp(%q)", lit.s)
		}
	}
	w.report(e.ID(), "%s", msg)
	return value{}, false
}

// membership translates field in [value, ...].
func (w *walker) membership(e ast.Expr) cond {
	args := e.AsCall().Args()
	f, _, ok := w.operand(args[0])
	if !ok {
		return nil
	}
	if f == nil {
		w.report(e.ID(), "in needs a field on its left, as in status in [\"a\", \"b\"]")
		return nil
	}
	if f.GetType() == ferryv1.FieldType_FIELD_TYPE_JSON {
		w.report(e.ID(), "%s is a JSON field: it can only be compared with null (%s == null, %s != null)", f.GetName(), f.GetName(), f.GetName())
		return nil
	}
	if args[1].Kind() != ast.ListKind {
		w.report(args[1].ID(), "in needs a list of values on its right, as in status in [\"a\", \"b\"]")
		return nil
	}
	var vals []any
	good := true
	for _, el := range args[1].AsList().Elements() {
		ef, lit, ok := w.operand(el)
		switch {
		case !ok:
			good = false
		case ef != nil:
			w.report(el.ID(), "a list after in holds values, not fields")
			good = false
		case lit.kind == litNull:
			w.report(el.ID(), "null cannot be in a list: write %s == null", f.GetName())
			good = false
		default:
			v, ok := w.value(el, f, lit, true)
			good = good && ok
			vals = append(vals, v.arg)
		}
	}
	if !good {
		return nil
	}
	return membership{field: f, val: value{arg: typedSlice(f.GetType(), vals), cast: sqlTypes[f.GetType()] + "[]"}}
}

// typedSlice makes the values of a list into the slice pgx encodes as an
// array of the field's type.
func typedSlice(t ferryv1.FieldType, vals []any) any {
	switch t {
	case ferryv1.FieldType_FIELD_TYPE_INTEGER:
		return convert[int64](vals)
	case ferryv1.FieldType_FIELD_TYPE_BOOLEAN:
		return convert[bool](vals)
	case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		return convert[time.Time](vals)
	}
	return convert[string](vals)
}

func convert[T any](vals []any) []T {
	out := make([]T, len(vals))
	for i, v := range vals {
		out[i] = v.(T)
	}
	return out
}

// match translates field.startsWith("…"), endsWith and contains.
func (w *walker) match(e ast.Expr) cond {
	call := e.AsCall()
	fn := call.FunctionName()
	target, args := call.Target(), call.Args()
	if target.Kind() != ast.IdentKind {
		w.reportCall(e.ID(), fn, "%s needs a field before the dot, as in name.%s(\"abc\")", fn, fn)
		return nil
	}
	f := w.field(target)
	if f == nil {
		return nil
	}
	if f.GetType() != ferryv1.FieldType_FIELD_TYPE_STRING {
		w.reportCall(e.ID(), fn, "%s is %s field: %s needs a string field", f.GetName(), typeName(f.GetType()), fn)
		return nil
	}
	var s types.String
	ok := len(args) == 1 && args[0].Kind() == ast.LiteralKind
	if ok {
		s, ok = args[0].AsLiteral().(types.String)
	}
	if !ok {
		w.reportCall(e.ID(), fn, "%s takes one string literal, as in %s.%s(\"abc\")", fn, f.GetName(), fn)
		return nil
	}
	if w.literal(args[0]) == nil {
		return nil
	}
	p := escapeLike(string(s))
	switch fn {
	case fnStartsWith:
		p += "%"
	case fnEndsWith:
		p = "%" + p
	default:
		p = "%" + p + "%"
	}
	return match{field: f, pattern: p}
}

// escapeLike escapes the LIKE wildcards % and _ and the escape character \.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// widenLiterals makes the integer literals compared with decimal fields
// doubles, for CEL's type check.
func (w *walker) widenLiterals() {
	fac := ast.NewExprFactory()
	for _, e := range w.widen {
		if v, ok := e.AsLiteral().(types.Int); ok {
			e.SetKindCase(fac.NewLiteral(e.ID(), types.Double(float64(v))))
		}
	}
}

// typeName names a field type with its article, for messages.
func typeName(t ferryv1.FieldType) string {
	switch t {
	case ferryv1.FieldType_FIELD_TYPE_STRING:
		return "a string"
	case ferryv1.FieldType_FIELD_TYPE_INTEGER:
		return "an integer"
	case ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		return "a decimal"
	case ferryv1.FieldType_FIELD_TYPE_BOOLEAN:
		return "a boolean"
	case ferryv1.FieldType_FIELD_TYPE_DATE:
		return "a date"
	case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		return "a timestamp"
	}
	return "a JSON"
}

// litName names a kind of literal with its article, for messages.
func litName(k litKind) string {
	switch k {
	case litString:
		return "a string"
	case litInt:
		return "an integer"
	case litDouble:
		return "a decimal number"
	case litBool:
		return "a boolean"
	case litDate:
		return "a date"
	case litTimestamp:
		return "a timestamp"
	}
	return "null"
}
