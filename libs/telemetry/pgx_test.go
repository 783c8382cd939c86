package telemetry_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ferrydata/ferry/libs/store"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/libs/testkit"
)

// TestPgxTracer checks that statements are traced only inside a trace, one
// span per statement: a COPY of many rows is one span.
func TestPgxTracer(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{SpanProcessors: []sdktrace.SpanProcessor{rec}, Getenv: env(nil)})
	require.NoError(t, err)
	defer tel.Shutdown(context.Background())
	ctx := context.Background()
	pool, err := store.Open(ctx, testkit.Database(t, true), testkit.Log(t), store.WithTracerProvider(tel.TracerProvider))
	require.NoError(t, err)
	defer pool.Close()

	_, err = pool.Exec(ctx, `CREATE TABLE t (n int)`)
	require.NoError(t, err)
	require.Empty(t, rec.Ended(), "no trace, no spans (polling stays quiet)")

	tctx, root := tel.Tracer().Start(ctx, "apply")
	rows := make([][]any, 50_000)
	for i := range rows {
		rows[i] = []any{i}
	}
	n, err := pool.CopyFrom(tctx, pgx.Identifier{"t"}, []string{"n"}, pgx.CopyFromRows(rows))
	require.NoError(t, err)
	require.EqualValues(t, len(rows), n)
	var sum int64
	require.NoError(t, pool.QueryRow(tctx, `SELECT sum(n) FROM t`).Scan(&sum))
	_, err = pool.Exec(tctx, `SELECT * FROM missing`)
	require.Error(t, err)
	root.End()

	var names []string
	for _, s := range rec.Ended() {
		if s.Name() == "apply" {
			continue
		}
		names = append(names, s.Name())
		require.Equal(t, root.SpanContext().TraceID(), s.SpanContext().TraceID())
		if s.Name() == "db COPY" {
			for _, a := range s.Attributes() {
				if a.Key == "db.response.returned_rows" {
					require.EqualValues(t, len(rows), a.Value.AsInt64())
				}
			}
		}
	}
	require.Equal(t, []string{"db COPY", "db SELECT", "db SELECT"}, names)
	require.Equal(t, "Error", rec.Ended()[len(rec.Ended())-2].Status().Code.String(), "the failed statement's span")
}
