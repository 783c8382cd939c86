package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ferrydata/ferry/libs/telemetry"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLogHandlerAddsTraceAndRun(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{SpanProcessors: []sdktrace.SpanProcessor{rec}, Getenv: env(nil)})
	require.NoError(t, err)
	defer tel.Shutdown(context.Background())

	var buf bytes.Buffer
	log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, nil)))
	ctx, span := tel.Tracer().Start(context.Background(), "work")
	ctx = telemetry.WithRun(ctx, "t1", "r1")
	lines := func() []map[string]any {
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &m), l)
			out = append(out, m)
		}
		buf.Reset()
		return out
	}

	log.InfoContext(ctx, "chunk applied", "rows", 3)
	l := lines()[0]
	require.Equal(t, span.SpanContext().TraceID().String(), l["trace_id"])
	require.Equal(t, span.SpanContext().SpanID().String(), l["span_id"])
	require.Equal(t, "t1", l["tenant"])
	require.Equal(t, "r1", l["run"])

	// A line that names the run already does not get it twice.
	log.With("tenant", "t1").InfoContext(ctx, "a", "run", "r1")
	raw := buf.String()
	require.Equal(t, 1, strings.Count(raw, `"tenant"`), raw)
	require.Equal(t, 1, strings.Count(raw, `"run"`), raw)
	buf.Reset()

	// Without a span or a run there is nothing to add.
	log.Info("plain")
	l = lines()[0]
	require.NotContains(t, l, "trace_id")
	require.NotContains(t, l, "tenant")

	// WithRun keeps what it does not replace.
	tenant, run := telemetry.RunFrom(telemetry.WithRun(ctx, "", "r2"))
	require.Equal(t, "t1", tenant)
	require.Equal(t, "r2", run)
	span.End()
}

func TestSetupExportsNothingUnlessConfigured(t *testing.T) {
	// No OTEL_* variables: spans are still made (log lines carry their ids)
	// but no exporter is built, so nothing dials out.
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{Getenv: env(nil)})
	require.NoError(t, err)
	_, span := tel.Tracer().Start(context.Background(), "x")
	require.True(t, span.SpanContext().IsValid())
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.False(t, tel.ExportsSpans())
	require.NoError(t, tel.Shutdown(ctx), "no exporter to flush")

	// OTEL_SDK_DISABLED turns every signal off.
	tel, err = telemetry.Setup(context.Background(), telemetry.Options{Getenv: env(map[string]string{"OTEL_SDK_DISABLED": "true"})})
	require.NoError(t, err)
	_, span = tel.Tracer().Start(context.Background(), "x")
	require.False(t, span.SpanContext().IsValid())

	// An explicit exporter is honoured (console, so nothing dials out).
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	tel, err = telemetry.Setup(context.Background(), telemetry.Options{})
	require.NoError(t, err)
	require.True(t, tel.ExportsSpans())
	require.NoError(t, tel.Shutdown(context.Background()))
}

// TestMetricNames checks the names and labels the Prometheus exporter gives
// the instruments, as docs/observability.md lists them.
func TestMetricNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{Registerer: reg, Getenv: env(map[string]string{"OTEL_SERVICE_NAME": "ferry-test"})})
	require.NoError(t, err)
	defer tel.Shutdown(context.Background())
	require.NoError(t, tel.Install())
	ctx := context.Background()
	telemetry.Rows(ctx, telemetry.StageTransform, "read", 10)
	telemetry.Rows(ctx, telemetry.StageTransform, "rejected", 2)
	telemetry.ChunkDone(ctx, "transform", "ok", 30*time.Millisecond)
	telemetry.DeliveryAttempt(ctx, "sftp", "succeeded", "")
	telemetry.DeliveryAttempt(ctx, "sftp", "retry", "transient")
	telemetry.RunEnded(ctx, "users", "import", "succeeded", 3*time.Second)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ferry_rows_total Rows handled by a stage of a run, by stage and outcome (read, valid, rejected, inserted, updated, unchanged, deleted, written).
# TYPE ferry_rows_total counter
ferry_rows_total{outcome="read",stage="transform"} 10
ferry_rows_total{outcome="rejected",stage="transform"} 2
# HELP ferry_delivery_attempts_total Attempts to deliver an export file, by destination kind and outcome (succeeded, retry, failed).
# TYPE ferry_delivery_attempts_total counter
ferry_delivery_attempts_total{kind="sftp",outcome="succeeded"} 1
ferry_delivery_attempts_total{kind="sftp",outcome="retry"} 1
# HELP ferry_delivery_failures_total Failed delivery attempts, by destination kind and class (transient, permanent).
# TYPE ferry_delivery_failures_total counter
ferry_delivery_failures_total{class="transient",kind="sftp"} 1
`), "ferry_rows_total", "ferry_delivery_attempts_total", "ferry_delivery_failures_total"))

	mfs, err := reg.Gather()
	require.NoError(t, err)
	hist := map[string]string{}
	for _, mf := range mfs {
		if mf.GetType().String() == "HISTOGRAM" {
			var labels []string
			for _, l := range mf.GetMetric()[0].GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			hist[mf.GetName()] = strings.Join(labels, ",")
		}
	}
	require.Equal(t, "outcome=ok,stage=transform", hist["ferry_chunk_duration_seconds"])
	require.Equal(t, "kind=import,profile=users,status=succeeded", hist["ferry_run_duration_seconds"])
}

// TestOTLPExportWhenConfigured points OTEL_EXPORTER_OTLP_ENDPOINT at a local
// receiver: Shutdown flushes the spans and metrics to it, over OTLP/HTTP.
func TestOTLPExportWhenConfigured(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got[r.URL.Path]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer recv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_SERVICE_NAME", "ferry-otlp-test")

	tel, err := telemetry.Setup(context.Background(), telemetry.Options{})
	require.NoError(t, err)
	require.True(t, tel.ExportsSpans())
	require.NoError(t, tel.Install())
	_, span := tel.Tracer().Start(context.Background(), "work")
	span.End()
	telemetry.Rows(context.Background(), telemetry.StageIngest, "read", 5)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, tel.Shutdown(ctx))
	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, got["/v1/traces"], "spans flushed on shutdown: %v", got)
	require.Positive(t, got["/v1/metrics"], "metrics flushed on shutdown: %v", got)
}
