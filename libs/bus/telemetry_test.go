package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/libs/telemetry/telemetrytest"
)

// syncBuffer hands each log line the worker writes to the test.
type syncBuffer struct {
	ch chan []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) { b.ch <- bytes.Clone(p); return len(p), nil }

// TestTraceCrossesJetStream publishes a chunk inside a span through a real
// embedded JetStream and checks that the worker's handler runs in a
// consumer span of the same trace, with the run's attributes, that its log
// lines carry trace, span, tenant and run, and that the chunk's duration
// and the consumer's pending counts reach the Prometheus registry.
func TestTraceCrossesJetStream(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec, tel := telemetrytest.Install(t, reg)
	require.NoError(t, bus.ObserveConsumers(tel.MeterProvider.Meter(telemetry.ScopeName)))

	js, cons := setup(t, 5*time.Second)
	ctx, root := tel.Tracer().Start(context.Background(), "upload")
	chunk := &ferryv1.Chunk{Run: &ferryv1.RunSnapshot{TenantId: "t1", RunId: "r1"}, Seq: 7}
	require.NoError(t, bus.Publish(ctx, js, bus.ChunkSubject("t1", "r1"), bus.MsgID("chunk", "r1", 7), chunk))
	root.End()

	logs := &syncBuffer{ch: make(chan []byte, 16)}
	log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(logs, nil)))
	got := make(chan trace.SpanContext, 1)
	wctx, stop := context.WithCancel(context.Background())
	w := bus.NewWorker(bus.WorkerConfig{Name: "transform", Consumer: cons, Log: log, Handler: func(ctx context.Context, msg jetstream.Msg) error {
		log.InfoContext(ctx, "chunk handled", "seq", 7)
		got <- trace.SpanContextFromContext(ctx)
		return nil
	}})
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	var sc trace.SpanContext
	select {
	case sc = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not handle the chunk")
	}
	require.Equal(t, root.SpanContext().TraceID(), sc.TraceID(), "the handler runs in the publisher's trace")

	var line map[string]any
	require.NoError(t, json.Unmarshal(<-logs.ch, &line))
	require.Equal(t, sc.TraceID().String(), line["trace_id"])
	require.Equal(t, sc.SpanID().String(), line["span_id"])
	require.Equal(t, "t1", line["tenant"])
	require.Equal(t, "r1", line["run"])

	// While the worker runs, its consumer is observed; the one message is acked.
	require.Eventually(t, func() bool {
		n, err := testutil.GatherAndCount(reg, "ferry_consumer_pending", "ferry_consumer_ack_pending")
		return err == nil && n == 2
	}, 5*time.Second, 50*time.Millisecond)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ferry_consumer_pending Messages of the stream not yet delivered to the durable consumer.
# TYPE ferry_consumer_pending gauge
ferry_consumer_pending{consumer="t",stream="FERRY_CHUNKS"} 0
`), "ferry_consumer_pending"))
	stop()
	require.NoError(t, <-done)

	var publish, consume sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindProducer:
			publish = s
		case trace.SpanKindConsumer:
			consume = s
		}
	}
	require.NotNil(t, publish, "a producer span")
	require.NotNil(t, consume, "a consumer span")
	require.Equal(t, "publish ferry.chunks", publish.Name())
	require.Equal(t, "transform ferry.chunks", consume.Name())
	require.Equal(t, root.SpanContext().SpanID(), publish.Parent().SpanID())
	require.Equal(t, publish.SpanContext().SpanID(), consume.Parent().SpanID(), "the consumer span is a child of the publish")
	attrs := map[attribute.Key]attribute.Value{}
	for _, a := range consume.Attributes() {
		attrs[a.Key] = a.Value
	}
	require.Equal(t, "nats", attrs["messaging.system"].AsString())
	require.Equal(t, bus.ChunkSubject("t1", "r1"), attrs["messaging.destination.name"].AsString())
	require.Equal(t, "t1", attrs["ferry.tenant"].AsString())
	require.Equal(t, "r1", attrs["ferry.run"].AsString())
	require.EqualValues(t, 7, attrs["ferry.chunk.seq"].AsInt64())
	require.Equal(t, "ok", attrs["ferry.outcome"].AsString())

	n, err := testutil.GatherAndCount(reg, "ferry_chunk_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 1, n, "one histogram series: stage transform, outcome ok")
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "ferry_chunk_duration_seconds" {
			continue
		}
		m := mf.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		require.Equal(t, map[string]string{"stage": "transform", "outcome": "ok"}, labels)
		require.EqualValues(t, 1, m.GetHistogram().GetSampleCount())
	}
}

// TestWorkerRecordsOutcomes checks the outcome label and span status of
// handled messages: done, retried after a transient error, terminated
// after a permanent one.
func TestWorkerRecordsOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec, _ := telemetrytest.Install(t, reg)

	js, cons := setup(t, 5*time.Second)
	for seq := range int64(3) {
		require.NoError(t, bus.Publish(context.Background(), js, bus.ChunkSubject("t1", "r1"), bus.MsgID("chunk", "r1", seq),
			&ferryv1.Chunk{Run: &ferryv1.RunSnapshot{TenantId: "t1", RunId: "r1"}, Seq: seq}))
	}
	var failedOnce atomic.Bool
	w := bus.NewWorker(bus.WorkerConfig{Name: "transform", Consumer: cons, Concurrency: 3, Log: slog.New(slog.DiscardHandler),
		Handler: func(ctx context.Context, msg jetstream.Msg) error {
			switch msg.Headers().Get(bus.HeaderSeq) {
			case "1":
				return bus.Permanent(errors.New("bad chunk"))
			case "2":
				if !failedOnce.Swap(true) {
					return errors.New("database unavailable")
				}
			}
			return nil
		}})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	count := func(outcome string) uint64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() != "ferry_chunk_duration_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" && l.GetValue() == outcome {
						return m.GetHistogram().GetSampleCount()
					}
				}
			}
		}
		return 0
	}
	require.Eventually(t, func() bool { return count("ok") == 2 }, 15*time.Second, 50*time.Millisecond)
	stop()
	require.NoError(t, <-done)
	require.EqualValues(t, 1, count("failed"))
	require.EqualValues(t, 1, count("retry"))

	statuses := map[string]int{}
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindConsumer {
			statuses[s.Status().Code.String()]++
		}
	}
	require.Equal(t, map[string]int{"Unset": 2, "Error": 2}, statuses)
}
