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

// run compiles src and evaluates it on in. It checks that the untracked
// fast path, when the program has one, and the cost-tracked path agree.
func run(tb testing.TB, src string, opts Options, in *Input) (any, error) {
	tb.Helper()
	p, err := Compile(src, opts)
	require.NoError(tb, err, src)
	got, err := p.Eval(in)
	if p.fast != nil {
		tracked := *p
		tracked.fast = nil
		got2, err2 := tracked.Eval(in)
		require.Equal(tb, got, got2, "fast and tracked results differ for %s", src)
		require.Equal(tb, err, err2, "fast and tracked errors differ for %s", src)
	}
	return got, err
}
