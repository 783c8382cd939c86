package expr

import (
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// Input is what one Eval reads: one source record and, for row rules, the
// typed fields of the row.
//
// Reuse one Input across rows (set Record, Value and Fields for each row):
// Eval then allocates nothing to present the row to the expression. An
// Input must not be used by two Evals at the same time.
type Input struct {
	// Header holds the column names, aligned with Record. When a name
	// appears twice, row["name"] reads the first column.
	Header []string
	// Record holds the cells of the row. A record shorter than Header
	// reads as empty cells for the missing columns.
	Record []string
	// Value is the cell of the mapping's own source column, or "".
	Value string
	// Fields holds the mapped values of the row for row rules: string,
	// int64, float64, bool, time.Time for dates and timestamps, and nil
	// for NULL. Field expressions see an empty map.
	Fields map[string]any
	// Lookup resolves xref calls; nil knows no values.
	Lookup Lookup

	act activation
}

// activation presents an Input to CEL. It resolves variables lazily, so
// that an expression pays only for what it reads.
type activation struct {
	in      *Input
	row     rowMap
	rowRule bool
}

// reset prepares the activation for one Eval.
func (a *activation) reset(in *Input, rowRule bool) {
	a.in = in
	a.row.in = in
	a.rowRule = rowRule
}

// emptyFields is what field expressions see as fields.
var emptyFields = map[string]any{}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varRow:
		return &a.row, true
	case varCols:
		return types.NewStringList(types.DefaultTypeAdapter, a.in.Record), true
	case varValue:
		return types.String(a.in.Value), true
	case varFields:
		if !a.rowRule || a.in.Fields == nil {
			return emptyFields, true
		}
		return a.in.Fields, true
	case lookupVar:
		return a.in.Lookup, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

var _ interpreter.Activation = (*activation)(nil)
