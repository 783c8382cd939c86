package events

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/telemetry"
)

// maxPending bounds the events held in batches, unacknowledged.
const maxPending = 10000

// EnsureConsumer declares the durable consumer of change events. ackWait
// must cover a batch's window and its apply.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, ackWait time.Duration) (jetstream.Consumer, error) {
	return bus.EnsureConsumer(ctx, js, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable: bus.ConsumerDeliveryEvents, FilterSubject: bus.EventSubjects, MaxAckPending: maxPending, AckWait: ackWait,
	})
}

// Consumer gathers change events into a batch per tenant dataset and
// applies a batch when it holds its profile's batch size or its window has
// passed, whichever comes first. Batches are applied one at a time, each
// acknowledged after it committed; a batch that fails is handed back for
// redelivery.
type Consumer struct {
	Applier  *Applier
	Consumer jetstream.Consumer
	Log      *slog.Logger
	// MaxWindow caps a profile's batch window, to stay well inside the
	// consumer's ack wait.
	MaxWindow time.Duration
}

// pending is a batch being gathered.
type pending struct {
	tenant, dataset string
	msgs            []jetstream.Msg
	size            int
	deadline        time.Time
}

// Run consumes until ctx ends, then applies the batches it holds and
// returns.
func (c *Consumer) Run(ctx context.Context) error {
	defer bus.TrackConsumer(c.Consumer)()
	batches := map[string]*pending{}
	held := 0
	work := context.WithoutCancel(ctx)
	flush := func(k string) {
		p := batches[k]
		delete(batches, k)
		held -= len(p.msgs)
		c.apply(work, p)
	}
	for {
		now := time.Now()
		for k, p := range batches {
			if len(p.msgs) >= p.size || !now.Before(p.deadline) || ctx.Err() != nil {
				flush(k)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		for held >= maxPending-100 {
			// Too much held: apply the largest batch now.
			var big string
			for k, p := range batches {
				if big == "" || len(p.msgs) > len(batches[big].msgs) {
					big = k
				}
			}
			flush(big)
		}
		// Short, so that a batch started during a fetch is not kept much
		// past its window.
		wait := 250 * time.Millisecond
		for _, p := range batches {
			wait = min(wait, time.Until(p.deadline))
		}
		wait = max(wait, 20*time.Millisecond)
		fctx, cancel := context.WithTimeout(ctx, wait)
		got, err := c.Consumer.Fetch(min(256, maxPending-held), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
				c.Log.Warn("fetch events failed", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		for msg := range got.Messages() {
			tenant, dataset, ok := SplitSubject(msg.Subject())
			if !ok {
				c.Log.Warn("event on a subject that is not ferry.events.<tenant>.<dataset>", "subject", msg.Subject())
				_ = msg.TermWithReason("not ferry.events.<tenant>.<dataset>")
				continue
			}
			k := tenant + "." + dataset
			p := batches[k]
			if p == nil {
				p = &pending{tenant: tenant, dataset: dataset, size: 1}
				size, window, found, err := c.Applier.Settings(work, tenant, dataset)
				switch {
				case err != nil:
					c.Log.Warn("look up event import profile failed", "tenant", tenant, "dataset", dataset, "err", err)
					p.deadline = time.Now()
				case found:
					if c.MaxWindow > 0 {
						window = min(window, c.MaxWindow)
					}
					p.size, p.deadline = size, time.Now().Add(window)
				default:
					// Dead-lettered at once.
					p.size, p.deadline = DefaultBatchSize, time.Now()
				}
				batches[k] = p
			}
			p.msgs = append(p.msgs, msg)
			held++
			if len(p.msgs) >= p.size {
				flush(k)
			}
		}
		cancel()
		if err := got.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) &&
			!errors.Is(err, context.Canceled) && !errors.Is(err, jetstream.ErrNoMessages) {
			c.Log.Warn("fetch events failed", "err", err)
		}
	}
}

// apply applies one batch and acknowledges or hands back its events.
func (c *Consumer) apply(ctx context.Context, p *pending) {
	msgs := make([]Message, len(p.msgs))
	for i, m := range p.msgs {
		msgs[i] = Message{Subject: m.Subject(), Data: m.Data(), ContentType: m.Headers().Get("Content-Type")}
		if md, err := m.Metadata(); err == nil {
			msgs[i].StreamSeq = md.Sequence.Stream
		}
	}
	ctx, span := c.startSpan(ctx, p)
	defer span.End()
	start := time.Now()
	out, err := c.Applier.Apply(ctx, p.tenant, p.dataset, msgs)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		c.Log.Warn("event batch failed, retrying", "tenant", p.tenant, "dataset", p.dataset, "events", len(msgs), "err", err)
		for _, m := range p.msgs {
			_ = m.NakWithDelay(2 * time.Second)
		}
		return
	}
	for _, m := range p.msgs {
		// A lost ack redelivers the event, which finds its id recorded
		// with the same stream sequence and changes nothing.
		_ = m.Ack()
	}
	span.SetAttributes(attribute.Int64("ferry.events.applied", int64(out.Applied)), attribute.Int64("ferry.events.ignored", int64(out.Ignored)),
		attribute.Int64("ferry.events.rejected", int64(out.Rejected)), attribute.Int64("ferry.events.redelivered", int64(out.Redelivered)))
	c.Log.Debug("event batch applied", "tenant", p.tenant, "dataset", p.dataset, "events", len(msgs), "applied", out.Applied,
		"ignored", out.Ignored, "rejected", out.Rejected, "redelivered", out.Redelivered, "took", time.Since(start))
}

// startSpan starts the consumer span of a batch: one span for the events
// applied together in one transaction, linked to the trace context each
// event carried (its publisher's span, when the publisher sent one).
func (c *Consumer) startSpan(ctx context.Context, p *pending) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, len(p.msgs))
	for _, m := range p.msgs {
		if sc := trace.SpanContextFromContext(bus.ExtractTrace(context.Background(), m.Headers())); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx = telemetry.WithRun(ctx, p.tenant, "")
	return telemetry.Tracer().Start(ctx, bus.ConsumerDeliveryEvents+" ferry.events",
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", bus.EventSubject(p.tenant, p.dataset)),
			attribute.String("messaging.consumer.group.name", bus.ConsumerDeliveryEvents),
			attribute.Int("messaging.batch.message_count", len(p.msgs)),
			attribute.String("ferry.tenant", p.tenant),
			attribute.String("ferry.dataset", p.dataset),
		))
}
