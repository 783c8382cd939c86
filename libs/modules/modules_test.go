package modules

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) svc(name string, runErr error) Service {
	return Funcs{
		StartingFn: func(context.Context) error { r.add("start " + name); return nil },
		RunningFn: func(ctx context.Context) error {
			if runErr != nil {
				return runErr
			}
			<-ctx.Done()
			r.add("drained " + name)
			return nil
		},
		StoppingFn: func(context.Context) error { r.add("stop " + name); return nil },
	}
}

func newManager(r *recorder, failing string) *Manager {
	m := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	reg := func(name string, public bool, deps ...string) {
		m.Register(name, public, func(context.Context) (Service, error) {
			var err error
			if name == failing {
				err = errors.New("boom")
			}
			return r.svc(name, err), nil
		}, deps...)
	}
	reg("db", false)
	reg("nats", false)
	reg("server", false)
	reg("ingest", true, "db", "nats", "server")
	reg("transform", true, "nats")
	return m
}

func TestOrder(t *testing.T) {
	m := newManager(&recorder{}, "")
	order, err := m.Order([]string{"transform"})
	require.NoError(t, err)
	require.Equal(t, []string{"nats", "transform"}, order)
	order, err = m.Order([]string{"ingest", "transform"})
	require.NoError(t, err)
	require.Equal(t, []string{"db", "nats", "server", "ingest", "transform"}, order)
	_, err = m.Order([]string{"nope"})
	require.ErrorContains(t, err, `unknown module "nope"`)
	require.Equal(t, []string{"ingest", "transform"}, m.Public())
}

func TestRunStopsInReverseAfterDrain(t *testing.T) {
	r := &recorder{}
	m := newManager(r, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx, []string{"transform"}, cancel) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop")
	}
	require.Equal(t, "start nats", r.events[0])
	require.Equal(t, "start transform", r.events[1])
	require.ElementsMatch(t, []string{"drained nats", "drained transform"}, r.events[2:4])
	require.Equal(t, []string{"stop transform", "stop nats"}, r.events[4:])
}

func TestRunNamesFailingModule(t *testing.T) {
	r := &recorder{}
	m := newManager(r, "nats")
	err := m.Run(context.Background(), []string{"transform"}, nil)
	require.ErrorContains(t, err, "module nats: boom")
	require.Contains(t, r.events, "stop transform")
	require.Contains(t, r.events, "stop nats")
}
