package expr

import (
	"sync"

	"github.com/google/cel-go/cel"
)

// Names of the variables every expression sees.
const (
	varRow    = "row"
	varCols   = "cols"
	varValue  = "value"
	varFields = "fields"
)

// lookupVar is the activation name under which xref finds the Input's
// Lookup. It is not a valid identifier, so no expression can name it.
const lookupVar = "@ferry.lookup"

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

// environment returns the CEL environment shared by all programs: the
// variables, CEL's standard library (operators, macros such as has and
// exists, conversions) and Ferry's functions. Nothing in it reads the clock,
// the process environment or files.
func environment() (*cel.Env, error) {
	envOnce.Do(func() {
		opts := []cel.EnvOption{
			cel.Variable(varRow, cel.MapType(cel.StringType, cel.StringType)),
			cel.Variable(varCols, cel.ListType(cel.StringType)),
			cel.Variable(varValue, cel.StringType),
			cel.Variable(varFields, cel.MapType(cel.StringType, cel.DynType)),
			// 1 < 1.5 and fields.age >= 18.0 compare numbers exactly across
			// int, uint and double instead of failing.
			cel.CrossTypeNumericComparisons(true),
			cel.ASTValidators(cel.ValidateRegexLiterals()),
			cel.ParserExpressionSizeLimit(maxSourceLength),
			cel.EagerlyValidateDeclarations(true),
		}
		opts = append(opts, stringFunctions()...)
		opts = append(opts, parseFunctions()...)
		opts = append(opts, xrefFunction())
		env, envErr = cel.NewEnv(opts...)
	})
	return env, envErr
}

// maxSourceLength bounds the text of one expression.
const maxSourceLength = 10_000
