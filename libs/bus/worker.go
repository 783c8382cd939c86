package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/ferrydata/ferry/libs/telemetry"
)

// Handler processes one message. It returns nil when the message's effect is
// done (the worker then acks), an error wrapped with Permanent when the
// message can never succeed (the worker terminates it), and any other error
// for a transient failure (the worker naks it with a growing delay).
type Handler func(ctx context.Context, msg jetstream.Msg) error

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	// Name appears in logs and span names, and is the stage label of
	// ferry.chunk.duration.
	Name        string
	Consumer    jetstream.Consumer
	Concurrency int
	Handler     Handler
	// Heartbeat is how often a running handler's message is marked in
	// progress, so that slow work is not redelivered to another worker.
	Heartbeat time.Duration
	// CancelOnStop cancels running handlers when the worker stops, for long
	// handlers that can stop at a safe point and be redelivered; otherwise
	// handlers in flight finish first.
	CancelOnStop bool
	// FailRuns, when set, fails the run of a message that fails
	// permanently (a Permanent error, or a panic of the handler): without
	// it the run would wait for ever for that message's effect. The run is
	// the one the message's Ferry-Tenant and Ferry-Run headers name (every
	// message Publish sends about a run has them), or for chunks, records
	// and export rows and parts the last two tokens of the subject. The
	// failure is published on the run's progress subject through FailRuns;
	// while that fails, the message is retried instead of terminated, so
	// the failure is not lost. Consumers whose messages are not a run's
	// work (progress, lifecycle events) leave it nil.
	FailRuns jetstream.JetStream
	Log      *slog.Logger
}

// Worker pulls messages from a durable consumer and runs up to Concurrency
// handlers at once. Each message is handled in a consumer span, a child of
// the trace context its headers carry, on a context marked with the
// message's tenant and run (telemetry.WithRun); its duration and outcome
// are recorded in ferry.chunk.duration with stage = Name.
type Worker struct {
	cfg WorkerConfig
}

// NewWorker returns a worker; Run starts it.
func NewWorker(cfg WorkerConfig) *Worker {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	return &Worker{cfg: cfg}
}

// Run fetches and handles messages until ctx ends. Then it stops fetching and
// waits for the handlers in flight to finish (they run on a context that is
// not canceled by ctx) before it returns: a drain, as on SIGTERM.
func (w *Worker) Run(ctx context.Context) error {
	defer TrackConsumer(w.cfg.Consumer)()
	slots := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	work := context.WithoutCancel(ctx)
	if w.cfg.CancelOnStop {
		work = ctx
	}
	for {
		// Wait for a free slot, but never fetch once stopping began.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		if ctx.Err() != nil {
			<-slots
			return nil
		}
		free := 1
	more:
		for free < w.cfg.Concurrency {
			select {
			case slots <- struct{}{}:
				free++
			default:
				break more
			}
		}
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		batch, err := w.cfg.Consumer.Fetch(free, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			for range free {
				<-slots
			}
			if ctx.Err() != nil {
				break
			}
			w.cfg.Log.Warn("fetch failed", "worker", w.cfg.Name, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				w.handle(work, msg)
			}()
		}
		cancel()
		for range free - got {
			<-slots
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil &&
			!errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			w.cfg.Log.Warn("fetch batch failed", "worker", w.cfg.Name, "err", err)
		}
	}
	return nil
}

func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	ctx, span := w.startConsume(ctx, msg)
	outcome := "ok"
	defer func() {
		span.SetAttributes(attribute.String("ferry.outcome", outcome))
		span.End()
		telemetry.ChunkDone(ctx, w.cfg.Name, outcome, time.Since(start))
	}()
	hctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(w.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	err := w.call(hctx, msg)
	close(done)
	stop()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, truncate(err.Error(), 200))
	}
	switch {
	case err == nil:
		if aerr := msg.DoubleAck(actx); aerr != nil {
			// The effect is committed; a redelivery will find it and ack.
			w.cfg.Log.WarnContext(ctx, "ack failed", "worker", w.cfg.Name, "subject", msg.Subject(), "err", aerr)
		}
	case IsPermanent(err):
		outcome = "failed"
		w.cfg.Log.ErrorContext(ctx, "message failed permanently", "worker", w.cfg.Name, "subject", msg.Subject(), "err", err)
		if ferr := w.failRun(actx, msg, err); ferr != nil {
			outcome = "retry"
			n, delay := retryDelay(msg)
			w.cfg.Log.WarnContext(ctx, "the run of a failed message could not be failed; retrying the message", "worker", w.cfg.Name,
				"subject", msg.Subject(), "delivery", n, "retry_in", delay, "err", ferr)
			_ = msg.NakWithDelay(delay)
			return
		}
		_ = msg.TermWithReason(truncate(err.Error(), 200))
	case ctx.Err() != nil:
		// Stopping: hand the message back at once for another worker.
		outcome = "retry"
		_ = msg.Nak()
	default:
		outcome = "retry"
		n, delay := retryDelay(msg)
		w.cfg.Log.WarnContext(ctx, "message failed, retrying", "worker", w.cfg.Name, "subject", msg.Subject(), "delivery", n, "retry_in", delay, "err", err)
		_ = msg.NakWithDelay(delay)
	}
}

// retryDelay is how long a failed message waits before it is delivered
// again: growing with its deliveries, at most a minute.
func retryDelay(msg jetstream.Msg) (deliveries uint64, delay time.Duration) {
	n := uint64(1)
	if md, err := msg.Metadata(); err == nil {
		n = md.NumDelivered
	}
	return n, min(time.Duration(1<<min(n-1, 6))*time.Second, time.Minute)
}

// failRun fails the run of a message that failed permanently, with FailRuns
// set; it does nothing for a message that names no run.
func (w *Worker) failRun(ctx context.Context, msg jetstream.Msg, cause error) error {
	if w.cfg.FailRuns == nil {
		return nil
	}
	var tenant, run string
	if h := msg.Headers(); h != nil {
		tenant, run = h.Get(HeaderTenant), h.Get(HeaderRun)
	}
	if tenant == "" || run == "" {
		var ok bool
		if tenant, run, ok = RunOfSubject(msg.Subject()); !ok {
			return nil
		}
	}
	w.cfg.Log.ErrorContext(ctx, "failing the run of a message that failed permanently", "worker", w.cfg.Name, "tenant", tenant, "run", run)
	return PublishFailed(ctx, w.cfg.FailRuns, tenant, run, truncate(cause.Error(), 1000))
}

// call runs the handler, turning a panic into a permanent error so that one
// poison message cannot crash the process.
func (w *Worker) call(ctx context.Context, msg jetstream.Msg) (err error) {
	defer func() {
		if r := recover(); r != nil {
			w.cfg.Log.ErrorContext(ctx, "handler panic", "worker", w.cfg.Name, "panic", r, "stack", string(debug.Stack()))
			err = Permanent(fmt.Errorf("internal error while handling %s: %v", msg.Subject(), r))
		}
	}()
	return w.cfg.Handler(ctx, msg)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// RunWorkers runs the workers side by side until ctx ends and each has
// drained; it returns the first error any of them returned.
func RunWorkers(ctx context.Context, workers ...*Worker) error {
	errc := make(chan error, len(workers))
	for _, w := range workers {
		go func() { errc <- w.Run(ctx) }()
	}
	var first error
	for range workers {
		if err := <-errc; first == nil {
			first = err
		}
	}
	return first
}
