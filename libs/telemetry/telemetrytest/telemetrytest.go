// Package telemetrytest installs Ferry's telemetry for a test: spans go to a
// recorder the test reads, metrics to the registry it gives, and nothing
// comes from the environment.
package telemetrytest

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ferrydata/ferry/libs/telemetry"
)

// Install sets up telemetry with a span recorder and reg (nil: a registry of
// its own), installs it as the process's providers, and shuts it down when
// the test ends.
func Install(tb testing.TB, reg prometheus.Registerer) (*tracetest.SpanRecorder, *telemetry.Telemetry) {
	tb.Helper()
	rec := tracetest.NewSpanRecorder()
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{Registerer: reg, SpanProcessors: []sdktrace.SpanProcessor{rec},
		Getenv: func(string) string { return "" }})
	if err != nil {
		tb.Fatal(err)
	}
	if err := tel.Install(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return rec, tel
}
