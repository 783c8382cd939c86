// Package coordinator is the profile service's side of the bus: it creates
// runs for other services, folds progress events into runs, asks delivery
// to apply a run when every chunk of its manifest is staged, and announces
// lifecycle events.
package coordinator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// Runs is what the coordinator needs of the store.
type Runs interface {
	CreateRun(ctx context.Context, req *ferryv1.RunCreateRequest) (*ferryv1.Run, *ferryv1.RunSnapshot, error)
	MarkStarted(ctx context.Context, runID string, f *ferryv1.RunFile) error
	SetManifest(ctx context.Context, runID string, chunks int64) error
	MarkFailed(ctx context.Context, runID, reason string) (*store.RunRow, error)
	Refresh(ctx context.Context, runID string) (*ferryv1.RunSnapshot, error)
	Applied(ctx context.Context, runID string) (*store.RunRow, error)
	Announced(ctx context.Context, runID, status string) (bool, error)
	MarkAnnounced(ctx context.Context, runID, status string) error
}

// Coordinator runs the profile service's bus work.
type Coordinator struct {
	runs    Runs
	nc      *nats.Conn
	js      jetstream.JetStream
	log     *slog.Logger
	sub     *nats.Subscription
	worker  *bus.Worker
	ackWait time.Duration
}

// New returns a coordinator.
func New(runs Runs, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger, ackWait time.Duration) *Coordinator {
	return &Coordinator{runs: runs, nc: nc, js: js, log: log, ackWait: ackWait}
}

// Starting declares the consumer and starts answering run creation requests.
func (c *Coordinator) Starting(ctx context.Context) error {
	if err := bus.EnsureStreams(ctx, c.js); err != nil {
		return err
	}
	cons, err := bus.EnsureConsumer(ctx, c.js, bus.StreamProgress, jetstream.ConsumerConfig{
		Durable: bus.ConsumerProfile, FilterSubject: "ferry.progress.>", MaxAckPending: 1000, AckWait: c.ackWait,
	})
	if err != nil {
		return err
	}
	c.worker = bus.NewWorker(bus.WorkerConfig{Name: "profile-progress", Consumer: cons, Concurrency: 8, Handler: c.handleProgress, Log: c.log})
	c.sub, err = c.nc.QueueSubscribe(bus.RunCreateSubjects, "profile", c.handleCreate)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", bus.RunCreateSubjects, err)
	}
	return nil
}

// Running folds progress events until ctx ends.
func (c *Coordinator) Running(ctx context.Context) error { return c.worker.Run(ctx) }

// Stopping stops answering requests, finishing those in flight.
func (c *Coordinator) Stopping(context.Context) error {
	if c.sub != nil {
		return c.sub.Drain()
	}
	return nil
}

func (c *Coordinator) handleCreate(m *nats.Msg) {
	// The run stores the requester's trace context (see ingest's runs.Client).
	ctx := bus.ExtractTrace(context.Background(), m.Header)
	var req ferryv1.RunCreateRequest
	reply := &ferryv1.RunCreateReply{}
	if err := proto.Unmarshal(m.Data, &req); err != nil {
		reply.Code, reply.Message = int32(errs.Code(errs.Invalid("bad request"))), "bad run create request"
	} else if m.Subject != bus.RunCreateSubject(req.GetTenantId()) {
		c.log.Warn("run create refused: subject and payload name different tenants", "subject", m.Subject, "tenant", req.GetTenantId())
		reply.Code, reply.Message = int32(errs.Code(errs.Permission("denied"))), "the subject's tenant and the request's tenant differ"
	} else if run, snap, err := c.runs.CreateRun(ctx, &req); err != nil {
		code := errs.Code(err)
		reply.Code, reply.Message = int32(code), err.Error()
		if errs.KindOf(err) == errs.KindUnknown {
			c.log.Error("run create failed", "tenant", req.GetTenantId(), "profile", req.GetProfile(), "err", err)
			reply.Message = "internal error"
		}
	} else {
		reply.Run, reply.Snapshot = run, snap
		c.log.InfoContext(ctx, "run created", "tenant", req.GetTenantId(), "run", run.GetId(), "profile", run.GetProfile(), "version", run.GetProfileVersion())
	}
	data, _ := proto.Marshal(reply)
	if err := m.Respond(data); err != nil {
		c.log.Warn("run create reply failed", "err", err)
	}
}

func (c *Coordinator) handleProgress(ctx context.Context, msg jetstream.Msg) error {
	var p ferryv1.Progress
	if err := proto.Unmarshal(msg.Data(), &p); err != nil {
		return bus.Permanent(fmt.Errorf("decode progress on %s: %w", msg.Subject(), err))
	}
	var (
		ended *store.RunRow
		ready *ferryv1.RunSnapshot
		err   error
	)
	switch ev := p.GetEvent().(type) {
	case *ferryv1.Progress_Started:
		err = c.runs.MarkStarted(ctx, p.GetRunId(), ev.Started.GetFile())
	case *ferryv1.Progress_Manifest:
		if err = c.runs.SetManifest(ctx, p.GetRunId(), ev.Manifest.GetChunks()); err == nil {
			telemetry.Rows(ctx, telemetry.StageIngest, "read", ev.Manifest.GetRows())
			ready, err = c.runs.Refresh(ctx, p.GetRunId())
		}
	case *ferryv1.Progress_Applied:
		ready, err = c.runs.Refresh(ctx, p.GetRunId())
	case *ferryv1.Progress_RunApplied:
		ended, err = c.runs.Applied(ctx, p.GetRunId())
	case *ferryv1.Progress_Failed:
		ended, err = c.runs.MarkFailed(ctx, p.GetRunId(), ev.Failed.GetReason())
	}
	if err == nil && ready != nil {
		if ready.GetTenantId() != p.GetTenantId() {
			return bus.Permanent(fmt.Errorf("progress of run %s names tenant %s, the run belongs to %s", p.GetRunId(), p.GetTenantId(), ready.GetTenantId()))
		}
		// Published before the event is acknowledged; a redelivered event
		// publishes it again under the same message id.
		err = RequestApply(ctx, c.js, ready, false)
	}
	if err != nil {
		return fmt.Errorf("fold progress of run %s: %w", p.GetRunId(), err)
	}
	if ended != nil {
		return c.ended(ctx, p.GetTenantId(), ended.Run)
	}
	return nil
}

// ended counts, logs and announces a run that ended (or awaits approval),
// once per status: every later report of the run's end, such as a progress
// event redelivered after JetStream's duplicate window, finds it announced.
// A crash between publishing and recording publishes again at once, under
// the same message id, which JetStream drops.
func (c *Coordinator) ended(ctx context.Context, tenant string, run *ferryv1.Run) error {
	status := store.StatusName(run.GetStatus())
	done, err := c.runs.Announced(ctx, run.GetId(), status)
	if err != nil || done {
		return err
	}
	telemetry.RunFinished(ctx, run)
	c.log.InfoContext(ctx, "run ended", "tenant", tenant, "run", run.GetId(), "status", status,
		"read", run.GetCounts().GetRead(), "rejected", run.GetCounts().GetRejected())
	if err := c.announce(ctx, tenant, run); err != nil {
		return err
	}
	return c.runs.MarkAnnounced(ctx, run.GetId(), status)
}

// RequestApply asks delivery to apply a run whose chunks are all staged.
func RequestApply(ctx context.Context, js jetstream.JetStream, snap *ferryv1.RunSnapshot, approved bool) error {
	id := "apply/" + snap.GetRunId()
	if approved {
		id += "/approved"
	}
	return bus.Publish(ctx, js, bus.ApplyCommandSubject(snap.GetTenantId()), id, &ferryv1.ApplyCommand{Run: snap, Approved: approved})
}

// announce publishes a run's lifecycle event.
func (c *Coordinator) announce(ctx context.Context, tenant string, run *ferryv1.Run) error {
	status := store.StatusName(run.GetStatus())
	subject := bus.RunEventSubject(tenant, run.GetProfile(), status)
	return bus.Publish(ctx, c.js, subject, "run/"+run.GetId()+"/"+status, &ferryv1.RunEvent{TenantId: tenant, Run: run})
}

// Watch implements api.Notifier.
func (c *Coordinator) Watch(tenantID, runID, profile string) (<-chan struct{}, func(), error) {
	ch := make(chan struct{}, 1)
	notify := func(*nats.Msg) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	s1, err := c.nc.Subscribe(bus.ProgressSubject(tenantID, runID), notify)
	if err != nil {
		return nil, nil, err
	}
	s2, err := c.nc.Subscribe("ferry.runs."+tenantID+"."+profile+".>", notify)
	if err != nil {
		_ = s1.Unsubscribe()
		return nil, nil, err
	}
	return ch, func() { _ = s1.Unsubscribe(); _ = s2.Unsubscribe() }, nil
}

// Canceled implements api.Notifier: the run's ingest stops splitting.
func (c *Coordinator) Canceled(ctx context.Context, tenantID, runID string) error {
	return bus.PublishProgress(ctx, c.js, tenantID, runID, "canceled", &ferryv1.Progress{Event: &ferryv1.Progress_Canceled{Canceled: &ferryv1.RunCanceled{}}})
}

// Approved implements api.Notifier: delivery applies the approved run.
func (c *Coordinator) Approved(ctx context.Context, snap *ferryv1.RunSnapshot) error {
	return RequestApply(ctx, c.js, snap, true)
}

// StartImport implements api.Notifier: it stores data as the run's file and
// asks ingest to import it, as an upload does.
func (c *Coordinator) StartImport(ctx context.Context, snap *ferryv1.RunSnapshot, file io.Reader) error {
	files, err := c.js.ObjectStore(ctx, bus.FilesBucket)
	if err != nil {
		return fmt.Errorf("open object store: %w", err)
	}
	if _, err := files.Put(ctx, jetstream.ObjectMeta{Name: snap.GetRunId()}, file); err != nil {
		return fmt.Errorf("store file of run %s: %w", snap.GetRunId(), err)
	}
	return bus.Publish(ctx, c.js, bus.ImportCommandSubject(snap.GetTenantId()), "import/"+snap.GetRunId(),
		&ferryv1.ImportCommand{Run: snap, Object: snap.GetRunId(), ReportFile: true})
}

// StartExport implements api.ExportBus.
func (c *Coordinator) StartExport(ctx context.Context, snap *ferryv1.ExportSnapshot) error {
	return bus.Publish(ctx, c.js, bus.ExportCommandSubject(snap.GetTenantId()), "export/"+snap.GetRunId(), &ferryv1.ExportCommand{Run: snap})
}

// OpenFile implements api.ExportBus.
func (c *Coordinator) OpenFile(ctx context.Context, name string) (io.ReadCloser, error) {
	files, err := c.js.ObjectStore(ctx, bus.FilesBucket)
	if err != nil {
		return nil, err
	}
	return files.Get(ctx, name)
}
