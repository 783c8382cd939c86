package chart

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// busNames reads the string constants of libs/bus/subjects.go, where every
// stream and durable consumer name is declared, so the test follows renames.
func busNames(t testing.TB) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", "libs", "bus", "subjects.go"), nil, 0)
	require.NoError(t, err)
	names := map[string]string{}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					names[n.Name] = v
				}
			}
		}
	}
	return names
}

// workerConsumers is, for each worker service, the stream and durable
// consumer of every JetStream consumer it runs (constant names of
// libs/bus; the services declare them with bus.EnsureConsumer).
var workerConsumers = map[string][][2]string{
	"ingest":    {{"StreamCommands", "ConsumerIngestImport"}},
	"transform": {{"StreamChunks", "ConsumerTransform"}, {"StreamExport", "ConsumerExportFormat"}},
	"export":    {{"StreamCommands", "ConsumerExport"}},
	"delivery": {
		{"StreamRecords", "ConsumerDelivery"}, {"StreamExport", "ConsumerExportAssembly"},
		{"StreamCommands", "ConsumerDeliveryApply"}, {"StreamEvents", "ConsumerDeliveryEvents"},
	},
}

// expectedTriggers resolves workerConsumers to "STREAM/consumer" names.
func expectedTriggers(t testing.TB) map[string][]string {
	t.Helper()
	names := busNames(t)
	out := map[string][]string{}
	for svc, pairs := range workerConsumers {
		for _, p := range pairs {
			stream, ok := names[p[0]]
			require.True(t, ok, "libs/bus declares no %s", p[0])
			consumer, ok := names[p[1]]
			require.True(t, ok, "libs/bus declares no %s", p[1])
			out[svc] = append(out[svc], stream+"/"+consumer)
		}
	}
	return out
}
