package expr

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/ferrydata/ferry/libs/values"
)

// walker visits a checked expression once: it collects the constant column
// and table names, records the nodes that read the row, and checks the
// constant arguments of Ferry's functions so that a bad pattern, zone or
// table is reported where it is written, before any row is read.
type walker struct {
	info    *ast.SourceInfo
	lines   []string // the source, for positions
	opts    Options
	known   map[string]bool // Options.Tables
	scope   []string        // comprehension variables that hide globals
	columns map[string]bool
	tables  map[string]bool
	access  map[int64]string
	calls   map[int64]string // function of each call, for runtime errors
	issues  []Issue
	// colIndexes holds the constant indexes of cols; dynamic is set when
	// row, cols or fields is read other than by a constant key or index.
	colIndexes map[int64]bool
	dynamic    bool
}

func newWalker(src string, info *ast.SourceInfo, opts Options) *walker {
	w := &walker{
		info:       info,
		lines:      strings.Split(src, "\n"),
		opts:       opts,
		columns:    map[string]bool{},
		tables:     map[string]bool{},
		access:     map[int64]string{},
		calls:      map[int64]string{},
		colIndexes: map[int64]bool{},
	}
	if opts.Tables != nil {
		w.known = map[string]bool{}
		for _, t := range opts.Tables {
			w.known[t] = true
		}
	}
	return w
}

// report records a problem at the start of node id.
func (w *walker) report(id int64, format string, args ...any) {
	loc := w.info.GetStartLocation(id)
	line, col := loc.Line(), loc.Column()+1
	if line <= 0 {
		line, col = 1, 1
	}
	w.issues = append(w.issues, Issue{Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
}

// reportAtStart records a problem with the whole expression at its first
// character. (CEL places a call at its parenthesis and a selection at its
// dot, which would point into the middle of the expression.)
func (w *walker) reportAtStart(msg string) {
	line, col := 0, 0
	for id := range w.info.OffsetRanges() {
		loc := w.info.GetStartLocation(id)
		l, c := loc.Line(), loc.Column()
		if name, ok := w.calls[id]; ok {
			c = nameStart(w.lines, l, c, name)
		}
		if line == 0 || l < line || l == line && c < col {
			line, col = l, c
		}
	}
	if line <= 0 {
		line, col = 1, 0
	}
	w.issues = append(w.issues, Issue{Line: line, Column: col + 1, Message: msg})
}

// global returns the name of an identifier that names a variable, not a
// comprehension variable.
func (w *walker) global(e ast.Expr) string {
	if e.Kind() != ast.IdentKind {
		return ""
	}
	name := e.AsIdent()
	if slices.Contains(w.scope, name) {
		return ""
	}
	return name
}

func (w *walker) walk(e ast.Expr) {
	switch e.Kind() {
	case ast.IdentKind:
		switch w.global(e) {
		case varRow, varCols, varFields:
			w.dynamic = true
		}
	case ast.SelectKind:
		sel := e.AsSelect()
		switch w.global(sel.Operand()) {
		case varRow:
			w.access[e.ID()] = varRow
			if !sel.IsTestOnly() {
				w.columns[sel.FieldName()] = true
			}
			return
		case varFields:
			w.access[e.ID()] = varFields
		}
		w.walk(sel.Operand())
	case ast.CallKind:
		call := e.AsCall()
		if w.index(e.ID(), call) {
			return
		}
		w.calls[e.ID()] = call.FunctionName()
		w.call(call)
		if call.IsMemberFunction() {
			w.walk(call.Target())
		}
		for _, a := range call.Args() {
			w.walk(a)
		}
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			w.walk(el)
		}
	case ast.MapKind:
		for _, entry := range e.AsMap().Entries() {
			me := entry.AsMapEntry()
			w.walk(me.Key())
			w.walk(me.Value())
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			w.walk(f.AsStructField().Value())
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		w.walk(c.IterRange())
		w.walk(c.AccuInit())
		outer := len(w.scope)
		w.scope = append(w.scope, c.AccuVar())
		w.walk(c.Result())
		w.scope = append(w.scope, c.IterVar())
		if c.HasIterVar2() {
			w.scope = append(w.scope, c.IterVar2())
		}
		w.walk(c.LoopCondition())
		w.walk(c.LoopStep())
		w.scope = w.scope[:outer]
	}
}

// index records an index into row, cols or fields. It returns true for
// row["Name"] and cols[0], which need no further walking.
func (w *walker) index(id int64, call ast.CallExpr) bool {
	args := call.Args()
	if call.FunctionName() != operators.Index || len(args) != 2 {
		return false
	}
	switch v := w.global(args[0]); v {
	case varRow:
		w.access[id] = v
		if s, ok := literalString(args[1]); ok {
			w.columns[s] = true
			return true
		}
	case varCols:
		w.access[id] = v
		if i, ok := literalInt(args[1]); ok {
			w.colIndexes[i] = true
			return true
		}
	case varFields:
		w.access[id] = v
	}
	return false
}

// call checks the constant arguments of a function call.
func (w *walker) call(call ast.CallExpr) {
	args := call.Args()
	if call.IsMemberFunction() {
		return
	}
	switch call.FunctionName() {
	case "regex_extract":
		pattern, ok := literalString(args[1])
		if !ok {
			return
		}
		re, err := compileRegex(pattern)
		if err != nil {
			w.report(args[1].ID(), "%s", err)
			return
		}
		if len(args) == 3 {
			if g, ok := literalInt(args[2]); ok {
				if err := checkGroup(re, g); err != nil {
					w.report(args[2].ID(), "%s", err)
				}
			}
		}
	case "parse_date":
		if len(args) == 2 {
			if pattern, ok := literalString(args[1]); ok {
				if _, err := dateLayouts(pattern); err != nil {
					w.report(args[1].ID(), "%s", err)
				}
			}
		}
	case "parse_timestamp":
		if len(args) >= 2 {
			if pattern, ok := literalString(args[1]); ok {
				if _, err := values.ParseLayout(pattern); err != nil {
					w.report(args[1].ID(), "%s", err)
				}
			}
		}
		if len(args) == 3 {
			if zone, ok := literalString(args[2]); ok {
				if _, err := loadZone(zone); err != nil {
					w.report(args[2].ID(), "%s", err)
				}
			}
		}
	case "parse_number":
		if len(args) == 3 {
			w.numberFormat(args[1], args[2])
		}
	case "parse_bool":
		if len(args) == 3 {
			trueWords, ok1 := literalStrings(args[1])
			falseWords, ok2 := literalStrings(args[2])
			if ok1 && ok2 {
				if err := (values.BoolWords{True: trueWords, False: falseWords}).Validate(); err != nil {
					w.report(args[1].ID(), "parse_bool words are not valid: %s", err)
				}
			}
		}
	case "xref":
		table, ok := literalString(args[0])
		if !ok {
			return
		}
		w.tables[table] = true
		if w.known != nil && !w.known[table] {
			w.report(args[0].ID(), "%s", w.unknownTable(table))
		}
	}
}

// numberFormat checks constant separators of parse_number.
func (w *walker) numberFormat(decimal, thousands ast.Expr) {
	d, dOK := literalString(decimal)
	t, tOK := literalString(thousands)
	switch {
	case dOK && utf8.RuneCountInString(d) != 1:
		w.report(decimal.ID(), "parse_number decimal separator %q must be one character", d)
	case tOK && utf8.RuneCountInString(t) > 1:
		w.report(thousands.ID(), `parse_number thousands separator %q must be one character, or "" for none`, t)
	case dOK && tOK:
		if _, err := numberFormat(d, t); err != nil {
			w.report(decimal.ID(), "%s", err)
		}
	}
}

func (w *walker) unknownTable(table string) string {
	if len(w.opts.Tables) == 0 {
		return fmt.Sprintf("unknown cross-reference table %q: there are no cross-reference tables", table)
	}
	known := append([]string(nil), w.opts.Tables...)
	sort.Strings(known)
	return fmt.Sprintf("unknown cross-reference table %q: the tables are %s", table, strings.Join(known, ", "))
}

func literalString(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

func literalInt(e ast.Expr) (int64, bool) {
	if e.Kind() != ast.LiteralKind {
		return 0, false
	}
	i, ok := e.AsLiteral().(types.Int)
	return int64(i), ok
}

// literalStrings returns the elements of a list literal of string constants.
func literalStrings(e ast.Expr) ([]string, bool) {
	if e.Kind() != ast.ListKind {
		return nil, false
	}
	var out []string
	for _, el := range e.AsList().Elements() {
		s, ok := literalString(el)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
