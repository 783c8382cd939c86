package telemetry

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// Instrument names. The Prometheus exporter turns dots into underscores and
// adds the unit and _total suffixes: ferry_rows_total,
// ferry_chunk_duration_seconds, ferry_consumer_pending,
// ferry_consumer_ack_pending, ferry_delivery_attempts_total,
// ferry_delivery_failures_total, ferry_run_duration_seconds.
const (
	MetricRows               = "ferry.rows"
	MetricChunkDuration      = "ferry.chunk.duration"
	MetricConsumerPending    = "ferry.consumer.pending"
	MetricConsumerAckPending = "ferry.consumer.ack_pending"
	MetricDeliveryAttempts   = "ferry.delivery.attempts"
	MetricDeliveryFailures   = "ferry.delivery.failures"
	MetricRunDuration        = "ferry.run.duration"
)

// Stages of ferry.rows.
const (
	StageIngest    = "ingest"
	StageTransform = "transform"
	StageDelivery  = "delivery"
	StageExport    = "export"
)

// Bucket boundaries, in seconds. A chunk takes milliseconds to seconds; a
// run seconds to hours.
var (
	chunkBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
	runBuckets   = []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600}
)

func views() []sdkmetric.View {
	return []sdkmetric.View{
		sdkmetric.NewView(sdkmetric.Instrument{Name: MetricChunkDuration},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: chunkBuckets}}),
		sdkmetric.NewView(sdkmetric.Instrument{Name: MetricRunDuration},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: runBuckets}}),
	}
}

type instruments struct {
	rows          metric.Int64Counter
	chunkDuration metric.Float64Histogram
	attempts      metric.Int64Counter
	failures      metric.Int64Counter
	runDuration   metric.Float64Histogram
}

// current holds the instruments of the installed meter provider; nil until
// Install, when recording does nothing.
var current atomic.Pointer[instruments]

func newInstruments(m metric.Meter) (*instruments, error) {
	var ins instruments
	var err error
	if ins.rows, err = m.Int64Counter(MetricRows, metric.WithUnit("{row}"),
		metric.WithDescription("Rows handled by a stage of a run, by stage and outcome (read, valid, rejected, inserted, updated, unchanged, deleted, written).")); err != nil {
		return nil, err
	}
	if ins.chunkDuration, err = m.Float64Histogram(MetricChunkDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to handle one message (a chunk, batch or command) by stage (the consumer) and outcome (ok, retry, failed).")); err != nil {
		return nil, err
	}
	if ins.attempts, err = m.Int64Counter(MetricDeliveryAttempts, metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts to deliver an export file, by destination kind and outcome (succeeded, retry, failed).")); err != nil {
		return nil, err
	}
	if ins.failures, err = m.Int64Counter(MetricDeliveryFailures, metric.WithUnit("{failure}"),
		metric.WithDescription("Failed delivery attempts, by destination kind and class (transient, permanent).")); err != nil {
		return nil, err
	}
	if ins.runDuration, err = m.Float64Histogram(MetricRunDuration, metric.WithUnit("s"),
		metric.WithDescription("Run durations from creation to end, by profile, kind (import, export) and final status.")); err != nil {
		return nil, err
	}
	return &ins, nil
}

// Rows counts n rows of a stage with an outcome.
func Rows(ctx context.Context, stage, outcome string, n int64) {
	ins := current.Load()
	if ins == nil || n == 0 {
		return
	}
	ins.rows.Add(ctx, n, metric.WithAttributes(attribute.String("stage", stage), attribute.String("outcome", outcome)))
}

// ChunkDone records how long a stage took over one message, and its outcome.
func ChunkDone(ctx context.Context, stage, outcome string, d time.Duration) {
	ins := current.Load()
	if ins == nil {
		return
	}
	ins.chunkDuration.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("stage", stage), attribute.String("outcome", outcome)))
}

// DeliveryAttempt counts one delivery attempt to a destination of a kind
// (sftp, webhook, nats) with its outcome (succeeded, retry,
// failed); an attempt that failed also counts in ferry.delivery.failures
// with its error class (transient, permanent).
func DeliveryAttempt(ctx context.Context, kind, outcome, class string) {
	ins := current.Load()
	if ins == nil {
		return
	}
	ins.attempts.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind), attribute.String("outcome", outcome)))
	if class == "" {
		return
	}
	ins.failures.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind), attribute.String("class", class)))
}

// RunFinished records the duration of an ended run, from its creation to
// its end, with its profile, kind and status.
func RunFinished(ctx context.Context, run *ferryv1.Run) {
	if run.GetCreateTime() == nil || run.GetEndTime() == nil {
		return
	}
	kind := "import"
	if run.GetKind() == ferryv1.RunKind_RUN_KIND_EXPORT {
		kind = "export"
	}
	status := strings.ToLower(strings.TrimPrefix(run.GetStatus().String(), "RUN_STATUS_"))
	RunEnded(ctx, run.GetProfile(), kind, status, run.GetEndTime().AsTime().Sub(run.GetCreateTime().AsTime()))
}

// RunEnded records a run's duration by profile, kind (import, export) and
// final status.
func RunEnded(ctx context.Context, profile, kind, status string, d time.Duration) {
	ins := current.Load()
	if ins == nil || d < 0 {
		return
	}
	ins.runDuration.Record(ctx, d.Seconds(), metric.WithAttributes(
		attribute.String("profile", profile), attribute.String("kind", kind), attribute.String("status", status)))
}
