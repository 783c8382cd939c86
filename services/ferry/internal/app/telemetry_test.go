package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/libs/testkit"
	"github.com/ferrydata/ferry/services/ferry/internal/app"
	"github.com/ferrydata/ferry/services/ferry/internal/cli"
)

const resources = `apiVersion: ferry.dev/v1
kind: Dataset
metadata:
  name: people
spec:
  fields:
    - {name: id, type: string, required: true}
    - {name: name, type: string, required: true}
    - {name: grade, type: integer}
  key: [id]
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata:
  name: people-csv
spec:
  dataset: people
  mappings:
    - {field: id, column: "ID"}
    - {field: name, column: "Name"}
    - {field: grade, column: "Grade"}
`

var keyRE = regexp.MustCompile(`(?m)^\s+(fy_\S+)$`)

// server runs every service in this process with an in-memory span
// exporter and returns the exporter and the HTTP address.
func server(t *testing.T, logs io.Writer, args ...string) (exp *tracetest.InMemoryExporter, grpcAddr, httpAddr, key, dbURL string) {
	t.Helper()
	var cfg app.Config
	fs := flag.NewFlagSet("ferry server", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	dbURL = testkit.Database(t, false)
	require.NoError(t, fs.Parse(append([]string{"--database-url", dbURL, "--data-dir", t.TempDir(),
		"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...)))
	require.NoError(t, cfg.Validate())
	out := &testkit.Buffer{}
	// The logger of `ferry server --log-format json --log-level debug`.
	log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	a := app.New(cfg, log, out)
	exp = tracetest.NewInMemoryExporter()
	a.SetTelemetry(telemetry.Options{SpanProcessors: []sdktrace.SpanProcessor{sdktrace.NewSimpleSpanProcessor(exp)}})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(g, h string) { ready <- [2]string{g, h} }) }()
	select {
	case addrs := <-ready:
		grpcAddr, httpAddr = addrs[0], addrs[1]
	case err := <-done:
		t.Fatalf("ferry stopped before serving: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("ferry did not serve within 60s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(60 * time.Second):
			t.Error("ferry did not stop within 60s")
		}
	})
	m := keyRE.FindStringSubmatch(out.String())
	require.NotNil(t, m, "bootstrap key printed: %q", out.String())
	return exp, grpcAddr, httpAddr, m[1], dbURL
}

func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	require.Zero(t, code, "ferry %v: %s %s", args, stdout.String(), stderr.String())
	return stdout.String()
}

func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestImportTraceAndMetrics imports a CSV file of several chunks through the
// gRPC API (the CLI) and checks that the run is one trace: the gRPC server
// span of the upload, ingest, a span per chunk in transform and in delivery,
// the apply and the progress folding, and that /metrics shows the rows of
// each stage, chunk latencies, the run's duration and the consumers' counts.
func TestImportTraceAndMetrics(t *testing.T) {
	secretKey, err := secrets.GenerateSpec("k1")
	require.NoError(t, err)
	t.Setenv(secrets.EnvKey, secretKey)
	logs := &testkit.Buffer{}
	exp, grpcAddr, httpAddr, key, dbURL := server(t, logs, "--ingest-chunk-size", "4096", "--delivery-poll", "200ms")
	t.Setenv("FERRY_ADDR", grpcAddr)
	t.Setenv("FERRY_API_KEY", key)
	dir := t.TempDir()
	resPath := filepath.Join(dir, "resources.yaml")
	require.NoError(t, os.WriteFile(resPath, []byte(resources), 0o600))
	runCLI(t, "apply", "-f", resPath)

	// 600 rows of about 30 bytes: several 4 KiB chunks; every 50th row has a
	// grade that is not an integer and is rejected.
	const rows, rejected = 600, 12
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	require.NoError(t, w.Write([]string{"ID", "Name", "Grade"}))
	for i := range rows {
		grade := fmt.Sprint(i%12 + 1)
		if i%50 == 0 {
			grade = "twelve"
		}
		require.NoError(t, w.Write([]string{fmt.Sprintf("%06d", i), fmt.Sprintf("Person number %d", i), grade}))
	}
	w.Flush()
	csvPath := filepath.Join(dir, "people.csv")
	require.NoError(t, os.WriteFile(csvPath, buf.Bytes(), 0o600))
	exp.Reset()

	var stdout, stderr bytes.Buffer
	cli.Run(context.Background(), []string{"import", "people-csv", csvPath, "--wait"}, strings.NewReader(""), &stdout, &stderr)
	runID := strings.TrimSpace(strings.SplitN(stdout.String(), "\n", 2)[0])
	require.Regexp(t, `^[0-9a-f-]{36}$`, runID, "stdout %q stderr %q", stdout.String(), stderr.String())
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
	got, err := ferryv1.NewRunServiceClient(conn).GetRun(ctx, &ferryv1.GetRunRequest{Id: runID})
	require.NoError(t, err)
	run := got.GetRun()
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS, run.GetStatus(), run.GetError())
	chunks := run.GetChunksTotal()
	require.GreaterOrEqual(t, chunks, int64(3), "the file flowed as several chunks")

	// One trace: every span that names the run, and the upload's server span.
	var runSpans []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		runSpans = runSpans[:0]
		applied := false
		for _, s := range exp.GetSpans().Snapshots() {
			if v, ok := attr(s, "ferry.run"); ok && v.AsString() == runID {
				runSpans = append(runSpans, s)
				if strings.HasPrefix(s.Name(), "delivery-apply ") {
					applied = true
				}
			}
		}
		return applied
	}, 30*time.Second, 100*time.Millisecond)
	traceID := runSpans[0].SpanContext().TraceID()
	perStage := map[string]map[int64]bool{}
	for _, s := range runSpans {
		require.Equal(t, traceID, s.SpanContext().TraceID(), "span %q is in another trace", s.Name())
		if s.SpanKind() != trace.SpanKindConsumer {
			continue
		}
		stage := strings.Fields(s.Name())[0]
		if perStage[stage] == nil {
			perStage[stage] = map[int64]bool{}
		}
		if seq, ok := attr(s, "ferry.chunk.seq"); ok {
			perStage[stage][seq.AsInt64()] = true
		}
	}
	for _, stage := range []string{"ingest-import", "transform", "delivery", "delivery-apply", "profile-progress"} {
		require.Contains(t, perStage, stage, "a span of stage %s in the run's trace", stage)
	}
	require.Len(t, perStage["transform"], int(chunks), "a transform span per chunk")
	require.Len(t, perStage["delivery"], int(chunks), "a delivery span per chunk")

	var upload, db bool
	for _, s := range exp.GetSpans().Snapshots() {
		if s.SpanContext().TraceID() != traceID {
			continue
		}
		if s.SpanKind() == trace.SpanKindServer && strings.Contains(s.Name(), "Upload") {
			upload = true
		}
		if strings.HasPrefix(s.Name(), "db ") {
			db = true
		}
	}
	require.True(t, upload, "the gRPC upload's server span is in the run's trace")

	// The run keeps its trace context, for the stages that PostgreSQL reaches.
	pg, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	defer pg.Close(context.Background())
	var stored string
	require.NoError(t, pg.QueryRow(context.Background(), `SELECT trace_context FROM ferry.runs WHERE id = $1`, runID).Scan(&stored))
	require.Equal(t, traceID, trace.SpanContextFromContext(telemetry.ContextWithTrace(context.Background(), stored)).TraceID(), "stored: %q", stored)
	require.True(t, db, "PostgreSQL statements are traced in the run's trace")

	// Every log line of the run names its tenant and run and joins its
	// trace: the split, each chunk staged, the apply.
	msgs := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec["run"] != runID {
			continue
		}
		msgs[rec["msg"].(string)]++
		require.Equal(t, traceID.String(), rec["trace_id"], "log line of the run without its trace: %s", line)
		require.Regexp(t, `^[0-9a-f]{16}$`, rec["span_id"], line)
		require.NotEmpty(t, rec["tenant"], line)
	}
	require.EqualValues(t, 1, msgs["file split"], "%v", msgs)
	require.EqualValues(t, chunks, msgs["chunk staged"], "%v", msgs)
	require.EqualValues(t, 1, msgs["run applied"], "%v", msgs)

	// An export run delivered to a webhook: the delivery, reached through
	// PostgreSQL rather than a message, joins the export run's trace.
	var posts atomic.Int64
	recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		posts.Add(1)
	}))
	defer recv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: recv.Certificate().Raw}))
	_, err = ferryv1.NewDestinationServiceClient(conn).ApplyDestination(ctx, &ferryv1.ApplyDestinationRequest{Name: "receiver",
		Spec: &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Webhook{Webhook: &ferryv1.WebhookDestination{
			Url: recv.URL + "/ferry", Secret: "whsec-test-0123456789", CaCert: ca}}, Internal: true}})
	require.NoError(t, err)
	expSvc := ferryv1.NewExportServiceClient(conn)
	_, err = expSvc.ApplyExportProfile(ctx, &ferryv1.ApplyExportProfileRequest{Name: "people-out",
		Spec: &ferryv1.ExportProfileSpec{Dataset: "people", FileName: "people.csv", Destinations: []string{"receiver"}}})
	require.NoError(t, err)
	started, err := expSvc.StartExport(ctx, &ferryv1.StartExportRequest{Name: "people-out"})
	require.NoError(t, err)
	exportID := started.GetRun().GetId()
	require.Eventually(t, func() bool {
		got, err := ferryv1.NewRunServiceClient(conn).GetRun(ctx, &ferryv1.GetRunRequest{Id: exportID})
		require.NoError(t, err)
		return got.GetRun().GetStatus() == ferryv1.RunStatus_RUN_STATUS_SUCCEEDED
	}, time.Minute, 100*time.Millisecond)
	require.EqualValues(t, 1, posts.Load())
	var exportTrace trace.TraceID
	stages := map[string]bool{}
	require.Eventually(t, func() bool {
		exportTrace, stages = trace.TraceID{}, map[string]bool{}
		for _, s := range exp.GetSpans().Snapshots() {
			if s.SpanKind() == trace.SpanKindServer && strings.HasSuffix(s.Name(), "/StartExport") {
				exportTrace = s.SpanContext().TraceID()
			}
		}
		for _, s := range exp.GetSpans().Snapshots() {
			if v, ok := attr(s, "ferry.run"); ok && v.AsString() == exportID {
				require.Equal(t, exportTrace, s.SpanContext().TraceID(), "span %q of the export run is in another trace", s.Name())
				stages[strings.Fields(s.Name())[0]] = true
			}
		}
		return stages["deliver"] && stages["profile-progress"]
	}, 30*time.Second, 100*time.Millisecond, "stages seen: %v", stages)
	for _, stage := range []string{"export", "transform-export", "delivery-export", "deliver"} {
		require.True(t, stages[stage], "a span of %s in the export run's trace (%v)", stage, stages)
	}

	// The metrics of both runs on /metrics.
	var fams map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		fams = scrape(t, httpAddr)
		return value(fams, "ferry_run_duration_seconds", map[string]string{"profile": "people-out", "kind": "export"}) == 1
	}, 30*time.Second, 200*time.Millisecond)
	rowsOf := func(stage, outcome string) float64 {
		return value(fams, "ferry_rows_total", map[string]string{"stage": stage, "outcome": outcome})
	}
	require.EqualValues(t, rows, rowsOf("ingest", "read"))
	require.EqualValues(t, rows, rowsOf("transform", "read"))
	require.EqualValues(t, rows-rejected, rowsOf("transform", "valid"))
	require.EqualValues(t, rejected, rowsOf("transform", "rejected"))
	require.EqualValues(t, rows-rejected, rowsOf("delivery", "staged"))
	require.EqualValues(t, rows-rejected, rowsOf("delivery", "inserted"))
	require.EqualValues(t, chunks, value(fams, "ferry_chunk_duration_seconds", map[string]string{"stage": "transform", "outcome": "ok"}))
	require.EqualValues(t, chunks, value(fams, "ferry_chunk_duration_seconds", map[string]string{"stage": "delivery", "outcome": "ok"}))
	require.EqualValues(t, 1, value(fams, "ferry_run_duration_seconds", map[string]string{"profile": "people-csv", "kind": "import", "status": "succeeded_with_errors"}))
	require.EqualValues(t, 0, value(fams, "ferry_consumer_pending", map[string]string{"stream": "FERRY_CHUNKS", "consumer": "transform"}))
	require.EqualValues(t, 0, value(fams, "ferry_consumer_pending", map[string]string{"stream": "FERRY_EVENTS", "consumer": "delivery-events"}),
		"the change-event consumer, which is not a bus.Worker, is observed too")
	require.EqualValues(t, 0, value(fams, "ferry_consumer_ack_pending", map[string]string{"stream": "FERRY_CHUNKS", "consumer": "transform"}))
	require.EqualValues(t, rows-rejected, rowsOf("export", "read"))
	require.EqualValues(t, 1, value(fams, "ferry_run_duration_seconds", map[string]string{"profile": "people-out", "kind": "export", "status": "succeeded"}))
	require.EqualValues(t, 1, value(fams, "ferry_delivery_attempts_total", map[string]string{"kind": "webhook", "outcome": "succeeded"}))
	require.EqualValues(t, -1, value(fams, "ferry_delivery_failures_total", nil), "no delivery failed")
	require.Contains(t, fams, "ferry_grpc_calls_total", "the existing collectors stay")
}

// scrape reads /metrics.
func scrape(t *testing.T, httpAddr string) map[string]*dto.MetricFamily {
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	return fams
}

// value returns the sum over the series of name whose labels include want:
// a counter's or gauge's value, a histogram's count; -1 when none matches.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf, ok := fams[name]
	if !ok {
		return -1
	}
	sum, found := 0.0, false
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	if !found {
		return -1
	}
	return sum
}
