// Package telemetry sets up Ferry's OpenTelemetry: a tracer provider and a
// meter provider configured by the standard OTEL_* environment variables,
// W3C trace-context and baggage propagation, the metrics every service
// records (exported over OTLP when configured and always on the process's
// Prometheus registry), and a slog handler that stamps trace, span, tenant
// and run ids on every log line of a run.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName is service.name when OTEL_SERVICE_NAME does not say.
const DefaultServiceName = "ferry"

// ScopeName names the instrumentation scope of Ferry's own spans and
// instruments.
const ScopeName = "github.com/ferrydata/ferry"

// Options are what the caller injects; the rest comes from OTEL_*.
type Options struct {
	// Registerer receives the Prometheus exporter of the metrics, so that
	// they appear on /metrics; nil leaves them to OTLP alone.
	Registerer prometheus.Registerer
	// SpanProcessors are added to the tracer provider, for example a
	// SimpleSpanProcessor over tracetest.InMemoryExporter in tests.
	SpanProcessors []sdktrace.SpanProcessor
	// MetricReaders are added to the meter provider, for example a
	// sdkmetric.ManualReader in tests.
	MetricReaders []sdkmetric.Reader
	// Getenv reads the variables that decide whether to export; nil is
	// os.Getenv. (The exporters themselves read the process environment.)
	Getenv func(string) string
}

// Telemetry holds a process's providers.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator

	exporting bool
	shutdown  []func(context.Context) error
}

// Setup builds the providers. Nothing is exported over the network unless
// the OTEL_* variables ask for it: spans only when OTEL_TRACES_EXPORTER names
// an exporter or an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), metrics likewise with
// OTEL_METRICS_EXPORTER and OTEL_EXPORTER_OTLP_METRICS_ENDPOINT. With
// OTEL_SDK_DISABLED=true every signal is a no-op. The caller must call
// Shutdown, which flushes what is buffered.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	t := &Telemetry{Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		t.TracerProvider, t.MeterProvider = tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()
		return t, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", DefaultServiceName)),
		resource.WithTelemetrySDK(),
		// Later detectors win: OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME.
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}

	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exporterWanted(getenv, "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, fmt.Errorf("trace exporter: %w", err)
		}
		if !autoexport.IsNoneSpanExporter(exp) {
			tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
			t.exporting = true
		}
	}
	for _, p := range opts.SpanProcessors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(p))
		t.exporting = true
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	t.TracerProvider = tp
	t.shutdown = append(t.shutdown, tp.Shutdown)

	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithView(views()...)}
	if opts.Registerer != nil {
		prom, err := promexporter.New(
			promexporter.WithRegisterer(opts.Registerer),
			// ferry.chunk.duration (unit s) becomes ferry_chunk_duration_seconds,
			// the counter ferry.rows becomes ferry_rows_total.
			promexporter.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
			promexporter.WithoutScopeInfo(),
			promexporter.WithoutTargetInfo(),
		)
		if err != nil {
			_ = tp.Shutdown(ctx)
			return nil, fmt.Errorf("prometheus exporter: %w", err)
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(prom))
	}
	if v := strings.TrimSpace(getenv("OTEL_METRICS_EXPORTER")); v != "prometheus" &&
		exporterWanted(getenv, "OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
		r, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			_ = tp.Shutdown(ctx)
			return nil, fmt.Errorf("metric exporter: %w", err)
		}
		if !autoexport.IsNoneMetricReader(r) {
			mpOpts = append(mpOpts, sdkmetric.WithReader(r))
		}
	}
	for _, r := range opts.MetricReaders {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)
	t.MeterProvider = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)
	return t, nil
}

// exporterWanted reports whether the variables configure an exporter of a
// signal: its *_EXPORTER names one other than none, or an OTLP endpoint is
// set (autoexport's default exporter is OTLP).
func exporterWanted(getenv func(string) string, exporterVar, endpointVar string) bool {
	if v := strings.TrimSpace(getenv(exporterVar)); v != "" {
		return v != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv(endpointVar) != ""
}

// Install makes t the process's providers: the OpenTelemetry globals (which
// libraries such as the NATS worker use) and the instruments of this
// package.
func (t *Telemetry) Install() error {
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetMeterProvider(t.MeterProvider)
	otel.SetTextMapPropagator(t.Propagator)
	ins, err := newInstruments(t.MeterProvider.Meter(ScopeName))
	if err != nil {
		return err
	}
	current.Store(ins)
	return nil
}

// ExportsSpans reports whether spans go anywhere: an exporter the OTEL_*
// variables configure, or an injected span processor.
func (t *Telemetry) ExportsSpans() bool { return t.exporting }

// Tracer returns Ferry's tracer of t.
func (t *Telemetry) Tracer() trace.Tracer { return t.TracerProvider.Tracer(ScopeName) }

// Shutdown flushes and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// Tracer returns Ferry's tracer from the installed provider.
func Tracer() trace.Tracer { return otel.GetTracerProvider().Tracer(ScopeName) }
