// Package delivery writes: it stages the record batches of import runs,
// each in one transaction with a ledger row, so that every chunk is staged
// exactly once, and applies a run to its dataset in one transaction once all
// of its chunks are staged. It assembles the formatted parts of export runs
// into their files, delivers them to the runs' destinations with retries,
// and ends those runs.
package delivery

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/mapping"
	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/libs/xref"
	"github.com/ferrydata/ferry/services/delivery/internal/apply"
	"github.com/ferrydata/ferry/services/delivery/internal/assemble"
	"github.com/ferrydata/ferry/services/delivery/internal/deliver"
	"github.com/ferrydata/ferry/services/delivery/internal/events"
	"github.com/ferrydata/ferry/services/delivery/internal/outbox"
	"github.com/ferrydata/ferry/services/delivery/internal/send"
)

// Config configures the delivery service.
type Config struct {
	// Workers is how many batches one process applies at once.
	Workers int `yaml:"workers"`
	// Senders is how many deliveries one process attempts at once.
	Senders int `yaml:"senders"`
	// Poll is how often due deliveries are looked for besides notifications.
	Poll time.Duration `yaml:"poll"`
	// PublicURL prefixes download links in webhook and NATS notices.
	PublicURL string `yaml:"public_url"`
	// AttemptTimeout bounds one delivery attempt.
	AttemptTimeout time.Duration `yaml:"attempt_timeout"`
}

// RegisterFlags registers the service's flags on f.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&c.Workers, "delivery-workers", 4, "record batches applied at once by one delivery process")
	f.IntVar(&c.Senders, "delivery-senders", 4, "deliveries to destinations attempted at once by one delivery process")
	f.DurationVar(&c.Poll, "delivery-poll", 2*time.Second, "how often due delivery retries are looked for (new deliveries start at once)")
	f.DurationVar(&c.AttemptTimeout, "delivery-attempt-timeout", time.Hour, "longest one delivery attempt may take; then it counts as a transient failure")
	f.StringVar(&c.PublicURL, "public-url", "", "the server's public base URL (https://ferry.example.com): download links in webhook and NATS notices start with it")
}

// Validate checks the config.
func (c *Config) Validate() error {
	switch {
	case c.Workers < 1:
		return errors.New("delivery-workers must be at least 1")
	case c.Senders < 1:
		return errors.New("delivery-senders must be at least 1")
	case c.Poll <= 0:
		return errors.New("delivery-poll must be positive")
	case c.AttemptTimeout <= 0:
		return errors.New("delivery-attempt-timeout must be positive")
	}
	return nil
}

// Deps are what the service is built with.
type Deps struct {
	Pool *pgxpool.Pool
	JS   jetstream.JetStream
	Log  *slog.Logger
	// AckWait is how long a batch may go unacknowledged before redelivery.
	AckWait time.Duration
	// AfterCommit is a test hook: it runs between a batch's commit and its ack.
	AfterCommit func(b *ferryv1.RecordBatch)
	// Keyring opens destination credentials; nil when no key is configured.
	Keyring *secrets.Keyring
}

// Service is the running delivery service.
type Service struct {
	cfg     Config
	deps    Deps
	applier *apply.Applier
	worker  *bus.Worker
	applies *bus.Worker
	exports *bus.Worker
	deliver *deliver.Deliverer
	relay   *outbox.Relay
	events  *events.Consumer
}

// New builds the service.
func New(cfg Config, d Deps) *Service {
	return &Service{cfg: cfg, deps: d, applier: &apply.Applier{Pool: d.Pool, AfterCommit: d.AfterCommit}}
}

// Starting declares the streams and the record consumer.
func (s *Service) Starting(ctx context.Context) error {
	if err := bus.EnsureStreams(ctx, s.deps.JS); err != nil {
		return err
	}
	cons, err := bus.EnsureConsumer(ctx, s.deps.JS, bus.StreamRecords, jetstream.ConsumerConfig{
		Durable: bus.ConsumerDelivery, FilterSubject: "ferry.records.>", MaxAckPending: 1000, AckWait: s.deps.AckWait,
	})
	if err != nil {
		return err
	}
	s.worker = bus.NewWorker(bus.WorkerConfig{Name: "delivery", Consumer: cons, Concurrency: s.cfg.Workers, Handler: s.handle, FailRuns: s.deps.JS, Log: s.deps.Log})
	applies, err := bus.EnsureConsumer(ctx, s.deps.JS, bus.StreamCommands, jetstream.ConsumerConfig{
		Durable: bus.ConsumerDeliveryApply, FilterSubject: bus.ApplyCommandSubjects, MaxAckPending: 100, AckWait: s.deps.AckWait,
	})
	if err != nil {
		return err
	}
	s.applies = bus.NewWorker(bus.WorkerConfig{Name: "delivery-apply", Consumer: applies, Concurrency: s.cfg.Workers, Handler: s.handleApply, FailRuns: s.deps.JS, Log: s.deps.Log})
	files, err := s.deps.JS.ObjectStore(ctx, bus.FilesBucket)
	if err != nil {
		return fmt.Errorf("open object store: %w", err)
	}
	asm := &assemble.Assembler{Pool: s.deps.Pool, JS: s.deps.JS, Files: files, Log: s.deps.Log}
	exports, err := bus.EnsureConsumer(ctx, s.deps.JS, bus.StreamExport, jetstream.ConsumerConfig{
		Durable: bus.ConsumerExportAssembly, FilterSubject: bus.ExportPartsSubjects, MaxAckPending: 1000, AckWait: s.deps.AckWait,
	})
	if err != nil {
		return err
	}
	s.exports = bus.NewWorker(bus.WorkerConfig{Name: "delivery-export", Consumer: exports, Concurrency: s.cfg.Workers, Handler: asm.Handle, FailRuns: s.deps.JS, Log: s.deps.Log})
	s.deliver = &deliver.Deliverer{
		Pool: s.deps.Pool, JS: s.deps.JS, Files: files, Keyring: s.deps.Keyring, Log: s.deps.Log,
		PublicURL: s.cfg.PublicURL, Workers: s.cfg.Senders, Poll: s.cfg.Poll, AttemptTimeout: s.cfg.AttemptTimeout,
		Senders: map[string]send.Sender{"sftp": send.SFTP{}, "webhook": send.Webhook{}, "nats": send.NATS{Conn: s.deps.JS.Conn(), JS: s.deps.JS}},
	}
	if err := s.startEvents(ctx); err != nil {
		return err
	}
	s.relay = &outbox.Relay{Pool: s.deps.Pool, JS: s.deps.JS, Log: s.deps.Log, Poll: s.cfg.Poll}
	return nil
}

// Running stages batches, applies runs, assembles exports and delivers
// them, and relays the change feed, until ctx ends, finishing those in
// flight.
func (s *Service) Running(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.deliver.Run(ctx)
	}()
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		_ = s.relay.Run(ctx)
	}()
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		_ = s.events.Run(ctx)
	}()
	err := bus.RunWorkers(ctx, s.worker, s.applies, s.exports)
	<-done
	<-relayed
	<-evDone
	return err
}

// startEvents declares the consumer of change events and builds its loop.
func (s *Service) startEvents(ctx context.Context) error {
	cons, err := events.EnsureConsumer(ctx, s.deps.JS, s.deps.AckWait)
	if err != nil {
		return err
	}
	nc := s.deps.JS.Conn()
	applier := &events.Applier{Pool: s.deps.Pool, JS: s.deps.JS, Log: s.deps.Log,
		Tables: func(ctx context.Context, tenantID, name string) (mapping.Table, error) {
			return xref.Fetch(ctx, nc, tenantID, name)
		}}
	window := 10 * time.Second
	if s.deps.AckWait > 0 {
		window = min(window, s.deps.AckWait/3)
	}
	s.events = &events.Consumer{Applier: applier, Consumer: cons, Log: s.deps.Log.With("worker", "delivery-events"), MaxWindow: window}
	return nil
}

// Stopping has nothing left to do: the worker drained in Running.
func (s *Service) Stopping(context.Context) error { return nil }

func (s *Service) handle(ctx context.Context, msg jetstream.Msg) error {
	var b ferryv1.RecordBatch
	if err := proto.Unmarshal(msg.Data(), &b); err != nil {
		return bus.Permanent(fmt.Errorf("decode record batch on %s: %w", msg.Subject(), err))
	}
	snap := b.GetRun()
	res, err := s.applier.Stage(ctx, &b)
	if err != nil {
		if apply.Permanent(err) {
			return bus.Permanent(s.fail(ctx, snap, err))
		}
		return err
	}
	if res.Skipped == "ended" {
		return nil
	}
	if res.Skipped == "duplicate" {
		s.deps.Log.InfoContext(ctx, "chunk already staged", "tenant", snap.GetTenantId(), "run", snap.GetRunId(), "seq", b.GetSeq())
	} else {
		telemetry.Rows(ctx, telemetry.StageDelivery, "staged", res.Counts.GetRead()-res.Counts.GetRejected())
		s.deps.Log.DebugContext(ctx, "chunk staged", "tenant", snap.GetTenantId(), "run", snap.GetRunId(), "seq", b.GetSeq(),
			"read", res.Counts.GetRead(), "rejected", res.Counts.GetRejected())
	}
	// Published again for a duplicate: the first delivery may have stopped
	// between commit and report. The message id makes it count once.
	return bus.PublishProgress(ctx, s.deps.JS, snap.GetTenantId(), snap.GetRunId(), fmt.Sprintf("applied/%d", b.GetSeq()),
		&ferryv1.Progress{Event: &ferryv1.Progress_Applied{Applied: &ferryv1.ChunkApplied{Seq: b.GetSeq(), Counts: res.Counts}}})
}

// fail ends the run: a batch that PostgreSQL refuses for its data or the
// table's shape will be refused again.
func (s *Service) fail(ctx context.Context, snap *ferryv1.RunSnapshot, cause error) error {
	s.deps.Log.ErrorContext(ctx, "chunk refused", "tenant", snap.GetTenantId(), "run", snap.GetRunId(), "err", cause)
	if err := bus.PublishFailed(ctx, s.deps.JS, snap.GetTenantId(), snap.GetRunId(), cause.Error()); err != nil {
		return fmt.Errorf("%w (and reporting it: %v)", cause, err)
	}
	return cause
}

func (s *Service) handleApply(ctx context.Context, msg jetstream.Msg) error {
	var cmd ferryv1.ApplyCommand
	if err := proto.Unmarshal(msg.Data(), &cmd); err != nil {
		return bus.Permanent(fmt.Errorf("decode apply command on %s: %w", msg.Subject(), err))
	}
	snap := cmd.GetRun()
	if msg.Subject() != bus.ApplyCommandSubject(snap.GetTenantId()) {
		return bus.Permanent(fmt.Errorf("apply command on %s names tenant %s", msg.Subject(), snap.GetTenantId()))
	}
	out, err := s.applier.ApplyRun(ctx, &cmd)
	if err != nil {
		if apply.Permanent(err) {
			return bus.Permanent(s.fail(ctx, snap, err))
		}
		return err
	}
	if out.Skipped == "" {
		recordApplied(ctx, out.Counts, snap.GetDryRun())
		s.deps.Log.InfoContext(ctx, "run applied", "tenant", snap.GetTenantId(), "run", snap.GetRunId(), "status", out.Status, "dry_run", snap.GetDryRun(),
			"inserted", out.Counts.GetInserted(), "updated", out.Counts.GetUpdated(), "deleted", out.Counts.GetDeleted(), "rejected", out.Counts.GetRejected())
	}
	// Reported again when skipped: the first apply may have stopped between
	// commit and report. The message id makes it count once per outcome.
	return bus.PublishProgress(ctx, s.deps.JS, snap.GetTenantId(), snap.GetRunId(), "applied/"+out.Status,
		&ferryv1.Progress{Event: &ferryv1.Progress_RunApplied{RunApplied: &ferryv1.RunApplied{}}})
}

// recordApplied counts the rows a run's apply wrote, by outcome; a dry run
// writes nothing.
func recordApplied(ctx context.Context, c *ferryv1.RunCounts, dryRun bool) {
	if dryRun {
		return
	}
	telemetry.Rows(ctx, telemetry.StageDelivery, "inserted", c.GetInserted())
	telemetry.Rows(ctx, telemetry.StageDelivery, "updated", c.GetUpdated())
	telemetry.Rows(ctx, telemetry.StageDelivery, "unchanged", c.GetUnchanged())
	telemetry.Rows(ctx, telemetry.StageDelivery, "deleted", c.GetDeleted())
	telemetry.Rows(ctx, telemetry.StageDelivery, "superseded", c.GetSuperseded())
}
