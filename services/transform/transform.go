// Package transform turns rows in into rows out: it parses, maps and
// validates the chunks of import runs and publishes record batches, and it
// formats the row batches of export runs into file parts. It is pure CPU
// and writes nothing to the database.
package transform

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/exportfmt"
	"github.com/ferrydata/ferry/libs/mapping"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/libs/xref"
	"github.com/ferrydata/ferry/services/transform/internal/exports"
	"github.com/ferrydata/ferry/services/transform/internal/records"
)

// Config configures the transform service.
type Config struct {
	// Workers is how many chunks one process maps at once.
	Workers int `yaml:"workers"`
}

// RegisterFlags registers the service's flags on f.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&c.Workers, "transform-workers", runtime.GOMAXPROCS(0), "chunks mapped at once by one transform process")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Workers < 1 {
		return errors.New("transform-workers must be at least 1")
	}
	return nil
}

// Deps are what the service is built with.
type Deps struct {
	// NC asks the profile service for cross-reference tables.
	NC  *nats.Conn
	JS  jetstream.JetStream
	Log *slog.Logger
	// AckWait is how long a chunk may go unacknowledged before redelivery.
	AckWait time.Duration
}

// Service is the running transform service.
type Service struct {
	cfg     Config
	deps    Deps
	plans   records.Plans
	worker  *bus.Worker
	exports *bus.Worker
}

// New builds the service.
func New(cfg Config, d Deps) *Service {
	s := &Service{cfg: cfg, deps: d}
	s.plans.Fetch = func(ctx context.Context, tenant, name string) (mapping.Table, error) {
		return xref.Fetch(ctx, d.NC, tenant, name)
	}
	return s
}

// Starting declares the streams and the chunk consumer.
func (s *Service) Starting(ctx context.Context) error {
	if err := bus.EnsureStreams(ctx, s.deps.JS); err != nil {
		return err
	}
	cons, err := bus.EnsureConsumer(ctx, s.deps.JS, bus.StreamChunks, jetstream.ConsumerConfig{
		Durable: bus.ConsumerTransform, FilterSubject: "ferry.chunks.>", MaxAckPending: 1000, AckWait: s.deps.AckWait,
	})
	if err != nil {
		return err
	}
	s.worker = bus.NewWorker(bus.WorkerConfig{Name: "transform", Consumer: cons, Concurrency: s.cfg.Workers, Handler: s.handle, FailRuns: s.deps.JS, Log: s.deps.Log})
	files, err := s.deps.JS.ObjectStore(ctx, bus.FilesBucket)
	if err != nil {
		return fmt.Errorf("open object store: %w", err)
	}
	f := &exports.Formatter{JS: s.deps.JS, Files: files, Fetch: func(ctx context.Context, tenant, name string) (exportfmt.Reverser, error) {
		return xref.Fetch(ctx, s.deps.NC, tenant, name)
	}}
	xcons, err := bus.EnsureConsumer(ctx, s.deps.JS, bus.StreamExport, jetstream.ConsumerConfig{
		Durable: bus.ConsumerExportFormat, FilterSubject: bus.ExportRowsSubjects, MaxAckPending: 1000, AckWait: s.deps.AckWait,
	})
	if err != nil {
		return err
	}
	s.exports = bus.NewWorker(bus.WorkerConfig{Name: "transform-export", Consumer: xcons, Concurrency: s.cfg.Workers, Handler: f.Handle, FailRuns: s.deps.JS, Log: s.deps.Log})
	return nil
}

// Running maps chunks and formats export batches until ctx ends, finishing
// those in flight.
func (s *Service) Running(ctx context.Context) error {
	return bus.RunWorkers(ctx, s.worker, s.exports)
}

// Stopping has nothing left to do: the worker drained in Running.
func (s *Service) Stopping(context.Context) error { return nil }

func (s *Service) handle(ctx context.Context, msg jetstream.Msg) error {
	var c ferryv1.Chunk
	if err := proto.Unmarshal(msg.Data(), &c); err != nil {
		return bus.Permanent(fmt.Errorf("decode chunk on %s: %w", msg.Subject(), err))
	}
	snap := c.GetRun()
	plan, err := s.plans.Get(ctx, snap, c.GetHeader(), c.GetEncoding())
	if err != nil && (errs.KindOf(err) == errs.KindUnknown || errs.KindOf(err) == errs.KindUnavailable) {
		// Loading a cross-reference table failed: the profile service will answer again.
		return fmt.Errorf("chunk %d: %w", c.GetSeq(), err)
	}
	if err != nil {
		// ingest checked the header against the mapping before splitting.
		return s.fail(ctx, snap, fmt.Errorf("chunk %d: %w", c.GetSeq(), err))
	}
	batch, err := records.Build(&c, plan)
	if err != nil {
		return s.fail(ctx, snap, err)
	}
	telemetry.Rows(ctx, telemetry.StageTransform, "read", batch.GetRead())
	telemetry.Rows(ctx, telemetry.StageTransform, "valid", batch.GetStaged())
	telemetry.Rows(ctx, telemetry.StageTransform, "rejected", int64(len(batch.GetRejects())))
	telemetry.Rows(ctx, telemetry.StageTransform, "held", int64(len(batch.GetHeld())))
	return bus.Publish(ctx, s.deps.JS, bus.RecordSubject(snap.GetTenantId(), snap.GetRunId()), bus.MsgID("records", snap.GetRunId(), c.GetSeq()), batch)
}

// fail ends the run of a chunk that cannot be mapped, and terminates the chunk.
func (s *Service) fail(ctx context.Context, snap *ferryv1.RunSnapshot, cause error) error {
	s.deps.Log.ErrorContext(ctx, "chunk refused", "tenant", snap.GetTenantId(), "run", snap.GetRunId(), "err", cause)
	if err := bus.PublishFailed(ctx, s.deps.JS, snap.GetTenantId(), snap.GetRunId(), cause.Error()); err != nil {
		return err
	}
	return bus.Permanent(cause)
}
