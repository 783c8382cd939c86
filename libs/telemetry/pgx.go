package telemetry

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// PgxTracer traces pgx queries, COPYs and batches: one client span per
// statement (a COPY of a million rows is one span), and only inside a
// trace, so that polling loops do not start a trace per query. Set it as
// pgx.ConnConfig.Tracer.
type PgxTracer struct {
	tracer trace.Tracer
}

// NewPgxTracer returns a tracer that starts spans from tp.
func NewPgxTracer(tp trace.TracerProvider) *PgxTracer {
	return &PgxTracer{tracer: tp.Tracer(ScopeName + "/store")}
}

var (
	_ pgx.QueryTracer    = (*PgxTracer)(nil)
	_ pgx.CopyFromTracer = (*PgxTracer)(nil)
	_ pgx.BatchTracer    = (*PgxTracer)(nil)
)

type pgxSpanKey struct{}

// maxStatement bounds the SQL text recorded on a span.
const maxStatement = 2000

func (t *PgxTracer) start(ctx context.Context, op, sql string) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	attrs := []attribute.KeyValue{
		attribute.String("db.system.name", "postgresql"),
		attribute.String("db.operation.name", op),
	}
	if sql != "" {
		if len(sql) > maxStatement {
			sql = sql[:maxStatement]
		}
		attrs = append(attrs, attribute.String("db.query.text", sql))
	}
	ctx, span := t.tracer.Start(ctx, "db "+op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return context.WithValue(ctx, pgxSpanKey{}, span)
}

func end(ctx context.Context, err error, rows int64) {
	span, ok := ctx.Value(pgxSpanKey{}).(trace.Span)
	if !ok {
		return
	}
	if rows >= 0 {
		span.SetAttributes(attribute.Int64("db.response.returned_rows", rows))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// operation is the first keyword of a statement: SELECT, INSERT, WITH…
func operation(sql string) string {
	sql = strings.TrimSpace(sql)
	for strings.HasPrefix(sql, "--") {
		_, rest, ok := strings.Cut(sql, "\n")
		if !ok {
			return "QUERY"
		}
		sql = strings.TrimSpace(rest)
	}
	if i := strings.IndexAny(sql, " \t\r\n("); i > 0 {
		sql = sql[:i]
	}
	if sql == "" || len(sql) > 16 {
		return "QUERY"
	}
	return strings.ToUpper(sql)
}

// TraceQueryStart implements pgx.QueryTracer.
func (t *PgxTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return t.start(ctx, operation(data.SQL), data.SQL)
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t *PgxTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	end(ctx, data.Err, data.CommandTag.RowsAffected())
}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (t *PgxTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	return t.start(ctx, "COPY", "COPY "+data.TableName.Sanitize()+" FROM STDIN")
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (t *PgxTracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromEndData) {
	end(ctx, data.Err, data.CommandTag.RowsAffected())
}

// TraceBatchStart implements pgx.BatchTracer.
func (t *PgxTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	ctx = t.start(ctx, "BATCH", "")
	if span, ok := ctx.Value(pgxSpanKey{}).(trace.Span); ok && data.Batch != nil {
		span.SetAttributes(attribute.Int("db.operation.batch.size", data.Batch.Len()))
	}
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer.
func (t *PgxTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (t *PgxTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	end(ctx, data.Err, -1)
}
