// Package export reads datasets for export runs: it takes export commands
// and reads the selected rows of one consistent snapshot with parallel
// readers over key ranges, publishing them in batches for transform to
// format and delivery to assemble. It also deletes files whose retention
// ended.
package export

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/exportfmt"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/libs/xref"
	"github.com/ferrydata/ferry/services/export/internal/runner"
)

// Config configures the export service.
type Config struct {
	// Workers is how many export runs one process runs at once.
	Workers int `yaml:"workers"`
	// Retention is how long an export run's files are kept.
	Retention time.Duration `yaml:"retention"`
	// Readers is how many readers read one run at once, each a key range.
	Readers int `yaml:"readers"`
}

// RegisterFlags registers the service's flags on f.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&c.Workers, "export-workers", 2, "export runs run at once by one export process")
	f.IntVar(&c.Readers, "export-readers", runner.DefaultReaders, "parallel readers of one export run, each reading a key range of the same snapshot")
	f.DurationVar(&c.Retention, "export-retention", 30*24*time.Hour, "how long the files of an export run are kept in the object store")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Workers < 1 {
		return errors.New("export-workers must be at least 1")
	}
	if c.Readers < 1 {
		return errors.New("export-readers must be at least 1")
	}
	if c.Retention < time.Second {
		return errors.New("export-retention must be at least 1s")
	}
	return nil
}

// Deps are what the service is built with.
type Deps struct {
	Pool *pgxpool.Pool
	NC   *nats.Conn
	JS   jetstream.JetStream
	Log  *slog.Logger
	// AckWait is how long a command may go unacknowledged before redelivery.
	AckWait time.Duration
	// RangeMinPages overrides the size below which a dataset is read by one
	// reader (tests split small datasets with it).
	RangeMinPages int64
	// BatchRows overrides the rows in one batch (tests make many batches with it).
	BatchRows int
	// AfterSnapshot is a test hook (runner.Runner.AfterSnapshot).
	AfterSnapshot func(snap *ferryv1.ExportSnapshot, ranges []int)
}

// Service is the running export service.
type Service struct {
	cfg    Config
	deps   Deps
	runner *runner.Runner
	worker *bus.Worker
}

// New builds the service.
func New(cfg Config, d Deps) *Service { return &Service{cfg: cfg, deps: d} }

// Starting declares the streams and the export command consumer.
func (s *Service) Starting(ctx context.Context) error {
	if err := bus.EnsureStreams(ctx, s.deps.JS); err != nil {
		return err
	}
	files, err := s.deps.JS.ObjectStore(ctx, bus.FilesBucket)
	if err != nil {
		return fmt.Errorf("open object store: %w", err)
	}
	s.runner = &runner.Runner{Pool: s.deps.Pool, JS: s.deps.JS, Files: files, Log: s.deps.Log, Readers: s.cfg.Readers,
		RangeMinPages: s.deps.RangeMinPages, BatchRows: s.deps.BatchRows, AfterSnapshot: s.deps.AfterSnapshot,
		Tables: func(ctx context.Context, tenant, name string) (exportfmt.Reverser, error) {
			return xref.Fetch(ctx, s.deps.NC, tenant, name)
		}}
	cons, err := bus.EnsureConsumer(ctx, s.deps.JS, bus.StreamCommands, jetstream.ConsumerConfig{
		Durable: bus.ConsumerExport, FilterSubject: bus.ExportCommandSubjects, MaxAckPending: 100, AckWait: s.deps.AckWait,
	})
	if err != nil {
		return err
	}
	s.worker = bus.NewWorker(bus.WorkerConfig{Name: "export", Consumer: cons, Concurrency: s.cfg.Workers, Handler: s.handle, FailRuns: s.deps.JS, Log: s.deps.Log})
	return nil
}

// Running runs exports until ctx ends, finishing those in flight, and
// deletes files whose retention ended.
func (s *Service) Running(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.sweep(ctx)
	}()
	err := s.worker.Run(ctx)
	<-done
	return err
}

// sweep deletes, now and then, the files of export runs that ended longer
// than the retention ago. Several replicas may sweep at once: deleting a
// file twice is harmless.
func (s *Service) sweep(ctx context.Context) {
	every := min(max(s.cfg.Retention/10, time.Second), time.Hour)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.runner.Expire(ctx, s.cfg.Retention); err != nil && ctx.Err() == nil {
			s.deps.Log.Warn("deleting expired export files failed", "err", err)
		} else if n > 0 {
			s.deps.Log.Info("deleted expired export files", "runs", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stopping has nothing left to do: the worker drained in Running.
func (s *Service) Stopping(context.Context) error { return nil }

func (s *Service) handle(ctx context.Context, msg jetstream.Msg) error {
	var cmd ferryv1.ExportCommand
	if err := proto.Unmarshal(msg.Data(), &cmd); err != nil {
		return bus.Permanent(fmt.Errorf("decode export command on %s: %w", msg.Subject(), err))
	}
	snap := cmd.GetRun()
	if msg.Subject() != bus.ExportCommandSubject(snap.GetTenantId()) {
		return bus.Permanent(fmt.Errorf("export command on %s names tenant %s", msg.Subject(), snap.GetTenantId()))
	}
	// The run's stages reached through PostgreSQL rather than a message
	// (its deliveries) continue the trace this command carries.
	if tc := telemetry.TraceContext(ctx); tc != "" {
		if _, err := s.deps.Pool.Exec(ctx, `UPDATE ferry.runs SET trace_context = $2 WHERE id = $1`, snap.GetRunId(), tc); err != nil {
			s.deps.Log.DebugContext(ctx, "run trace context not stored", "run", snap.GetRunId(), "err", err)
		}
	}
	out, err := s.runner.Run(ctx, snap)
	if err != nil {
		return err
	}
	if out.Skipped == "" {
		telemetry.Rows(ctx, telemetry.StageExport, "read", out.Rows)
		s.deps.Log.InfoContext(ctx, "export run read", "tenant", snap.GetTenantId(), "run", snap.GetRunId(), "profile", snap.GetProfile(),
			"status", out.Status, "rows", out.Rows)
	}
	if out.Status == "read" {
		// delivery assembles the files and ends the run.
		return nil
	}
	// Reported again for a skipped run: the first may have stopped between
	// its commit and this report. The message id makes it count once.
	return bus.PublishProgress(ctx, s.deps.JS, snap.GetTenantId(), snap.GetRunId(), "exported/"+out.Status,
		&ferryv1.Progress{Event: &ferryv1.Progress_RunApplied{RunApplied: &ferryv1.RunApplied{}}})
}
