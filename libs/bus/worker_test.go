package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/testkit"
)

func setup(t *testing.T, ackWait time.Duration) (jetstream.JetStream, jetstream.Consumer) {
	ns := testkit.NATS(t)
	nc, err := bus.Connect("", ns, "test", testkit.Log(t))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, bus.EnsureStreams(ctx, js))
	require.NoError(t, bus.EnsureStreams(ctx, js), "declaring twice is fine")
	cons, err := bus.EnsureConsumer(ctx, js, bus.StreamChunks, jetstream.ConsumerConfig{Durable: "t", FilterSubject: "ferry.chunks.>", AckWait: ackWait})
	require.NoError(t, err)
	return js, cons
}

func publishN(t *testing.T, js jetstream.JetStream, n int) {
	for i := range n {
		require.NoError(t, bus.Publish(context.Background(), js, bus.ChunkSubject("t1", "r1"), bus.MsgID("chunk", "r1", int64(i)), wrapperspb.Int64(int64(i))))
	}
}

func pending(t *testing.T, cons jetstream.Consumer) (uint64, int) {
	info, err := cons.Info(context.Background())
	require.NoError(t, err)
	return info.NumPending, info.NumAckPending
}

func TestPublishDeduplicates(t *testing.T) {
	js, cons := setup(t, time.Second)
	publishN(t, js, 3)
	publishN(t, js, 3)
	// The stream's own count: every publish above was acknowledged, so it
	// is exact now (a consumer's pending count may lag behind).
	s, err := js.Stream(context.Background(), bus.StreamChunks)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 3, info.State.Msgs, "the same message ids are stored once")
	require.Eventually(t, func() bool { n, _ := pending(t, cons); return n == 3 }, 5*time.Second, 10*time.Millisecond)
}

func TestWorkerAcksRetriesAndTerminates(t *testing.T) {
	js, cons := setup(t, time.Second)
	publishN(t, js, 10)
	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		done atomic.Int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	w := bus.NewWorker(bus.WorkerConfig{Name: "t", Consumer: cons, Concurrency: 3, Log: testkit.Log(t), Handler: func(_ context.Context, m jetstream.Msg) error {
		var v wrapperspb.Int64Value
		require.NoError(t, proto.Unmarshal(m.Data(), &v))
		mu.Lock()
		seen[v.Value]++
		attempt := seen[v.Value]
		mu.Unlock()
		switch {
		case v.Value == 3 && attempt == 1:
			return errors.New("transient") // naked, comes back
		case v.Value == 5:
			return bus.Permanent(errors.New("poison")) // terminated, never back
		case v.Value == 7 && attempt == 1:
			panic("boom") // recovered as permanent
		}
		done.Add(1)
		return nil
	}})
	go func() {
		require.Eventually(t, func() bool { return done.Load() == 8 }, 30*time.Second, 20*time.Millisecond)
		time.Sleep(1500 * time.Millisecond) // longer than AckWait: nothing may come back
		cancel()
	}()
	require.NoError(t, w.Run(ctx))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 2, seen[3], "a transient failure is retried")
	require.Equal(t, 1, seen[5], "a permanent failure is not")
	require.Equal(t, 1, seen[7], "a panic is permanent")
	for _, v := range []int64{0, 1, 2, 4, 6, 8, 9} {
		require.Equal(t, 1, seen[v], "message %d handled once", v)
	}
	n, ack := pending(t, cons)
	require.Zero(t, n)
	require.Zero(t, ack)
}

// TestWorkerDrains: stopping lets handlers in flight finish and ack, and
// fetches nothing more.
func TestWorkerDrains(t *testing.T) {
	js, cons := setup(t, time.Second)
	publishN(t, js, 6)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, 6)
	var finished atomic.Int64
	w := bus.NewWorker(bus.WorkerConfig{Name: "t", Consumer: cons, Concurrency: 2, Log: testkit.Log(t), Handler: func(context.Context, jetstream.Msg) error {
		started <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		finished.Add(1)
		return nil
	}})
	errc := make(chan error)
	go func() { errc <- w.Run(ctx) }()
	<-started
	<-started
	cancel()
	require.NoError(t, <-errc)
	require.EqualValues(t, 2, finished.Load(), "the two in flight finished before Run returned")
	n, ack := pending(t, cons)
	require.EqualValues(t, 4, n, "the rest stays in the stream for another worker")
	require.Zero(t, ack)
}

// TestWorkerCancelOnStopHandsBack: a long handler that stops at a safe point
// is handed back at once, not after the ack wait.
func TestWorkerCancelOnStopHandsBack(t *testing.T) {
	js, cons := setup(t, time.Minute)
	publishN(t, js, 1)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	w := bus.NewWorker(bus.WorkerConfig{Name: "t", Consumer: cons, Concurrency: 1, CancelOnStop: true, Log: testkit.Log(t), Handler: func(hctx context.Context, _ jetstream.Msg) error {
		close(started)
		<-hctx.Done()
		return fmt.Errorf("stopped: %w", hctx.Err())
	}})
	errc := make(chan error)
	go func() { errc <- w.Run(ctx) }()
	<-started
	cancel()
	require.NoError(t, <-errc)

	got := make(chan struct{}, 1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	w2 := bus.NewWorker(bus.WorkerConfig{Name: "t2", Consumer: cons, Concurrency: 1, Log: testkit.Log(t), Handler: func(context.Context, jetstream.Msg) error {
		got <- struct{}{}
		return nil
	}})
	go func() { _ = w2.Run(ctx2) }()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the handed-back message did not come back before the one-minute ack wait")
	}
}

// TestWorkerFailsRunOfTerminatedMessage: with FailRuns, a message that fails
// permanently or panics fails its run, named by the message's headers or,
// for a message without them, by its subject; the run's progress subject
// carries the failure with the reason.
func TestWorkerFailsRunOfTerminatedMessage(t *testing.T) {
	js, cons := setup(t, time.Second)
	ctx := context.Background()
	// These payloads name no run, so no Ferry-Run header: the subject names
	// it. r1 fails permanently, r2 panics, r3 succeeds.
	require.NoError(t, bus.Publish(ctx, js, bus.ChunkSubject("t1", "r1"), "c1", wrapperspb.Int64(1)))
	require.NoError(t, bus.Publish(ctx, js, bus.ChunkSubject("t1", "r2"), "c2", wrapperspb.Int64(2)))
	require.NoError(t, bus.Publish(ctx, js, bus.ChunkSubject("t1", "r3"), "c3", wrapperspb.Int64(3)))
	// Junk on a run's subject, with no headers at all.
	_, err := js.Publish(ctx, bus.ChunkSubject("t2", "r4"), []byte("not a chunk"))
	require.NoError(t, err)
	// The headers name the run when they are there.
	data, err := proto.Marshal(wrapperspb.Int64(1))
	require.NoError(t, err)
	_, err = js.PublishMsg(ctx, &nats.Msg{Subject: bus.ChunkSubject("t1", "r5"), Data: data,
		Header: nats.Header{bus.HeaderTenant: {"t9"}, bus.HeaderRun: {"r9"}}})
	require.NoError(t, err)

	progress, err := bus.EnsureConsumer(ctx, js, bus.StreamProgress, jetstream.ConsumerConfig{Durable: "p", FilterSubject: "ferry.progress.>"})
	require.NoError(t, err)
	var handled atomic.Int64
	w := bus.NewWorker(bus.WorkerConfig{Name: "t", Consumer: cons, Log: testkit.Log(t), FailRuns: js, Handler: func(_ context.Context, m jetstream.Msg) error {
		defer handled.Add(1)
		var v wrapperspb.Int64Value
		if err := proto.Unmarshal(m.Data(), &v); err != nil {
			return bus.Permanent(fmt.Errorf("decode chunk: %w", err))
		}
		switch v.Value {
		case 1:
			return bus.Permanent(errors.New("the mapping refuses it"))
		case 2:
			panic("boom")
		}
		return nil
	}})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	require.Eventually(t, func() bool { return handled.Load() >= 5 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { n, ack := pending(t, cons); return n == 0 && ack == 0 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	failed := map[string]string{}
	batch, err := progress.FetchNoWait(10)
	require.NoError(t, err)
	for m := range batch.Messages() {
		var p ferryv1.Progress
		require.NoError(t, proto.Unmarshal(m.Data(), &p))
		require.Equal(t, bus.ProgressSubject(p.GetTenantId(), p.GetRunId()), m.Subject())
		failed[p.GetTenantId()+"/"+p.GetRunId()] = p.GetFailed().GetReason()
	}
	require.Len(t, failed, 4, "r1, r2, r4 and r9 failed; r3 did not: %v", failed)
	require.Equal(t, "the mapping refuses it", failed["t1/r1"])
	require.Contains(t, failed["t1/r2"], "internal error while handling ferry.chunks.t1.r2: boom")
	require.Contains(t, failed["t2/r4"], "decode chunk")
	require.Equal(t, "the mapping refuses it", failed["t9/r9"])
}

// TestPublishFailedReasonNotUTF8: a reason cut inside a character, or
// quoting raw bytes, is still published (a protobuf string must be UTF-8).
func TestPublishFailedReasonNotUTF8(t *testing.T) {
	js, _ := setup(t, time.Second)
	ctx := context.Background()
	progress, err := bus.EnsureConsumer(ctx, js, bus.StreamProgress, jetstream.ConsumerConfig{Durable: "p", FilterSubject: "ferry.progress.>"})
	require.NoError(t, err)
	reason := "value Zoë"[:len("value Zo")+1] + " and \xff"
	require.NoError(t, bus.PublishFailed(ctx, js, "t1", "r1", reason))
	batch, err := progress.FetchNoWait(1)
	require.NoError(t, err)
	n := 0
	for m := range batch.Messages() {
		var p ferryv1.Progress
		require.NoError(t, proto.Unmarshal(m.Data(), &p))
		require.Equal(t, "value Zo\uFFFD and \uFFFD", p.GetFailed().GetReason())
		n++
	}
	require.NoError(t, batch.Error())
	require.Equal(t, 1, n)
}
