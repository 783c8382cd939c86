// Package modules runs named modules in dependency order: every service and
// every piece of plumbing of a process is one. Modules are built by their
// init functions, started in dependency order, run together, and stopped in
// reverse order when the context ends or the first of them fails.
package modules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"
)

// Service is a running module's lifecycle.
type Service interface {
	// Starting connects and declares; the module is not yet serving.
	Starting(ctx context.Context) error
	// Running blocks until ctx ends (nil) or the module fails (an error).
	Running(ctx context.Context) error
	// Stopping drains: stop taking work, finish or hand back work in flight.
	Stopping(ctx context.Context) error
}

// Funcs adapts functions to Service; nil functions do nothing, and a nil
// RunningFn waits for the context.
type Funcs struct {
	StartingFn func(ctx context.Context) error
	RunningFn  func(ctx context.Context) error
	StoppingFn func(ctx context.Context) error
}

// Starting calls StartingFn.
func (f Funcs) Starting(ctx context.Context) error {
	if f.StartingFn == nil {
		return nil
	}
	return f.StartingFn(ctx)
}

// Running calls RunningFn or waits for ctx.
func (f Funcs) Running(ctx context.Context) error {
	if f.RunningFn == nil {
		<-ctx.Done()
		return nil
	}
	return f.RunningFn(ctx)
}

// Stopping calls StoppingFn.
func (f Funcs) Stopping(ctx context.Context) error {
	if f.StoppingFn == nil {
		return nil
	}
	return f.StoppingFn(ctx)
}

type module struct {
	deps []string
	init func(ctx context.Context) (Service, error)
	// public modules can be named in --services; the others are plumbing.
	public bool
}

// Manager knows every module and the dependencies between them.
type Manager struct {
	modules map[string]module
	log     *slog.Logger
	// StopTimeout bounds each module's Stopping.
	StopTimeout time.Duration
}

// New returns an empty manager.
func New(log *slog.Logger) *Manager {
	return &Manager{modules: map[string]module{}, log: log, StopTimeout: 30 * time.Second}
}

// Register adds a module. init may return a nil Service for a module that
// only builds something for others.
func (m *Manager) Register(name string, public bool, init func(ctx context.Context) (Service, error), deps ...string) {
	m.modules[name] = module{deps: deps, init: init, public: public}
}

// Public returns the names of the modules that may be asked for, sorted.
func (m *Manager) Public() []string {
	var names []string
	for n, mod := range m.modules {
		if mod.public {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Order returns targets and everything they depend on, dependencies first.
func (m *Manager) Order(targets []string) ([]string, error) {
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		mod, ok := m.modules[n]
		if !ok {
			return fmt.Errorf("unknown module %q", n)
		}
		switch state[n] {
		case 1:
			return fmt.Errorf("module dependency cycle: %v", append(path, n))
		case 2:
			return nil
		}
		state[n] = 1
		deps := slices.Clone(mod.deps)
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		order = append(order, n)
		return nil
	}
	for _, t := range targets {
		if err := visit(t, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Run builds, starts and runs targets with their dependencies until ctx ends
// or a module fails; then it stops the started modules in reverse order. The
// first failure is returned, naming its module. started, when not nil, is
// called once every module is running.
func (m *Manager) Run(ctx context.Context, targets []string, started func()) error {
	order, err := m.Order(targets)
	if err != nil {
		return err
	}
	type live struct {
		name string
		svc  Service
	}
	var running []live
	stopAll := func() {
		for i := len(running) - 1; i >= 0; i-- {
			l := running[i]
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.StopTimeout)
			if err := l.svc.Stopping(sctx); err != nil {
				m.log.Error("module stop failed", "module", l.name, "err", err)
			}
			cancel()
			m.log.Debug("module stopped", "module", l.name)
		}
	}
	for _, name := range order {
		svc, err := m.modules[name].init(ctx)
		if err == nil && svc != nil {
			err = svc.Starting(ctx)
		}
		if err != nil {
			stopAll()
			return fmt.Errorf("module %s: %w", name, err)
		}
		if svc != nil {
			running = append(running, live{name, svc})
		}
		m.log.Debug("module started", "module", name)
	}
	if started != nil {
		started()
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(running))
	for _, l := range running {
		go func() { results <- result{l.name, l.svc.Running(runCtx)} }()
	}
	var first error
	pending := len(running)
	if pending > 0 {
		select {
		case <-ctx.Done():
		case r := <-results:
			pending--
			if r.err != nil {
				first = fmt.Errorf("module %s: %w", r.name, r.err)
				m.log.Error("module failed", "module", r.name, "err", r.err)
			} else if ctx.Err() == nil {
				first = fmt.Errorf("module %s: stopped unexpectedly", r.name)
			}
		}
	} else {
		<-ctx.Done()
	}
	cancel()
	// Workers drain inside Running (stop fetching, finish what they hold)
	// while everything they depend on is still up; only then stop modules.
	deadline := time.After(m.StopTimeout)
wait:
	for ; pending > 0; pending-- {
		select {
		case r := <-results:
			if r.err != nil && first == nil && !errors.Is(r.err, context.Canceled) {
				first = fmt.Errorf("module %s: %w", r.name, r.err)
			}
		case <-deadline:
			m.log.Warn("modules still draining after stop timeout", "count", pending)
			break wait
		}
	}
	stopAll()
	if first != nil && errors.Is(first, context.Canceled) && ctx.Err() != nil {
		first = nil
	}
	return first
}
