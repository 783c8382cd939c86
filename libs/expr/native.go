package expr

import (
	"strconv"
	"time"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"

	"github.com/ferrydata/ferry/libs/values"
)

// textFn is the native form of a field expression that yields a string: a
// tree of Go closures over the functions the CEL bindings call, which runs
// several times faster than CEL's interpreter and allocates only the text
// it builds. Its results and errors are those of the CEL program; Eval
// uses it where it would run the CEL program without cost tracking.
type textFn func(in *Input) (string, error)

// nativeText builds the native form of a checked expression made only of
// string constants, value, row.Name, row["Name"], cols[N] and calls of
// Ferry's text functions on them, with constant patterns, zones and
// integer arguments. It returns false for any other expression, which
// stays on CEL.
//
// Like CEL, the closures evaluate every argument of a call in order and
// stop at the first error, so that coalesce(row.A, row.B) fails when B is
// not a column even if A is not blank.
func nativeText(e ast.Expr) (textFn, bool) {
	switch e.Kind() {
	case ast.LiteralKind:
		if s, ok := literalString(e); ok {
			return func(*Input) (string, error) { return s, nil }, true
		}
	case ast.IdentKind:
		if e.AsIdent() == varValue {
			return func(in *Input) (string, error) { return in.Value, nil }, true
		}
	case ast.SelectKind:
		if sel := e.AsSelect(); !sel.IsTestOnly() && isIdent(sel.Operand(), varRow) {
			return readColumn(sel.FieldName()), true
		}
	case ast.CallKind:
		if call := e.AsCall(); !call.IsMemberFunction() {
			return nativeCall(call.FunctionName(), call.Args())
		}
	}
	return nil, false
}

func isIdent(e ast.Expr, name string) bool {
	return e.Kind() == ast.IdentKind && e.AsIdent() == name
}

// readColumn reads row["name"].
func readColumn(name string) textFn {
	return func(in *Input) (string, error) {
		row := rowMap{in: in}
		if c, ok := row.cell(name); ok {
			return c, nil
		}
		return "", missingColumn(name)
	}
}

// readPosition reads cols[i].
func readPosition(i int64) textFn {
	return func(in *Input) (string, error) {
		if i >= 0 && i < int64(len(in.Record)) {
			return in.Record[i], nil
		}
		return "", missingPosition(in, strconv.FormatInt(i, 10))
	}
}

// nativeCall builds a call of function with args.
func nativeCall(function string, args []ast.Expr) (textFn, bool) {
	if function == operators.Index && len(args) == 2 {
		if key, ok := literalString(args[1]); ok && isIdent(args[0], varRow) {
			return readColumn(key), true
		}
		if i, ok := literalInt(args[1]); ok && isIdent(args[0], varCols) {
			return readPosition(i), true
		}
		return nil, false
	}
	// The leading string arguments; the rest must be constants, checked
	// below for the functions that take them.
	var strs []textFn
	for _, a := range args {
		fn, ok := nativeText(a)
		if !ok {
			break
		}
		strs = append(strs, fn)
	}
	n := len(args)
	allStrings := len(strs) == n
	if fn, ok := unaryTexts[function]; ok && n == 1 && allStrings {
		return unaryNative(strs[0], fn), true
	}
	switch function {
	case "concat":
		if n >= minVariadic && n <= maxVariadic && allStrings {
			return concatNative(strs), true
		}
	case "coalesce":
		if n >= minVariadic && n <= maxVariadic && allStrings {
			return coalesceNative(strs), true
		}
	case "default":
		if n == 2 && allStrings {
			s, d := strs[0], strs[1]
			return func(in *Input) (string, error) {
				v, err := s(in)
				if err != nil {
					return "", err
				}
				dv, err := d(in)
				if err != nil {
					return "", err
				}
				return defaultText(v, dv), nil
			}, true
		}
	case "replace":
		if n == 3 && allStrings {
			return replaceNative(strs[0], strs[1], strs[2]), true
		}
	case "substring":
		return substringNative(strs, args)
	case "regex_extract":
		return regexExtractNative(strs, args)
	case "parse_date":
		return parseDateNative(strs, args)
	case "parse_timestamp":
		return parseTimestampNative(strs, args)
	case "parse_number":
		return parseNumberNative(strs, args)
	case "xref":
		if (n == 2 || n == 3) && allStrings {
			return xrefNative(strs), true
		}
	}
	return nil, false
}

func unaryNative(arg textFn, fn func(string) string) textFn {
	return func(in *Input) (string, error) {
		s, err := arg(in)
		if err != nil {
			return "", err
		}
		return fn(s), nil
	}
}

// convert applies a function that may fail to the result of arg.
func convert(arg textFn, fn func(string) (string, error)) textFn {
	return func(in *Input) (string, error) {
		s, err := arg(in)
		if err != nil {
			return "", err
		}
		return fn(s)
	}
}

// evalArgs evaluates args into buf, in order, up to the first error.
func evalArgs(in *Input, args []textFn, buf *[maxVariadic]string) ([]string, error) {
	for i, a := range args {
		s, err := a(in)
		if err != nil {
			return nil, err
		}
		buf[i] = s
	}
	return buf[:len(args)], nil
}

func concatNative(args []textFn) textFn {
	return func(in *Input) (string, error) {
		var buf [maxVariadic]string
		ss, err := evalArgs(in, args, &buf)
		if err != nil {
			return "", err
		}
		return concatText(ss)
	}
}

func coalesceNative(args []textFn) textFn {
	return func(in *Input) (string, error) {
		var buf [maxVariadic]string
		ss, err := evalArgs(in, args, &buf)
		if err != nil {
			return "", err
		}
		return coalesceText(ss), nil
	}
}

func replaceNative(s, old, repl textFn) textFn {
	args := []textFn{s, old, repl}
	return func(in *Input) (string, error) {
		var buf [maxVariadic]string
		ss, err := evalArgs(in, args, &buf)
		if err != nil {
			return "", err
		}
		return replaceText(ss[0], ss[1], ss[2])
	}
}

func xrefNative(args []textFn) textFn {
	return func(in *Input) (string, error) {
		var buf [maxVariadic]string
		ss, err := evalArgs(in, args, &buf)
		if err != nil {
			return "", err
		}
		return xrefText(in.Lookup, ss[0], ss[1], buf[2], len(ss) == 3)
	}
}

// substringNative builds substring(s, start) and substring(s, start, end)
// with constant positions.
func substringNative(strs []textFn, args []ast.Expr) (textFn, bool) {
	if len(strs) != 1 || len(args) < 2 || len(args) > 3 {
		return nil, false
	}
	start, ok := literalInt(args[1])
	if !ok {
		return nil, false
	}
	var end int64
	hasEnd := len(args) == 3
	if hasEnd {
		if end, ok = literalInt(args[2]); !ok {
			return nil, false
		}
	}
	return convert(strs[0], func(s string) (string, error) {
		return substringText(s, start, end, hasEnd)
	}), true
}

// regexExtractNative builds regex_extract with a constant pattern and,
// if any, a constant group.
func regexExtractNative(strs []textFn, args []ast.Expr) (textFn, bool) {
	if len(strs) != 2 || len(args) < 2 || len(args) > 3 {
		return nil, false
	}
	pattern, ok := literalString(args[1])
	if !ok {
		return nil, false
	}
	re, err := compileRegex(pattern)
	if err != nil {
		return nil, false
	}
	group := defaultGroup(re)
	if len(args) == 3 {
		g, ok := literalInt(args[2])
		if !ok || checkGroup(re, g) != nil {
			return nil, false
		}
		group = int(g)
	}
	return unaryNative(strs[0], func(s string) string { return regexExtractText(s, re, group) }), true
}

// parseDateNative builds parse_date(s) and parse_date(s, format) with a
// constant format.
func parseDateNative(strs []textFn, args []ast.Expr) (textFn, bool) {
	var layouts []*values.DateLayout
	switch {
	case len(args) == 1 && len(strs) == 1:
	case len(args) == 2 && len(strs) == 2:
		pattern, ok := literalString(args[1])
		if !ok {
			return nil, false
		}
		var err error
		if layouts, err = dateLayouts(pattern); err != nil {
			return nil, false
		}
	default:
		return nil, false
	}
	return convert(strs[0], func(s string) (string, error) { return values.ParseDate(s, layouts) }), true
}

// parseTimestampNative builds parse_timestamp with a constant format and
// zone, if any.
func parseTimestampNative(strs []textFn, args []ast.Expr) (textFn, bool) {
	if len(strs) != len(args) || len(args) < 1 || len(args) > 3 {
		return nil, false
	}
	var layouts []*values.DateLayout
	var zone *time.Location
	if len(args) >= 2 {
		pattern, ok := literalString(args[1])
		if !ok {
			return nil, false
		}
		l, err := values.ParseLayout(pattern)
		if err != nil {
			return nil, false
		}
		layouts = []*values.DateLayout{l}
	}
	if len(args) == 3 {
		name, ok := literalString(args[2])
		if !ok {
			return nil, false
		}
		var err error
		if zone, err = loadZone(name); err != nil {
			return nil, false
		}
	}
	return convert(strs[0], func(s string) (string, error) { return values.ParseTimestamp(s, layouts, zone) }), true
}

// parseNumberNative builds parse_number(s) and parse_number(s, decimal,
// thousands); constant separators are checked once.
func parseNumberNative(strs []textFn, args []ast.Expr) (textFn, bool) {
	if len(strs) != len(args) {
		return nil, false
	}
	switch len(args) {
	case 1:
		return convert(strs[0], func(s string) (string, error) { return values.ParseNumber(s, values.NumberFormat{}) }), true
	case 3:
		decimal, ok1 := literalString(args[1])
		thousands, ok2 := literalString(args[2])
		if ok1 && ok2 {
			f, err := numberFormat(decimal, thousands)
			if err != nil {
				return nil, false
			}
			return convert(strs[0], func(s string) (string, error) { return values.ParseNumber(s, f) }), true
		}
		return func(in *Input) (string, error) {
			var buf [maxVariadic]string
			ss, err := evalArgs(in, strs, &buf)
			if err != nil {
				return "", err
			}
			return parseNumberText(ss[0], ss[1], ss[2])
		}, true
	}
	return nil, false
}
