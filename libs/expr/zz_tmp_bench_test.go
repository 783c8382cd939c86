package expr

import "testing"

func BenchmarkTmpConcat(b *testing.B) {
	p, err := Compile(`concat(trim(row.First), " ", upper(trim(row.Last)))`, Options{})
	if err != nil {
		b.Fatal(err)
	}
	in := &Input{Header: []string{"ID", "First", "Last"}, Record: []string{"1", " Ada ", " Lovelace "}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Eval(in); err != nil {
			b.Fatal(err)
		}
	}
}
