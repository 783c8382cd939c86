package expr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func benchmarkEval(b *testing.B, tracked bool) {
	p, err := Compile(`upper(trim(row["Name"]))`, Options{})
	require.NoError(b, err)
	if tracked {
		p.fast = nil
	}
	in := &Input{
		Header: []string{"ID", "Name", "Email"},
		Record: []string{"1", "  Ada Lovelace ", "ada@example.com"},
	}
	b.ReportAllocs()
	for b.Loop() {
		v, err := p.Eval(in)
		if err != nil || v != "ADA LOVELACE" {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkEval measures a typical field expression on a small row.
func BenchmarkEval(b *testing.B) { benchmarkEval(b, false) }

// BenchmarkEvalTracked measures the same expression with CEL's runtime
// cost tracking, as for rows beyond the bounds of the static estimate.
func BenchmarkEvalTracked(b *testing.B) { benchmarkEval(b, true) }
