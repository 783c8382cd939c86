// Package triggers starts runs on events: an export profile's run when its
// dataset changed (debounced), and runs of the profiles that name another
// profile in triggers.after when a run of it ends. Every fire is claimed in
// the transaction that creates its run, so it happens once however many
// profile replicas watch; the export command is published after the
// commit, and published again by a later tick while the run stays queued.
package triggers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// Store is what the triggers need of the store.
type Store interface {
	RunEnded(ctx context.Context, tenantID string, run *ferryv1.Run) ([]store.Fired, error)
	FireDatasetChanges(ctx context.Context) ([]store.Fired, error)
	QueuedTriggeredRuns(ctx context.Context, minAge, maxAge time.Duration) ([]*ferryv1.ExportSnapshot, error)
	PruneDatasetChanges(ctx context.Context, age time.Duration) error
}

// Publisher starts export runs.
type Publisher interface {
	StartExport(ctx context.Context, snap *ferryv1.ExportSnapshot) error
}

// Config tunes the triggers.
type Config struct {
	// Tick is how often dataset-change windows and unpublished runs are
	// looked at (1s when 0).
	Tick time.Duration
	// AckWait is how long a lifecycle event may go unacknowledged.
	AckWait time.Duration
	// RepublishAfter is how long a triggered run may stay queued before
	// its command is published again (5s when 0).
	RepublishAfter time.Duration
}

// A triggered run still queued after Config.RepublishAfter is published
// again, until repubMax: within the command stream's two-minute duplicate
// window, so that a command is never stored twice.
const (
	repubMax = 90 * time.Second
	// keepChanges is how long the dataset change log is kept.
	keepChanges = 7 * 24 * time.Hour
)

// Engine fires triggers.
type Engine struct {
	store  Store
	pub    Publisher
	js     jetstream.JetStream
	log    *slog.Logger
	cfg    Config
	worker *bus.Worker
}

// New returns an engine.
func New(s Store, pub Publisher, js jetstream.JetStream, log *slog.Logger, cfg Config) *Engine {
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.RepublishAfter <= 0 {
		cfg.RepublishAfter = 5 * time.Second
	}
	return &Engine{store: s, pub: pub, js: js, log: log, cfg: cfg}
}

// Starting declares the consumer of lifecycle events. It starts with the
// events published after it is first created: runs that ended before
// triggers existed fire nothing.
func (e *Engine) Starting(ctx context.Context) error {
	cons, err := bus.EnsureConsumer(ctx, e.js, bus.StreamRuns, jetstream.ConsumerConfig{
		Durable: bus.ConsumerProfileTriggers, FilterSubject: "ferry.runs.>", DeliverPolicy: jetstream.DeliverNewPolicy,
		MaxAckPending: 100, AckWait: e.cfg.AckWait,
	})
	if err != nil {
		return err
	}
	e.worker = bus.NewWorker(bus.WorkerConfig{Name: bus.ConsumerProfileTriggers, Consumer: cons, Concurrency: 4, Handler: e.handleRunEvent, Log: e.log})
	return nil
}

// Running consumes lifecycle events and ticks until ctx ends.
func (e *Engine) Running(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.tickLoop(ctx)
	}()
	err := e.worker.Run(ctx)
	<-done
	return err
}

func (e *Engine) tickLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.Tick)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.Tick(ctx)
		if time.Since(lastPrune) > time.Hour {
			if err := e.store.PruneDatasetChanges(ctx, keepChanges); err != nil && ctx.Err() == nil {
				e.log.Warn("dataset changes not pruned", "err", err)
			}
			lastPrune = time.Now()
		}
	}
}

// Tick fires the dataset-change triggers whose window closed and publishes
// again the commands of triggered runs still queued.
func (e *Engine) Tick(ctx context.Context) {
	fired, err := e.store.FireDatasetChanges(ctx)
	e.publish(ctx, "dataset changed", fired)
	if err != nil && ctx.Err() == nil {
		e.log.Warn("dataset-change triggers not all looked at", "err", err)
	}
	snaps, err := e.store.QueuedTriggeredRuns(ctx, e.cfg.RepublishAfter, repubMax)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("queued triggered runs not looked up", "err", err)
		}
		return
	}
	for _, snap := range snaps {
		if err := e.pub.StartExport(ctx, snap); err != nil {
			e.log.Warn("export command not published again", "tenant", snap.GetTenantId(), "run", snap.GetRunId(), "err", err)
		}
	}
}

func (e *Engine) handleRunEvent(ctx context.Context, msg jetstream.Msg) error {
	var ev ferryv1.RunEvent
	if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
		return bus.Permanent(fmt.Errorf("decode run event on %s: %w", msg.Subject(), err))
	}
	switch ev.GetRun().GetStatus() {
	case ferryv1.RunStatus_RUN_STATUS_QUEUED, ferryv1.RunStatus_RUN_STATUS_RUNNING, ferryv1.RunStatus_RUN_STATUS_AWAITING_APPROVAL:
		return nil
	}
	fired, err := e.store.RunEnded(ctx, ev.GetTenantId(), ev.GetRun())
	// Runs created before an error are published; the redelivered event
	// finds them claimed and starts the rest.
	e.publish(ctx, "run "+ev.GetRun().GetId()+" ended", fired)
	if err != nil {
		return fmt.Errorf("fire triggers after run %s: %w", ev.GetRun().GetId(), err)
	}
	return nil
}

// publish sends the commands of the runs triggers started. A command that
// cannot be published is left to the next tick's republish.
func (e *Engine) publish(ctx context.Context, why string, fired []store.Fired) {
	for _, f := range fired {
		switch {
		case f.Err != nil:
			e.log.Warn("trigger fired, profile cannot run", "profile", f.Profile, "cause", why, "err", f.Err)
		case f.Snap == nil:
			e.log.Info("trigger fired: poll requested", "profile", f.Profile, "cause", why)
		default:
			// A triggered run is a trace of its own, linked to what fired it.
			rctx, span := telemetry.Tracer().Start(ctx, "run "+f.Profile, trace.WithNewRoot(), trace.WithLinks(trace.LinkFromContext(ctx)),
				trace.WithAttributes(attribute.String("ferry.profile", f.Profile), attribute.String("ferry.run", f.Snap.GetRunId())))
			rctx = telemetry.WithRun(rctx, f.Snap.GetTenantId(), f.Snap.GetRunId())
			e.log.InfoContext(rctx, "trigger fired", "tenant", f.Snap.GetTenantId(), "run", f.Snap.GetRunId(), "profile", f.Profile, "cause", why)
			if err := e.pub.StartExport(rctx, f.Snap); err != nil {
				e.log.WarnContext(rctx, "export command not published; published again later", "tenant", f.Snap.GetTenantId(), "run", f.Snap.GetRunId(), "err", err)
			}
			span.End()
		}
	}
}
