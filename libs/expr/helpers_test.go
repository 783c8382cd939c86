package expr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// mapLookup is a Lookup over nested maps: table, external, internal.
type mapLookup map[string]map[string]string

func (m mapLookup) Lookup(table, external string) (string, bool) {
	v, ok := m[table][external]
	return v, ok
}

// testInput returns a row of a small contacts file.
func testInput() *Input {
	return &Input{
		Header: []string{"Name", "Email", "Born", "Amount", "Active", "Country", "Notes", "Name"},
		Record: []string{"  Ada Lovelace ", "ADA@Example.com", "10.12.1815", "1.234,50", "Ja", "GB", "", "second"},
		Value:  "  Ada Lovelace ",
		Lookup: mapLookup{"countries": {"GB": "United Kingdom", "DE": "Germany"}},
	}
}

// run compiles src and evaluates it on in. It checks that the paths the
// program can take agree: native or untracked CEL, and cost-tracked CEL.
func run(tb testing.TB, src string, opts Options, in *Input) (any, error) {
	tb.Helper()
	p, err := Compile(src, opts)
	require.NoError(tb, err, src)
	got, err := p.Eval(in)
	if p.untracked() {
		got2, err2 := p.tracked().Eval(in)
		require.Equal(tb, got, got2, "%s and tracked results differ for %s", p.engine(), src)
		require.Equal(tb, err, err2, "%s and tracked errors differ for %s", p.engine(), src)
	}
	if p.native != nil {
		c, cerr := compile(src, opts, false)
		require.NoError(tb, cerr, src)
		require.Equal(tb, "cel", c.engine())
		got2, err2 := c.Eval(in)
		require.Equal(tb, got, got2, "native and CEL results differ for %s", src)
		require.Equal(tb, err, err2, "native and CEL errors differ for %s", src)
	}
	return got, err
}

// engine names the path Eval takes for rows within the bounds of the
// static cost estimate: "native", "cel" (CEL without cost tracking) or
// "cel-tracked".
func (p *Program) engine() string {
	switch {
	case p.native != nil:
		return "native"
	case p.fast != nil:
		return "cel"
	}
	return "cel-tracked"
}

// untracked reports whether rows within the bounds run without cost
// tracking, natively or on CEL.
func (p *Program) untracked() bool { return p.engine() != "cel-tracked" }

// tracked returns the program with cost tracking for every row.
func (p *Program) tracked() *Program {
	t := *p
	t.native, t.fast = nil, nil
	return &t
}
