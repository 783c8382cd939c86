package expr

import (
	"math"
	"strings"

	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/ferrydata/ferry/libs/values"
)

// DefaultCostLimit is the evaluation cost one Eval may use when
// Options.CostLimit is 0. Cost is counted as CEL counts it: about one unit
// per operation, variable access or function call, plus one unit per ten
// characters that a string function reads or writes. 100000 allows roughly
// a hundred thousand operations, or a megabyte of text processing, per row;
// an expression that loops over large lists or nests comprehensions stops
// with an error instead of stalling the import.
const DefaultCostLimit = 100_000

// Bounds of the inputs under which a program may run without tracking its
// cost (see Program.Eval): cells, header names and the value of at most
// boundedCellBytes bytes, and at most boundedColumns columns.
const (
	boundedCellBytes = 4096
	boundedColumns   = 1024
)

// unbounded stands for a size or cost that cannot be bounded.
const unbounded = math.MaxUint64

// callCost is the cost of one call of a Ferry function, given the text
// sizes of its arguments and of its result (bytes, or for a list the sum of
// one plus the length of each element). Runtime tracking and the static
// estimate both use it, so that the estimate bounds what is tracked.
func callCost(overloadID string, args []uint64, res uint64) uint64 {
	switch {
	case strings.HasPrefix(overloadID, "ferry_regex_extract"):
		// Like CEL's matches: the text length times a factor for the pattern.
		return add(1, mul(ceilTenth(add(args[0], 1)), add(1, args[1]/4)))
	case strings.HasPrefix(overloadID, "ferry_xref"):
		// A lookup reads its arguments; the result is the table's.
		return add(1, ceilTenth(sum(args)))
	}
	return add(1, ceilTenth(add(sum(args), res)))
}

// costEstimator charges Ferry's functions at run time; CEL's own functions
// keep their standard costs.
type costEstimator struct{}

// smallCosts lets CallCost return a pointer without allocating for the
// usual, small costs.
var smallCosts = func() (c [1024]uint64) {
	for i := range c {
		c[i] = uint64(i)
	}
	return c
}()

// CallCost implements interpreter.ActualCostEstimator.
func (costEstimator) CallCost(_, overloadID string, args []ref.Val, res ref.Val) *uint64 {
	if !strings.HasPrefix(overloadID, "ferry_") {
		return nil
	}
	var buf [maxVariadic]uint64
	sizes := buf[:0]
	for _, a := range args {
		sizes = append(sizes, textSize(a))
	}
	cost := callCost(overloadID, sizes, textSize(res))
	if cost < uint64(len(smallCosts)) {
		return &smallCosts[cost]
	}
	return &cost
}

// textSize is the number of bytes of a string, or for a list the sum of
// one plus the size of each element.
func textSize(v ref.Val) uint64 {
	switch v := v.(type) {
	case types.String:
		return uint64(len(v))
	case traits.Lister:
		var n uint64
		for it := v.Iterator(); it.HasNext() == types.True; {
			n += 1 + textSize(it.Next())
		}
		return n
	}
	return 0
}

// staticCosts estimates the worst-case cost of an expression for inputs
// within the bounds above. CEL's own functions keep CEL's estimates.
type staticCosts struct{}

// EstimateSize implements checker.CostEstimator: the sizes of the variables.
func (staticCosts) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return nil
	}
	switch path[0] {
	case varRow, varCols:
		if len(path) == 1 {
			return &checker.SizeEstimate{Min: 0, Max: boundedColumns}
		}
		return &checker.SizeEstimate{Min: 0, Max: boundedCellBytes}
	case varValue:
		return &checker.SizeEstimate{Min: 0, Max: boundedCellBytes}
	}
	return nil
}

// EstimateCallCost implements checker.CostEstimator.
func (s staticCosts) EstimateCallCost(_, overloadID string, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	if !strings.HasPrefix(overloadID, "ferry_") {
		return nil
	}
	sizes := make([]uint64, len(args))
	for i, a := range args {
		sizes[i] = staticTextSize(a)
	}
	res, count := resultSize(overloadID, sizes)
	est := &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: callCost(overloadID, sizes, res)}}
	if count != 0 {
		est.ResultSize = &checker.SizeEstimate{Min: 0, Max: count}
	}
	return est
}

// resultSize bounds the text size of a function's result (for callCost)
// and its CEL size (characters, or elements of a list; 0 for a bool or an
// unknown size).
func resultSize(overloadID string, args []uint64) (text, size uint64) {
	switch overloadID {
	case "ferry_trim", "ferry_substring_2", "ferry_substring_3", "ferry_regex_extract_2", "ferry_regex_extract_3":
		return args[0], args[0]
	case "ferry_upper", "ferry_lower":
		// A byte that is not UTF-8 becomes U+FFFD, three bytes.
		return mul(3, args[0]), args[0]
	case "ferry_default":
		return max(args[0], args[1]), max(args[0], args[1])
	case "ferry_replace":
		// At most one replacement per byte, since the old text is not empty.
		n := add(args[0], mul(args[0], args[2]))
		return n, n
	case "ferry_join":
		n := add(args[0], mul(args[0], args[1]))
		return n, n
	case "ferry_split":
		return add(mul(2, args[0]), 2), add(args[0], 1)
	case "ferry_parse_date_1", "ferry_parse_date_2":
		return 10, 10
	case "ferry_parse_timestamp_1", "ferry_parse_timestamp_2", "ferry_parse_timestamp_3":
		return 30, 30
	case "ferry_parse_number_1", "ferry_parse_number_3":
		return values.MaxNumberLength, values.MaxNumberLength
	case "ferry_parse_bool_1", "ferry_parse_bool_3":
		return 0, 0
	case overloadXref2, overloadXref3:
		return 0, unbounded
	}
	switch {
	case strings.HasPrefix(overloadID, "ferry_concat"):
		return sum(args), sum(args)
	case strings.HasPrefix(overloadID, "ferry_coalesce"):
		var m uint64
		for _, a := range args {
			m = max(m, a)
		}
		return m, m
	}
	return unbounded, unbounded
}

// staticTextSize bounds the text size of an argument: a string's size, a
// list of string constants, or cols. Other lists are unbounded.
func staticTextSize(n checker.AstNode) uint64 {
	switch n.Type().Kind() {
	case types.StringKind:
		if size := n.ComputedSize(); size != nil {
			return size.Max
		}
		return unbounded
	case types.ListKind:
	default:
		return 0 // numbers and bools have no text size, as in textSize
	}
	if path := n.Path(); len(path) == 1 && path[0] == varCols {
		return boundedColumns * (1 + boundedCellBytes)
	}
	if n.Expr().Kind() == ast.ListKind {
		var total uint64
		for _, el := range n.Expr().AsList().Elements() {
			s, ok := literalString(el)
			if !ok {
				return unbounded
			}
			total += 1 + uint64(len(s))
		}
		return total
	}
	return unbounded
}

func ceilTenth(n uint64) uint64 {
	if n == unbounded {
		return unbounded
	}
	return (n + 9) / 10
}

// add, mul and sum saturate at unbounded.
func add(a, b uint64) uint64 {
	if a > unbounded-b {
		return unbounded
	}
	return a + b
}

func mul(a, b uint64) uint64 {
	if a != 0 && b > unbounded/a {
		return unbounded
	}
	return a * b
}

func sum(xs []uint64) uint64 {
	var s uint64
	for _, x := range xs {
		s = add(s, x)
	}
	return s
}
