package expr

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// Options configure Compile.
type Options struct {
	// Tables lists the cross-reference tables that exist; xref with a
	// constant table name that is not listed fails to compile. nil means
	// that table names are not checked.
	Tables []string
	// CostLimit bounds the evaluation cost of one Eval; 0 means
	// DefaultCostLimit.
	CostLimit uint64
	// RowRule says that the expression is a row rule: it must yield a
	// boolean, and fields holds the mapped values of the row.
	RowRule bool
	// Fields says that fields holds the row's typed values (export
	// template columns); the result is any field result.
	Fields bool
}

// Program is a compiled expression. It is safe for concurrent use, each
// Eval with its own Input.
type Program struct {
	prg cel.Program
	// fast is the same program without cost tracking, set when the
	// expression's worst-case cost for bounded inputs is within the limit;
	// Eval uses it for rows within the bounds (see cost.go).
	fast cel.Program
	// native replaces fast when the expression is a chain of Ferry's text
	// functions (see native.go); fast is then nil.
	native     textFn
	dynamic    bool  // reads row, cols or fields other than by constant keys
	colIndexes []int // constant indexes of cols
	rowRule    bool
	fields     bool // fields holds the row's values
	costLimit  uint64
	resultType string
	columns    []string
	tables     []string
	// access records the nodes that read row, cols or fields, so that a
	// missing key or index is reported as a missing column or field.
	access map[int64]string
	// calls names the function of each call node, for runtime errors.
	calls map[int64]string
}

// Compile parses and type-checks src. The error is a *CompileError that
// locates the problem.
//
// A field expression must yield a string, int, uint, double, bool or null
// (or dyn, checked when it runs); a row rule must yield a bool (or dyn).
func Compile(src string, opts Options) (*Program, error) {
	return compile(src, opts, true)
}

// compile is Compile; without allowNative, the program stays on CEL even
// when it could run natively, so that tests can compare the two paths.
func compile(src string, opts Options, allowNative bool) (*Program, error) {
	e, err := environment()
	if err != nil {
		return nil, fmt.Errorf("build expression environment: %w", err)
	}
	parsed, iss := e.Parse(src)
	if iss.Err() != nil {
		return nil, issuesError(src, nil, iss)
	}
	checked, iss := e.Check(parsed)
	if iss.Err() != nil {
		return nil, issuesError(src, parsed.NativeRep(), iss)
	}
	native := checked.NativeRep()
	w := newWalker(src, native.SourceInfo(), opts)
	w.walk(native.Expr())
	if kind, ok := resultKind(checked.OutputType(), opts.RowRule); !ok {
		w.reportAtStart(kind)
	}
	if len(w.issues) > 0 {
		return nil, newCompileError(w.issues)
	}
	return plan(e, checked, w, opts, allowNative)
}

// plan builds the program: with cost tracking, and without it when the
// worst-case cost for bounded inputs is within the limit (see cost.go),
// natively when it can (see native.go). Both CEL programs replace calls
// through specialize.
func plan(e *cel.Env, checked *cel.Ast, w *walker, opts Options, allowNative bool) (*Program, error) {
	limit := opts.CostLimit
	if limit == 0 {
		limit = DefaultCostLimit
	}
	prg, err := e.Program(checked,
		cel.CustomDecoratorV2(specialize),
		cel.EvalOptions(cel.OptOptimize),
		cel.CostLimit(limit),
		cel.CostTracking(costEstimator{}),
	)
	if err != nil {
		// Planning folds constant conversions such as int("x"), which can
		// fail; the message is CEL's own.
		return nil, newCompileError([]Issue{{Line: 1, Column: 1, Message: err.Error()}})
	}
	kind, _ := resultKind(checked.OutputType(), opts.RowRule)
	p := &Program{
		prg:        prg,
		dynamic:    w.dynamic,
		rowRule:    opts.RowRule,
		fields:     opts.RowRule || opts.Fields,
		costLimit:  limit,
		resultType: kind,
		columns:    sortedKeys(w.columns),
		tables:     sortedKeys(w.tables),
		access:     w.access,
		calls:      w.calls,
	}
	for i := range w.colIndexes {
		p.colIndexes = append(p.colIndexes, int(i))
	}
	// Fields have no size bound, so expressions that read them are always
	// tracked.
	if opts.RowRule || opts.Fields {
		return p, nil
	}
	if est, err := e.EstimateCost(checked, staticCosts{}); err == nil && est.Max <= limit {
		if allowNative && kind == "string" {
			if fn, ok := nativeText(checked.NativeRep().Expr()); ok {
				p.native = fn
				return p, nil
			}
		}
		if p.fast, err = e.Program(checked, cel.CustomDecoratorV2(specialize), cel.EvalOptions(cel.OptOptimize)); err != nil {
			return nil, fmt.Errorf("plan expression: %w", err)
		}
	}
	return p, nil
}

// resultKind names the type an expression yields. ok is false when a field
// expression or row rule may not yield it; the name is then the message.
func resultKind(t *cel.Type, rowRule bool) (string, bool) {
	var kind string
	switch t.Kind() {
	case types.StringKind:
		kind = "string"
	case types.IntKind:
		kind = "int"
	case types.UintKind:
		kind = "uint"
	case types.DoubleKind:
		kind = "double"
	case types.BoolKind:
		kind = "bool"
	case types.NullTypeKind:
		kind = "null"
	case types.DynKind:
		kind = "dyn"
	}
	switch {
	case rowRule && kind != "bool" && kind != "dyn":
		return fmt.Sprintf("a row rule must yield a bool, but this expression yields %s", typeName(t)), false
	case kind == "":
		return fmt.Sprintf("a field expression must yield a string, number, bool or null, but this expression yields %s", typeName(t)), false
	}
	return kind, true
}

// typeName writes a CEL type for a message.
func typeName(t *cel.Type) string {
	switch t.Kind() {
	case types.TimestampKind:
		return "a timestamp (convert it with string())"
	case types.DurationKind:
		return "a duration"
	case types.NullTypeKind:
		return "null"
	}
	return cel.FormatCELType(t)
}

// ResultType names the type the expression yields: "string", "int",
// "uint", "double", "bool", "null" or "dyn" (known only when it runs).
func (p *Program) ResultType() string { return p.resultType }

// Columns returns the header names the expression reads by constant name,
// as row["Name"] or row.Name, sorted and without repeats. Presence tests
// such as has(row.Name) are left out, since they are written for columns
// that may be missing.
func (p *Program) Columns() []string { return append([]string(nil), p.columns...) }

// Tables returns the constant table names passed to xref, sorted and
// without repeats.
func (p *Program) Tables() []string { return append([]string(nil), p.tables...) }
