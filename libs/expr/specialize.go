package expr

import (
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/ferrydata/ferry/libs/values"
)

// specialize replaces planned calls of a program with implementations that
// need more than their arguments: xref reads the Lookup of the Eval, and
// calls whose pattern or zone is a constant use the regular expression,
// date layout or time zone compiled here once instead of on every row.
//
// Compile has validated the constants already; a constant that still fails
// here leaves the call to the general binding, which reports the error.
func specialize(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	call, ok := i.(interpreter.InterpretableCall)
	if !ok {
		return i, nil
	}
	args := call.Args()
	newCall := func(impl callImpl) interpreter.InterpretableV2 {
		return &fixedCall{id: call.ID(), function: call.Function(), overload: call.OverloadID(), args: args, impl: impl}
	}
	switch call.OverloadID() {
	case overloadXref2, overloadXref3:
		return newCall(xref), nil
	case "ferry_regex_extract_2", "ferry_regex_extract_3":
		pattern, ok := constString(args[1])
		if !ok {
			break
		}
		re, err := compileRegex(pattern)
		if err != nil {
			break
		}
		return newCall(func(_ *interpreter.ExecutionFrame, a [3]ref.Val, n int) ref.Val {
			s, ok := a[0].(types.String)
			if !ok {
				return types.MaybeNoSuchOverloadErr(a[0])
			}
			return regexExtract(s, re, a[2:n])
		}), nil
	case "ferry_parse_date_2":
		pattern, ok := constString(args[1])
		if !ok {
			break
		}
		layouts, err := dateLayouts(pattern)
		if err != nil {
			break
		}
		return newCall(func(_ *interpreter.ExecutionFrame, a [3]ref.Val, _ int) ref.Val {
			s, ok := a[0].(types.String)
			if !ok {
				return types.MaybeNoSuchOverloadErr(a[0])
			}
			return result(values.ParseDate(string(s), layouts))
		}), nil
	case "ferry_parse_timestamp_2", "ferry_parse_timestamp_3":
		pattern, ok := constString(args[1])
		if !ok {
			break
		}
		l, err := values.ParseLayout(pattern)
		if err != nil {
			break
		}
		layouts := []*values.DateLayout{l}
		var zone *time.Location
		if len(args) == 3 {
			name, ok := constString(args[2])
			if !ok {
				break
			}
			if zone, err = loadZone(name); err != nil {
				break
			}
		}
		return newCall(func(_ *interpreter.ExecutionFrame, a [3]ref.Val, _ int) ref.Val {
			s, ok := a[0].(types.String)
			if !ok {
				return types.MaybeNoSuchOverloadErr(a[0])
			}
			return result(values.ParseTimestamp(string(s), layouts, zone))
		}), nil
	}
	return i, nil
}

// constString returns the value of a constant string argument.
func constString(i interpreter.InterpretableV2) (string, bool) {
	c, ok := i.(interpreter.InterpretableConst)
	if !ok {
		return "", false
	}
	s, ok := c.Value().(types.String)
	return string(s), ok
}

// callImpl implements a call from its evaluated arguments; n of them are
// set. The arguments come in an array, not a slice, so that they stay on
// the stack.
type callImpl func(frame *interpreter.ExecutionFrame, args [3]ref.Val, n int) ref.Val

// fixedCall is a planned call of a function with at most three arguments.
// It implements InterpretableCall, so cost tracking charges it like any
// other call.
type fixedCall struct {
	id       int64
	function string
	overload string
	args     []interpreter.InterpretableV2
	impl     callImpl
}

// ID implements interpreter.Interpretable.
func (c *fixedCall) ID() int64 { return c.id }

// Eval implements interpreter.Interpretable.
func (c *fixedCall) Eval(vars interpreter.Activation) ref.Val {
	return c.Exec(interpreter.AsFrame(vars))
}

// Exec evaluates the arguments in order and calls the implementation; an
// error or unknown argument is the result, as for CEL's strict functions.
func (c *fixedCall) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	var vals [3]ref.Val
	for i, a := range c.args {
		v := a.Exec(frame)
		if types.IsUnknownOrError(v) {
			return v
		}
		vals[i] = v
	}
	return types.LabelErrNode(c.id, c.impl(frame, vals, len(c.args)))
}

// Function implements interpreter.InterpretableCall.
func (c *fixedCall) Function() string { return c.function }

// OverloadID implements interpreter.InterpretableCall.
func (c *fixedCall) OverloadID() string { return c.overload }

// Args implements interpreter.InterpretableCall.
func (c *fixedCall) Args() []interpreter.InterpretableV2 { return c.args }
