package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys added by LogHandler.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
	LogTenant  = "tenant"
	LogRun     = "run"
)

type runKey struct{}

type runInfo struct{ tenant, run string }

// WithRun returns ctx marked as work of a tenant's run: LogHandler adds
// tenant and run to every line logged with it, and the NATS publisher
// carries them to the next stage. Empty values keep what ctx had.
func WithRun(ctx context.Context, tenant, run string) context.Context {
	old, _ := ctx.Value(runKey{}).(runInfo)
	if tenant == "" {
		tenant = old.tenant
	}
	if run == "" {
		run = old.run
	}
	if tenant == "" && run == "" {
		return ctx
	}
	return context.WithValue(ctx, runKey{}, runInfo{tenant: tenant, run: run})
}

// RunFrom returns the tenant and run WithRun put into ctx, or empty strings.
func RunFrom(ctx context.Context) (tenant, run string) {
	if ctx == nil {
		return "", ""
	}
	ri, _ := ctx.Value(runKey{}).(runInfo)
	return ri.tenant, ri.run
}

// LogHandler wraps a slog.Handler: every record logged with a context gets
// trace_id and span_id of the context's span, and tenant and run of
// WithRun, unless the line already names them.
type LogHandler struct {
	inner slog.Handler
	// tenant and run say the logger already carries these attributes.
	tenant, run bool
}

// NewLogHandler wraps inner.
func NewLogHandler(inner slog.Handler) *LogHandler { return &LogHandler{inner: inner} }

// Enabled implements slog.Handler.
func (h *LogHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.inner.Handle(ctx, r)
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
	}
	tenant, run := RunFrom(ctx)
	if (tenant != "" && !h.tenant) || (run != "" && !h.run) {
		hasTenant, hasRun := h.tenant, h.run
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case LogTenant:
				hasTenant = true
			case LogRun:
				hasRun = true
			}
			return true
		})
		if tenant != "" && !hasTenant {
			r.AddAttrs(slog.String(LogTenant, tenant))
		}
		if run != "" && !hasRun {
			r.AddAttrs(slog.String(LogRun, run))
		}
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &LogHandler{inner: h.inner.WithAttrs(attrs), tenant: h.tenant, run: h.run}
	for _, a := range attrs {
		switch a.Key {
		case LogTenant:
			n.tenant = true
		case LogRun:
			n.run = true
		}
	}
	return n
}

// WithGroup implements slog.Handler.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{inner: h.inner.WithGroup(name), tenant: h.tenant, run: h.run}
}
