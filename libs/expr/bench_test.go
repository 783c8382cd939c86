package expr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// benchmarkEval measures src on a small row, on the given path: "native",
// "cel" or "cel-tracked".
func benchmarkEval(b *testing.B, src, engine string, in *Input, want string) {
	p, err := compile(src, Options{}, engine == "native")
	require.NoError(b, err)
	if engine == "cel-tracked" {
		p = p.tracked()
	}
	require.Equal(b, engine, p.engine())
	b.ReportAllocs()
	for b.Loop() {
		v, err := p.Eval(in)
		if err != nil || v != want {
			b.Fatal(v, err)
		}
	}
}

func nameRow() *Input {
	return &Input{
		Header: []string{"ID", "Name", "Email"},
		Record: []string{"1", "  Ada Lovelace ", "ada@example.com"},
	}
}

func personRow() *Input {
	return &Input{
		Header: []string{"ID", "First", "Last", "Email"},
		Record: []string{"1", " Ada ", " Lovelace ", "ada@example.com"},
	}
}

const (
	upperTrim  = `upper(trim(row["Name"]))`
	concatName = `concat(trim(row.First), " ", upper(trim(row.Last)))`
)

// BenchmarkEval measures a typical field expression on a small row: it
// runs natively.
func BenchmarkEval(b *testing.B) {
	benchmarkEval(b, upperTrim, "native", nameRow(), "ADA LOVELACE")
}

// BenchmarkEvalCEL measures the same expression on CEL's interpreter
// without cost tracking, as expressions that cannot run natively do.
func BenchmarkEvalCEL(b *testing.B) {
	benchmarkEval(b, upperTrim, "cel", nameRow(), "ADA LOVELACE")
}

// BenchmarkEvalTracked measures the same expression with CEL's runtime
// cost tracking, as for rows beyond the bounds of the static estimate.
func BenchmarkEvalTracked(b *testing.B) {
	benchmarkEval(b, upperTrim, "cel-tracked", nameRow(), "ADA LOVELACE")
}

// BenchmarkEvalConcat measures a field expression that builds a name from
// two columns, natively.
func BenchmarkEvalConcat(b *testing.B) {
	benchmarkEval(b, concatName, "native", personRow(), "Ada LOVELACE")
}

// BenchmarkEvalConcatCEL measures the same expression on CEL.
func BenchmarkEvalConcatCEL(b *testing.B) {
	benchmarkEval(b, concatName, "cel", personRow(), "Ada LOVELACE")
}
