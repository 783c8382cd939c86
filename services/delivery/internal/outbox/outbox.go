// Package outbox relays the change feed: the rows that apply transactions
// wrote to ferry.change_outbox are published in seq order as ChangeFeedEvent
// messages on ferry.changes.<tenant>.<dataset>, each with the message id
// "change/<seq>", and deleted once JetStream acknowledged them. A row
// committed before a crash is published after restart; published twice, it
// is stored once by the stream's duplicate window.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/orchestration"
)

// lockKey is the session advisory lock the relay holds: one relay publishes
// at a time across replicas, which keeps the feed in order.
const lockKey int64 = 0x6665727279_6f7574 // "ferry" "out"

// batch is how many rows one round reads.
const batch = 500

// Relay publishes the outbox.
type Relay struct {
	Pool *pgxpool.Pool
	JS   jetstream.JetStream
	Log  *slog.Logger
	// Poll is how often the relay looks for rows besides notifications, and
	// how often a replica without the lock tries to take it.
	Poll time.Duration
}

// MsgID is the Nats-Msg-Id of the change with sequence seq.
func MsgID(seq int64) string { return "change/" + strconv.FormatInt(seq, 10) }

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	poll := r.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	for ctx.Err() == nil {
		err := r.lead(ctx, poll)
		if err != nil && ctx.Err() == nil {
			r.Log.Warn("change feed relay interrupted", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
	return nil
}

// lead takes the relay lock on a dedicated connection and publishes while
// it holds it; it returns at once when another replica holds the lock.
func (r *Relay) lead(ctx context.Context, poll time.Duration) error {
	conn, err := r.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey).Scan(&locked); err != nil {
		conn.Release()
		return fmt.Errorf("take relay lock: %w", err)
	}
	if !locked {
		conn.Release()
		return nil
	}
	// The session holds the lock and listens: the connection is closed,
	// not returned to the pool, so neither outlives this relay.
	defer func() {
		c := conn.Hijack()
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+orchestration.OutboxChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	r.Log.Info("change feed relay leading")
	for {
		n, err := r.Drain(ctx, conn.Conn())
		if err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		wait, cancel := context.WithTimeout(ctx, poll)
		_, err = conn.Conn().WaitForNotification(wait)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// Drain publishes one batch of rows in seq order and deletes them; it
// returns how many it published. Callers must hold the relay lock (or be
// the only relay, as in tests).
func (r *Relay) Drain(ctx context.Context, conn *pgx.Conn) (int, error) {
	rows, err := conn.Query(ctx, `SELECT seq, tenant_name, dataset, op, key, fields, coalesce(run_id::text, ''), profile, created_at
		FROM ferry.change_outbox ORDER BY seq LIMIT $1`, batch)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*ferryv1.ChangeFeedEvent, error) {
		var (
			ev      ferryv1.ChangeFeedEvent
			created time.Time
		)
		err := row.Scan(&ev.Seq, &ev.Tenant, &ev.Dataset, &ev.Op, &ev.Key, &ev.Fields, &ev.Run, &ev.Profile, &created)
		ev.CommitTime = timestamppb.New(created)
		return &ev, err
	})
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	if len(events) == 0 {
		return 0, nil
	}
	// One at a time, each acknowledged before the next: a failed publish
	// stops the batch, so the feed never overtakes a change it lost.
	done := make([]int64, 0, len(events))
	var pubErr error
	for _, ev := range events {
		if err := bus.Publish(ctx, r.JS, bus.ChangeSubject(ev.GetTenant(), ev.GetDataset()), MsgID(ev.GetSeq()), ev); err != nil {
			pubErr = err
			break
		}
		done = append(done, ev.GetSeq())
	}
	if len(done) > 0 {
		// ctx may have ended with the last publish: deleting what was
		// published saves publishing it again.
		delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(delCtx, `DELETE FROM ferry.change_outbox WHERE seq = ANY($1)`, done); err != nil {
			return len(done), fmt.Errorf("delete published changes: %w", err)
		}
		r.Log.Debug("changes published", "changes", len(done), "last", done[len(done)-1])
	}
	if pubErr != nil {
		return len(done), fmt.Errorf("publish change %d: %w", events[len(done)].GetSeq(), pubErr)
	}
	return len(done), nil
}
