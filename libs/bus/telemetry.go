package bus

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/telemetry"
)

// Headers that say which run a message belongs to, set by Publish from the
// message (or the context) and read by Worker for spans and logs. The trace
// context travels in the W3C headers traceparent, tracestate and baggage.
const (
	HeaderTenant = "Ferry-Tenant"
	HeaderRun    = "Ferry-Run"
	HeaderSeq    = "Ferry-Seq"
)

// HeaderCarrier adapts a nats.Header to OpenTelemetry propagation, with the
// keys exactly as the propagators name them (traceparent, not Traceparent).
type HeaderCarrier nats.Header

// Get implements propagation.TextMapCarrier.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set implements propagation.TextMapCarrier.
func (c HeaderCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys implements propagation.TextMapCarrier.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

var _ propagation.TextMapCarrier = HeaderCarrier{}

// InjectTrace writes the trace context of ctx into h, for a message that
// does not go through Publish.
func InjectTrace(ctx context.Context, h nats.Header) {
	otel.GetTextMapPropagator().Inject(ctx, HeaderCarrier(h))
}

// ExtractTrace returns ctx with the trace context a message's headers carry.
func ExtractTrace(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, HeaderCarrier(h))
}

type (
	importPayload interface{ GetRun() *ferryv1.RunSnapshot }
	exportPayload interface {
		GetRun() *ferryv1.ExportSnapshot
	}
	runPayload interface {
		GetTenantId() string
		GetRunId() string
	}
	seqPayload interface{ GetSeq() int64 }
)

// runOf returns the tenant, run and chunk sequence a payload names.
func runOf(m proto.Message) (tenant, run string, seq int64, hasSeq bool) {
	switch v := m.(type) {
	case importPayload:
		tenant, run = v.GetRun().GetTenantId(), v.GetRun().GetRunId()
	case exportPayload:
		tenant, run = v.GetRun().GetTenantId(), v.GetRun().GetRunId()
	case runPayload:
		tenant, run = v.GetTenantId(), v.GetRunId()
	case *ferryv1.RunEvent:
		tenant, run = v.GetTenantId(), v.GetRun().GetId()
	}
	if s, ok := m.(seqPayload); ok && run != "" {
		seq, hasSeq = s.GetSeq(), true
	}
	return tenant, run, seq, hasSeq
}

// subjectKind is a subject without its tenant, run and dataset tokens:
// ferry.chunks.<tenant>.<run> is ferry.chunks. Span names use it, so that
// they stay few.
func subjectKind(subject string) string {
	parts := strings.Split(subject, ".")
	n := min(len(parts), 3)
	if len(parts) > 1 {
		switch parts[1] {
		case "chunks", "records", "progress", "events", "deadletter", "changes", "runs":
			n = 2
		}
	}
	return strings.Join(parts[:n], ".")
}

// startPublish starts the producer span of a message and writes the trace
// context and the run's headers.
func startPublish(ctx context.Context, msg *nats.Msg, m proto.Message) (context.Context, trace.Span) {
	tenant, run, seq, hasSeq := runOf(m)
	if tenant == "" && run == "" {
		tenant, run = telemetry.RunFrom(ctx)
	}
	attrs := []attribute.KeyValue{
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.operation.type", "send"),
		attribute.String("messaging.destination.name", msg.Subject),
	}
	if tenant != "" {
		msg.Header.Set(HeaderTenant, tenant)
		attrs = append(attrs, attribute.String("ferry.tenant", tenant))
	}
	if run != "" {
		msg.Header.Set(HeaderRun, run)
		attrs = append(attrs, attribute.String("ferry.run", run))
	}
	if hasSeq {
		msg.Header.Set(HeaderSeq, strconv.FormatInt(seq, 10))
		attrs = append(attrs, attribute.Int64("ferry.chunk.seq", seq))
	}
	ctx, span := telemetry.Tracer().Start(ctx, "publish "+subjectKind(msg.Subject),
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	InjectTrace(ctx, msg.Header)
	return ctx, span
}

// startConsume starts the consumer span of a message as a child of the
// trace context its headers carry, and marks ctx with its run.
func (w *Worker) startConsume(ctx context.Context, msg jetstream.Msg) (context.Context, trace.Span) {
	h := msg.Headers()
	ctx = ExtractTrace(ctx, h)
	attrs := []attribute.KeyValue{
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", msg.Subject()),
		attribute.String("messaging.consumer.group.name", w.cfg.Name),
	}
	var tenant, run string
	if h != nil {
		tenant, run = h.Get(HeaderTenant), h.Get(HeaderRun)
		if s := h.Get(HeaderSeq); s != "" {
			if seq, err := strconv.ParseInt(s, 10, 64); err == nil {
				attrs = append(attrs, attribute.Int64("ferry.chunk.seq", seq))
			}
		}
		if id := h.Get(jetstream.MsgIDHeader); id != "" {
			attrs = append(attrs, attribute.String("messaging.message.id", id))
		}
	}
	if md, err := msg.Metadata(); err == nil {
		attrs = append(attrs, attribute.Int64("messaging.nats.delivered", int64(md.NumDelivered)))
	}
	if tenant != "" {
		attrs = append(attrs, attribute.String("ferry.tenant", tenant))
	}
	if run != "" {
		attrs = append(attrs, attribute.String("ferry.run", run))
	}
	ctx = telemetry.WithRun(ctx, tenant, run)
	return telemetry.Tracer().Start(ctx, w.cfg.Name+" "+subjectKind(msg.Subject()),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}

// running lists the durable consumers this process consumes, for the
// pending gauges.
var running = struct {
	sync.Mutex
	m map[*jetstream.Consumer]jetstream.Consumer
}{m: map[*jetstream.Consumer]jetstream.Consumer{}}

// TrackConsumer adds a durable consumer that this process consumes other
// than through a Worker (which tracks its own) to ferry.consumer.pending and
// ferry.consumer.ack_pending, until the returned function is called.
func TrackConsumer(c jetstream.Consumer) (untrack func()) {
	if c == nil {
		return func() {}
	}
	key := &c
	running.Lock()
	running.m[key] = c
	running.Unlock()
	return func() {
		running.Lock()
		delete(running.m, key)
		running.Unlock()
	}
}

// ObserveConsumers registers the gauges ferry.consumer.pending and
// ferry.consumer.ack_pending on meter: on each collection they read the
// JetStream consumer info of every durable consumer a running worker of
// this process consumes, labelled with stream and consumer.
func ObserveConsumers(meter metric.Meter) error {
	pending, err := meter.Int64ObservableGauge(telemetry.MetricConsumerPending, metric.WithUnit("{message}"),
		metric.WithDescription("Messages of the stream not yet delivered to the durable consumer."))
	if err != nil {
		return err
	}
	ackPending, err := meter.Int64ObservableGauge(telemetry.MetricConsumerAckPending, metric.WithUnit("{message}"),
		metric.WithDescription("Messages delivered to the durable consumer and not yet acknowledged."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		running.Lock()
		cons := make([]jetstream.Consumer, 0, len(running.m))
		for _, c := range running.m {
			cons = append(cons, c)
		}
		running.Unlock()
		seen := map[string]bool{}
		for _, c := range cons {
			ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
			info, err := c.Info(ictx)
			cancel()
			if err != nil || seen[info.Stream+"/"+info.Name] {
				continue
			}
			seen[info.Stream+"/"+info.Name] = true
			attrs := metric.WithAttributes(attribute.String("stream", info.Stream), attribute.String("consumer", info.Name))
			o.ObserveInt64(pending, int64(info.NumPending), attrs)
			o.ObserveInt64(ackPending, int64(info.NumAckPending), attrs)
		}
		return nil
	}, pending, ackPending)
	return err
}
