package telemetry

import (
	"context"
	"net/url"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// TraceContext returns the trace context of ctx (traceparent, tracestate
// and baggage) encoded as a URL query, for storing with a run; "" outside a
// trace.
func TraceContext(ctx context.Context) string {
	c := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, c)
	if len(c) == 0 {
		return ""
	}
	v := url.Values{}
	for k, val := range c {
		v.Set(k, val)
	}
	return v.Encode()
}

// ContextWithTrace returns ctx continuing the trace that TraceContext
// encoded in s; ctx unchanged when s is empty or invalid.
func ContextWithTrace(ctx context.Context, s string) context.Context {
	if s == "" {
		return ctx
	}
	v, err := url.ParseQuery(s)
	if err != nil {
		return ctx
	}
	c := propagation.MapCarrier{}
	for k := range v {
		c[k] = v.Get(k)
	}
	return otel.GetTextMapPropagator().Extract(ctx, c)
}
