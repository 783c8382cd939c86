// Package deliver puts the files of assembled export runs at their
// destinations. Each (run, destination) is a row of ferry.deliveries; a
// worker leases a due row, makes one attempt, records it in
// ferry.delivery_attempts and, after a transient error, schedules the next
// attempt with exponential backoff and jitter. A run ends when every one of
// its deliveries has: it succeeds, and its incremental watermark moves, only
// when all of them succeeded.
//
// The schedule lives in PostgreSQL, so a restart or a crashed worker loses
// nothing: a lease that runs out makes the delivery due again. Workers wake
// on NOTIFY ferry_deliveries and poll besides.
package deliver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/destinations"
	"github.com/ferrydata/ferry/libs/exportfmt"
	"github.com/ferrydata/ferry/libs/secrets"
	libstore "github.com/ferrydata/ferry/libs/store"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/services/delivery/internal/send"
)

// Channel is the PostgreSQL NOTIFY channel that wakes the workers; the
// payload is a run id.
const Channel = "ferry_deliveries"

// Deliverer runs the delivery workers.
type Deliverer struct {
	Pool    *pgxpool.Pool
	JS      jetstream.JetStream
	Files   jetstream.ObjectStore
	Keyring *secrets.Keyring
	// Senders by destination kind: "sftp", "webhook", "nats".
	Senders map[string]send.Sender
	Log     *slog.Logger
	// PublicURL prefixes the download links of webhook and NATS notices
	// ("https://ferry.example.com"); without it links are paths.
	PublicURL string
	// Workers is how many deliveries one process attempts at once.
	Workers int
	// Poll is how often workers look for due deliveries besides NOTIFY.
	Poll time.Duration
	// Lease is how long a worker owns a delivery without renewing it.
	Lease time.Duration
	// AttemptTimeout bounds one attempt (a stalled server must not hold a
	// worker forever); an attempt that runs out is a transient error.
	AttemptTimeout time.Duration
}

// Run works until ctx ends; attempts in flight end with ctx and are
// recorded as interrupted, due again at once.
func (d *Deliverer) Run(ctx context.Context) error {
	if d.Workers < 1 {
		d.Workers = 1
	}
	if d.Poll <= 0 {
		d.Poll = 2 * time.Second
	}
	if d.Lease <= 0 {
		d.Lease = 5 * time.Minute
	}
	if d.AttemptTimeout <= 0 {
		d.AttemptTimeout = time.Hour
	}
	wake := make(chan struct{}, d.Workers)
	var wg sync.WaitGroup
	wg.Go(func() { d.listen(ctx, wake) })
	for range d.Workers {
		wg.Go(func() { d.work(ctx, wake) })
	}
	wg.Wait()
	return nil
}

// listen turns notifications into wake-ups, on a connection of its own so
// that it never holds one of the pool's. Polling covers the gaps.
func (d *Deliverer) listen(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		err := d.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		d.Log.Warn("listening for deliveries failed; polling meanwhile", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

func (d *Deliverer) listenOnce(ctx context.Context, wake chan<- struct{}) error {
	conn, err := pgx.ConnectConfig(ctx, d.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		for range cap(wake) {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}
}

func (d *Deliverer) work(ctx context.Context, wake <-chan struct{}) {
	t := time.NewTicker(d.Poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			c, ok, err := d.claim(ctx)
			if err != nil {
				if ctx.Err() == nil {
					d.Log.Error("claiming a delivery failed", "err", err)
				}
				break
			}
			if !ok {
				break
			}
			d.attempt(ctx, c)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// claimed is a delivery a worker holds the lease of.
type claimed struct {
	id, run, tenant uuid.UUID
	destID          *uuid.UUID
	dest            string
	attempts        int
	round           int
}

// claim leases the most overdue delivery, counting the attempt.
func (d *Deliverer) claim(ctx context.Context) (claimed, bool, error) {
	var c claimed
	err := d.Pool.QueryRow(ctx, `UPDATE ferry.deliveries SET lease_until = now() + $1::interval, attempts = attempts + 1, updated_at = now()
		WHERE id = (SELECT id FROM ferry.deliveries
			WHERE status = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
			ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id, run_id, tenant_id, destination_id, destination, attempts, round`, interval(d.Lease)).
		Scan(&c.id, &c.run, &c.tenant, &c.destID, &c.dest, &c.attempts, &c.round)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

func interval(t time.Duration) string { return fmt.Sprintf("%d milliseconds", t.Milliseconds()) }

// runInfo is what an attempt needs of the run.
type runInfo struct {
	status, tenantName, profile, dataset string
	version                              int64
	created                              time.Time
	outputs                              []*ferryv1.RunOutput
	deleted                              bool
	// trace is the run's stored trace context (telemetry.TraceContext).
	trace string
}

func (d *Deliverer) loadRun(ctx context.Context, run uuid.UUID) (runInfo, error) {
	var ri runInfo
	var outputs *string
	err := d.Pool.QueryRow(ctx, `SELECT r.status, t.name, r.profile_name, r.profile_version, r.dataset_name, r.created_at,
		r.outputs::text, r.outputs_deleted_at IS NOT NULL, r.trace_context
		FROM ferry.runs r JOIN ferry.tenants t ON t.id = r.tenant_id WHERE r.id = $1`, run).
		Scan(&ri.status, &ri.tenantName, &ri.profile, &ri.version, &ri.dataset, &ri.created, &outputs, &ri.deleted, &ri.trace)
	if err != nil {
		return ri, err
	}
	if outputs != nil {
		var list ferryv1.RunOutputs
		if err := protojson.Unmarshal([]byte(*outputs), &list); err != nil {
			return ri, fmt.Errorf("run %s: outputs: %w", run, err)
		}
		ri.outputs = list.GetOutputs()
	}
	return ri, nil
}

// attempt makes one attempt of a claimed delivery and records it.
func (d *Deliverer) attempt(ctx context.Context, c claimed) {
	bg := context.WithoutCancel(ctx)
	log := d.Log.With("tenant", c.tenant, "run", c.run, "destination", c.dest)
	ri, err := d.loadRun(ctx, c.run)
	if err != nil {
		log.Error("loading the run of a delivery failed", "err", err)
		d.release(bg, c)
		return
	}
	if ri.status != "running" {
		// Canceled, or ended by someone else: nothing to deliver.
		if _, err := d.Pool.Exec(bg, `UPDATE ferry.deliveries SET status = 'canceled', attempts = attempts - 1, lease_until = NULL,
			error = 'the run was ' || $2, updated_at = now() WHERE id = $1`, c.id, ri.status); err != nil {
			log.Error("recording a canceled delivery failed", "err", err)
		}
		return
	}
	// The attempt joins the run's trace: it is reached through PostgreSQL,
	// not through a message that would carry it.
	ctx, span := telemetry.Tracer().Start(telemetry.WithRun(telemetry.ContextWithTrace(ctx, ri.trace), c.tenant.String(), c.run.String()),
		"deliver", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("ferry.tenant", c.tenant.String()), attribute.String("ferry.run", c.run.String()),
			attribute.String("ferry.destination", c.dest)))
	defer span.End()
	bg = context.WithoutCancel(ctx)
	var number int
	var started time.Time
	if err := d.Pool.QueryRow(bg, `INSERT INTO ferry.delivery_attempts (delivery_id, number, started_at)
		SELECT $1, coalesce(max(number), 0) + 1, now() FROM ferry.delivery_attempts WHERE delivery_id = $1
		RETURNING number, started_at`, c.id).Scan(&number, &started); err != nil {
		log.ErrorContext(ctx, "recording a delivery attempt failed", "err", err)
		d.release(bg, c)
		return
	}
	spec, kind, locations, err := d.deliver(ctx, c, ri, number)
	span.SetAttributes(attribute.String("ferry.destination.kind", kind), attribute.Int("ferry.delivery.attempt", number))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	if err == nil {
		log.InfoContext(ctx, "delivered", "kind", kind, "attempt", number, "files", len(ri.outputs))
	}
	terminal, rerr := d.record(bg, c, number, spec, kind, locations, err, ctx.Err() != nil)
	if rerr != nil {
		log.ErrorContext(ctx, "recording a delivery attempt failed", "err", rerr)
		return
	}
	_ = bus.PublishProgress(bg, d.JS, c.tenant.String(), c.run.String(), fmt.Sprintf("delivery/%s/%d", c.id, number), &ferryv1.Progress{})
	if terminal {
		if err := d.Finalize(bg, c.run); err != nil {
			log.ErrorContext(ctx, "ending the run after its deliveries failed", "err", err)
		}
	}
}

// release gives a claim back without an attempt, due again shortly.
func (d *Deliverer) release(ctx context.Context, c claimed) {
	_, _ = d.Pool.Exec(ctx, `UPDATE ferry.deliveries SET attempts = attempts - 1, lease_until = NULL,
		next_attempt_at = now() + interval '5 seconds' WHERE id = $1`, c.id)
}

// deliver makes the attempt. It renews the lease while it runs.
func (d *Deliverer) deliver(ctx context.Context, c claimed, ri runInfo, number int) (*ferryv1.DestinationSpec, string, []string, error) {
	dest, err := d.destination(ctx, c)
	if err != nil {
		return nil, "", nil, err
	}
	spec, err := dest.Spec(d.Keyring)
	if err != nil {
		if errors.Is(err, secrets.ErrNoKey) {
			return nil, dest.Kind, nil, send.Fail(fmt.Errorf("destination %s has credentials but this server has no secret key (set %s or %s)",
				dest.Name, secrets.EnvKey, secrets.EnvKeyFile))
		}
		return nil, dest.Kind, nil, send.Fail(err)
	}
	sender := d.Senders[dest.Kind]
	if sender == nil {
		return spec, dest.Kind, nil, send.Fail(fmt.Errorf("no sender for %q destinations", dest.Kind))
	}
	if ri.deleted {
		return spec, dest.Kind, nil, send.Fail(errors.New("the run's files were deleted after their retention period"))
	}
	job := send.Job{TenantID: c.tenant.String(), TenantName: ri.tenantName, Run: c.run.String(), Profile: ri.profile,
		Version: ri.version, Dataset: ri.dataset, Time: ri.created, Attempt: number, Round: c.round}
	for _, o := range ri.outputs {
		job.Files = append(job.Files, d.file(c, o))
	}
	actx, cancel := context.WithTimeoutCause(ctx, d.AttemptTimeout, fmt.Errorf("the attempt took longer than %s", d.AttemptTimeout))
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { d.renew(actx, c.id) })
	defer wg.Wait()
	defer cancel()
	locations, err := sender.Send(actx, dest.Name, spec, job)
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		// The attempt's own deadline: say so, and try again later.
		err = send.Retry(fmt.Errorf("%v: %w", context.Cause(actx), err))
	}
	return spec, dest.Kind, locations, err
}

// destination finds the delivery's destination: by id, or by name when it
// did not exist when the run was assembled.
func (d *Deliverer) destination(ctx context.Context, c claimed) (*destinations.Loaded, error) {
	if c.destID != nil {
		dest, err := destinations.GetByID(ctx, d.Pool, *c.destID)
		if errors.Is(err, destinations.ErrNotFound) {
			return nil, send.Fail(fmt.Errorf("destination %s was deleted", c.dest))
		}
		return dest, err
	}
	dest, err := destinations.Get(ctx, d.Pool, c.tenant, c.dest)
	if errors.Is(err, destinations.ErrNotFound) {
		return nil, send.Fail(fmt.Errorf("destination %s does not exist", c.dest))
	}
	if err != nil {
		return nil, err
	}
	_, err = d.Pool.Exec(ctx, `UPDATE ferry.deliveries SET destination_id = $2, kind = $3 WHERE id = $1`, c.id, dest.ID, dest.Kind)
	return dest, err
}

// file is a run's output as a sender sees it.
func (d *Deliverer) file(c claimed, o *ferryv1.RunOutput) send.File {
	name := o.GetName()
	return send.File{
		Name: name, Size: o.GetSize(), SHA256: o.GetSha256(), ContentType: o.GetContentType(), Rows: o.GetRows(),
		Role: o.GetRole(), Format: o.GetFormat(),
		Open: func(ctx context.Context) (io.ReadCloser, error) {
			return d.Files.Get(ctx, exportfmt.OutputObject(c.run.String(), name))
		},
		Link: func(ctx context.Context, ttl time.Duration) (string, error) {
			if ttl <= 0 {
				ttl = 7 * 24 * time.Hour
			}
			run := c.run
			token, _, err := libstore.InsertShareLink(ctx, d.Pool, c.tenant, &run, nil, name, ttl)
			if err != nil {
				return "", err
			}
			return strings.TrimSuffix(d.PublicURL, "/") + "/v1/downloads/" + token, nil
		},
	}
}

// renew extends the lease until ctx ends.
func (d *Deliverer) renew(ctx context.Context, id uuid.UUID) {
	t := time.NewTicker(d.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := d.Pool.Exec(ctx, `UPDATE ferry.deliveries SET lease_until = now() + $2::interval WHERE id = $1`, id, interval(d.Lease)); err != nil && ctx.Err() == nil {
				d.Log.Warn("renewing a delivery lease failed", "delivery", id, "err", err)
			}
		}
	}
}

// Backoff is the wait after the attempt-th failed attempt: exponential
// from the policy's initial wait, doubling, capped, with ±20% jitter.
func Backoff(r destinations.Retry, attempt int) time.Duration {
	b := &backoff.ExponentialBackOff{InitialInterval: r.Initial, RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: r.Max}
	b.Reset()
	var w time.Duration
	for range max(attempt, 1) {
		w = b.NextBackOff()
	}
	return w
}

// record writes the attempt's outcome and says whether the delivery ended.
func (d *Deliverer) record(ctx context.Context, c claimed, number int, spec *ferryv1.DestinationSpec, kind string, locations []string,
	sendErr error, interrupted bool) (bool, error) {
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	var (
		status, outcome, class, msg = "succeeded", "succeeded", "", strings.Join(locations, ", ")
		next                        *time.Time
	)
	switch {
	case sendErr == nil:
	case interrupted:
		// Stopping: the attempt did not count against the destination.
		now := time.Now()
		status, outcome, class, msg, next = "pending", "retry", string(send.Transient), "interrupted: the delivery service stopped", &now
	default:
		class, msg = string(send.ClassOf(sendErr)), sendErr.Error()
		retry := destinations.RetryOf(spec)
		if send.ClassOf(sendErr) == send.Transient && c.attempts < retry.MaxAttempts {
			t := time.Now().Add(Backoff(retry, c.attempts))
			status, outcome, next = "pending", "retry", &t
		} else {
			status, outcome = "failed", "failed"
			if send.ClassOf(sendErr) == send.Transient {
				msg = fmt.Sprintf("gave up after %d attempts: %s", c.attempts, msg)
			}
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE ferry.delivery_attempts SET finished_at = now(), outcome = $3, error_class = $4, message = $5, next_attempt_at = $6
		WHERE delivery_id = $1 AND number = $2`, c.id, number, outcome, class, msg, next); err != nil {
		return false, err
	}
	errText := ""
	if sendErr != nil {
		errText = msg
	}
	if locations == nil {
		locations = []string{}
	}
	if _, err := tx.Exec(ctx, `UPDATE ferry.deliveries SET status = $2, error = $3, next_attempt_at = coalesce($4, next_attempt_at),
		lease_until = NULL, kind = CASE WHEN $5 = '' THEN kind ELSE $5 END,
		locations = CASE WHEN $2 = 'succeeded' THEN $6 ELSE locations END,
		attempts = CASE WHEN $7 THEN attempts - 1 ELSE attempts END, updated_at = now() WHERE id = $1`,
		c.id, status, errText, next, kind, locations, interrupted); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	if !interrupted {
		telemetry.DeliveryAttempt(ctx, cmp.Or(kind, "unknown"), outcome, class)
	}
	if sendErr != nil && !interrupted {
		d.Log.Warn("delivery attempt failed", "tenant", c.tenant, "run", c.run, "destination", c.dest, "attempt", number,
			"class", class, "outcome", outcome, "err", msg)
	}
	return status != "pending", nil
}

// Finalize ends a running export run whose deliveries have all ended:
// succeeded when every one succeeded (moving the watermark), failed
// otherwise, naming each failed destination. It is a no-op while a
// delivery is pending or once the run has ended.
func (d *Deliverer) Finalize(ctx context.Context, run uuid.UUID) error {
	status, tenant, err := finalize(ctx, d.Pool, run)
	if err != nil || status == "" {
		return err
	}
	d.Log.Info("export run delivered", "tenant", tenant, "run", run, "status", status)
	return bus.PublishProgress(ctx, d.JS, tenant, run.String(), "exported/"+status,
		&ferryv1.Progress{Event: &ferryv1.Progress_RunApplied{RunApplied: &ferryv1.RunApplied{}}})
}

func finalize(ctx context.Context, pool *pgxpool.Pool, run uuid.UUID) (string, string, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return "", "", err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 2))`, run.String()); err != nil {
		return "", "", err
	}
	var status, tenant string
	if err := tx.QueryRow(ctx, `SELECT status, tenant_id::text FROM ferry.runs WHERE id = $1`, run).Scan(&status, &tenant); err != nil {
		return "", "", err
	}
	if status != "running" {
		return "", "", nil
	}
	var pending int
	var failures []string
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'),
		coalesce(array_agg(destination || ': ' || error ORDER BY destination) FILTER (WHERE status <> 'succeeded'), '{}')
		FROM ferry.deliveries WHERE run_id = $1`, run).Scan(&pending, &failures); err != nil {
		return "", "", err
	}
	if pending > 0 {
		return "", "", nil
	}
	if len(failures) > 0 {
		status = "failed"
		if _, err := tx.Exec(ctx, `UPDATE ferry.runs SET status = 'failed', error = $2, finished_at = now(),
			note = CASE WHEN note = 'redelivering' THEN '' ELSE note END WHERE id = $1`,
			run, "delivery failed: "+strings.Join(failures, "; ")); err != nil {
			return "", "", err
		}
	} else {
		status = "succeeded"
		if err := succeed(ctx, tx, run); err != nil {
			return "", "", err
		}
	}
	return status, tenant, tx.Commit(ctx)
}

// succeed ends a run as succeeded and, for an incremental run, moves its
// profile's watermark to the snapshot it read — never behind the
// watermark of a later run that succeeded first.
func succeed(ctx context.Context, tx pgx.Tx, run uuid.UUID) error {
	if _, err := tx.Exec(ctx, `UPDATE ferry.runs SET status = 'succeeded', error = '', finished_at = now(),
		note = CASE WHEN note = 'redelivering' THEN '' ELSE note END WHERE id = $1`, run); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE ferry.export_profiles p SET watermark = r.watermark, watermark_run_seq = r.seq
		FROM ferry.runs r WHERE r.id = $1 AND r.advance_watermark AND p.id = r.export_profile_id
		AND (p.watermark_run_seq IS NULL OR p.watermark_run_seq < r.seq)`, run)
	return err
}

// Succeed ends a run that has no destinations, in the caller's transaction.
func Succeed(ctx context.Context, tx pgx.Tx, run uuid.UUID) error { return succeed(ctx, tx, run) }
