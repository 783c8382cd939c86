package expr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// ErrCostLimit is wrapped by the error of an Eval that exceeded its cost
// limit.
var ErrCostLimit = errors.New("expression exceeded its cost limit")

// Eval runs the program on one row. The result is a string, int64, uint64,
// float64, bool, or nil for null; a row rule yields a bool.
//
// An error is a plain sentence: a function's error (such as a value that
// does not parse), a column or field the row does not have, or the cost
// limit (wrapping ErrCostLimit).
//
// Cost is tracked as the expression runs, except when the expression's
// worst case, computed when it was compiled for cells of at most 4096
// bytes, is within the limit and the row's cells are that small: tracking
// then cannot fail, and skipping it makes Eval several times cheaper. A
// field expression that only chains Ferry's text functions then runs as
// Go code instead of through CEL's interpreter, with the same results.
func (p *Program) Eval(in *Input) (any, error) {
	if p.native != nil && p.bounded(in) {
		s, err := p.native(in)
		if err != nil {
			// The CEL path keeps only the sentence of an error, and so
			// does this one, typed errors from libs/values included.
			return nil, errors.New(err.Error())
		}
		return s, nil
	}
	a := &in.act
	a.reset(in, p.fields)
	prg := p.prg
	if p.fast != nil && p.bounded(in) {
		prg = p.fast
	}
	out, _, err := prg.Eval(a)
	if err != nil {
		return nil, p.evalError(in, out, err)
	}
	return p.result(out)
}

// EvalText is Eval for a caller that wants text: when the program runs
// natively on this input (ok), its result is returned as the string it is,
// without boxing it into an interface (one allocation per row and field
// less); otherwise ok is false and the caller uses Eval.
func (p *Program) EvalText(in *Input) (text string, ok bool, err error) {
	if p.native == nil || !p.bounded(in) {
		return "", false, nil
	}
	s, err := p.native(in)
	if err != nil {
		return "", true, errors.New(err.Error())
	}
	return s, true, nil
}

// bounded reports whether the parts of the row the expression can read are
// within the bounds its static cost estimate assumed.
func (p *Program) bounded(in *Input) bool {
	if len(in.Value) > boundedCellBytes {
		return false
	}
	if p.dynamic {
		if len(in.Record) > boundedColumns || len(in.Header) > boundedColumns {
			return false
		}
		for _, c := range in.Record {
			if len(c) > boundedCellBytes {
				return false
			}
		}
		for _, h := range in.Header {
			if len(h) > boundedCellBytes {
				return false
			}
		}
		return true
	}
	row := rowMap{in: in}
	for _, name := range p.columns {
		if c, _ := row.cell(name); len(c) > boundedCellBytes {
			return false
		}
	}
	for _, i := range p.colIndexes {
		if i >= 0 && i < len(in.Record) && len(in.Record[i]) > boundedCellBytes {
			return false
		}
	}
	return true
}

// result converts a CEL value into a Go value.
func (p *Program) result(v ref.Val) (any, error) {
	if p.rowRule {
		if b, ok := v.(types.Bool); ok {
			return bool(b), nil
		}
		return nil, fmt.Errorf("the row rule yields %s, not a bool", describe(v))
	}
	switch v := v.(type) {
	case types.String:
		return string(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return uint64(v), nil
	case types.Double:
		return float64(v), nil
	case types.Bool:
		return bool(v), nil
	case types.Null:
		return nil, nil
	}
	return nil, fmt.Errorf("the expression yields %s, not a string, number, bool or null", describe(v))
}

// describe names the type of a value for a message.
func describe(v ref.Val) string {
	switch v.Type() {
	case types.NullType:
		return "null"
	case types.ListType:
		return "a list"
	case types.MapType:
		return "a map"
	case types.TimestampType:
		return "a timestamp"
	}
	return "a value of type " + v.Type().TypeName()
}

// evalError turns an evaluation error into a sentence without CEL's
// vocabulary where Ferry knows better words.
func (p *Program) evalError(in *Input, out ref.Val, err error) error {
	var cancelled interpreter.EvalCancelledError
	if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
		return fmt.Errorf("%w of %d", ErrCostLimit, p.costLimit)
	}
	msg := err.Error()
	e, ok := out.(*types.Err)
	if !ok {
		return errors.New(msg)
	}
	switch p.access[e.NodeID()] {
	case varRow:
		if key, ok := strings.CutPrefix(msg, "no such key: "); ok {
			return missingColumn(key)
		}
	case varFields:
		if key, ok := strings.CutPrefix(msg, "no such key: "); ok {
			return fmt.Errorf("no field %q in the row", key)
		}
	case varCols:
		if index, ok := strings.CutPrefix(msg, "index out of bounds: "); ok {
			return missingPosition(in, index)
		}
	}
	if strings.HasPrefix(msg, "no such overload") {
		if fn, ok := p.calls[e.NodeID()]; ok {
			if name := DisplayName(fn); name != fn {
				return fmt.Errorf("operator %s does not apply to the types of these values", name)
			}
			return fmt.Errorf("function %s does not apply to the types of these values", fn)
		}
		return errors.New("an operator or function does not apply to the types of these values")
	}
	return errors.New(msg)
}
