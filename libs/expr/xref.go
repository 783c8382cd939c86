package expr

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// Lookup resolves a cross-reference: the internal value that an external
// value (as it appears in the file) stands for in a table.
type Lookup interface {
	Lookup(table, external string) (internal string, ok bool)
}

// xrefFunction declares xref(table, value) and xref(table, value, default).
//
// A CEL function binding receives only its arguments, but xref also needs
// the Lookup of the run, which changes from one Eval to the next while the
// compiled program is shared. The overloads are therefore declared with a
// late binding (no implementation in the environment, and CEL will not fold
// them into constants), and each program replaces the planned call with an
// xrefCall through a decorator (see specialize.go). The xrefCall reads the
// Lookup from the activation under a name no expression can write, so the
// program stays safe for concurrent use with different Inputs and nothing
// is allocated per row to carry the Lookup.
func xrefFunction() cel.EnvOption {
	str := cel.StringType
	return cel.Function("xref",
		cel.Overload(overloadXref2, []*cel.Type{str, str}, str, cel.LateFunctionBinding()),
		cel.Overload(overloadXref3, []*cel.Type{str, str, str}, str, cel.LateFunctionBinding()))
}

const (
	overloadXref2 = "ferry_xref_2"
	overloadXref3 = "ferry_xref_3"
)

// xref looks args[1] up in table args[0]; args[2], when n is 3, is the
// default for a value that is not in the table. A nil Lookup knows no
// values.
func xref(frame *interpreter.ExecutionFrame, args [3]ref.Val, n int) ref.Val {
	table, ok := args[0].(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(args[0])
	}
	external, ok := args[1].(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(args[1])
	}
	var lookup Lookup
	if v, found := frame.ResolveName(lookupVar); found {
		lookup, _ = v.(Lookup)
	}
	var def types.String
	if n == 3 {
		if def, ok = args[2].(types.String); !ok {
			return types.MaybeNoSuchOverloadErr(args[2])
		}
	}
	return result(xrefText(lookup, string(table), string(external), string(def), n == 3))
}

// xrefText looks external up in table; a value that is not in the table
// yields def when hasDefault is set, and is an error otherwise.
func xrefText(lookup Lookup, table, external, def string, hasDefault bool) (string, error) {
	if lookup != nil {
		if internal, ok := lookup.Lookup(table, external); ok {
			return internal, nil
		}
	}
	if hasDefault {
		return def, nil
	}
	return "", fmt.Errorf("value %q is not in cross-reference table %q", external, table)
}
