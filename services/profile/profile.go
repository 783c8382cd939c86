// Package profile is the control plane: tenants and keys, datasets and their
// tables, import profiles, runs and their coordination. It serves the
// TenantService, DatasetService, ImportProfileService, RunService,
// CrossReferenceService and DestinationService APIs, and cross-reference
// tables to transform over NATS.
package profile

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/server"
	"github.com/ferrydata/ferry/services/profile/internal/api"
	"github.com/ferrydata/ferry/services/profile/internal/coordinator"
	"github.com/ferrydata/ferry/services/profile/internal/scheduler"
	"github.com/ferrydata/ferry/services/profile/internal/stalls"
	"github.com/ferrydata/ferry/services/profile/internal/store"
	"github.com/ferrydata/ferry/services/profile/internal/triggers"
	"github.com/ferrydata/ferry/services/profile/internal/xrefserve"
)

// Config configures the profile service.
type Config struct {
	// BootstrapKey, when set, is the admin key of the default tenant created
	// on first start, instead of a random one.
	BootstrapKey string `yaml:"bootstrap_key"`
	// SchedulerTick is how often the scheduler looks for profiles due to
	// run on their schedule.
	SchedulerTick time.Duration `yaml:"scheduler_tick"`
	// StallAfter is how long a run may make no progress before it is
	// driven again (a lost message); StallRedrives how many times before it
	// fails.
	StallAfter    time.Duration `yaml:"run_stall_after"`
	StallRedrives int           `yaml:"run_stall_redrives"`
}

// RegisterFlags registers the service's flags on f.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.BootstrapKey, "bootstrap-key", "", "admin key of the default tenant created on first start (random and printed once when empty)")
	f.DurationVar(&c.SchedulerTick, "scheduler-tick", time.Second, "how often the scheduler looks for profiles due to run on their schedule")
	f.DurationVar(&c.StallAfter, "run-stall-after", stalls.DefaultAfter, "how long a run may make no progress (an import stage no chunk or, staged, not be applied; an export format no part) before it is driven again (a message was lost)")
	f.IntVar(&c.StallRedrives, "run-stall-redrives", stalls.DefaultRedrives, "how many times a stalled run is driven again before it fails")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.SchedulerTick < 0 {
		return fmt.Errorf("scheduler_tick: %s: want a positive duration (1s when 0)", c.SchedulerTick)
	}
	if c.StallAfter < 0 {
		return fmt.Errorf("run_stall_after: %s: want a positive duration (%s when 0)", c.StallAfter, stalls.DefaultAfter)
	}
	if c.StallRedrives < 0 {
		return fmt.Errorf("run_stall_redrives: %d: want a positive number (%d when 0)", c.StallRedrives, stalls.DefaultRedrives)
	}
	return nil
}

// Deps are what the service is built with.
type Deps struct {
	Pool   *pgxpool.Pool
	NC     *nats.Conn
	JS     jetstream.JetStream
	Server *server.Server
	Log    *slog.Logger
	// Out receives the bootstrap key, once.
	Out io.Writer
	// AckWait is how long a progress event may go unacknowledged before redelivery.
	AckWait time.Duration
	// Keyring seals destination credentials; nil when no key is configured
	// (destinations without credentials still work).
	Keyring *secrets.Keyring
}

// Service is the running profile service.
type Service struct {
	cfg   Config
	deps  Deps
	store *store.Store
	auth  *auth.Store
	coord *coordinator.Coordinator
	xrefs *xrefserve.Server
	trig  *triggers.Engine
	sched *scheduler.Scheduler
	stall *stalls.Watchdog
}

// New builds the service and registers its APIs on the server.
func New(cfg Config, d Deps) *Service {
	st := store.New(d.Pool)
	as := auth.NewStore(d.Pool)
	coord := coordinator.New(st, d.NC, d.JS, d.Log, d.AckWait)
	a := api.New(st, as, coord)
	ferryv1.RegisterTenantServiceServer(d.Server.GRPC, a)
	ferryv1.RegisterDatasetServiceServer(d.Server.GRPC, a)
	ferryv1.RegisterImportProfileServiceServer(d.Server.GRPC, a)
	ferryv1.RegisterRunServiceServer(d.Server.GRPC, a)
	ex := api.NewExports(st, coord, d.Log)
	a.WithExports(ex)
	ferryv1.RegisterExportServiceServer(d.Server.GRPC, ex)
	d.Server.Mux.HandleFunc("GET /v1/downloads/{token}", ex.ServeDownload)
	xs := store.NewXRefs(d.Pool)
	ferryv1.RegisterCrossReferenceServiceServer(d.Server.GRPC, api.NewCrossReferences(xs))
	ferryv1.RegisterDestinationServiceServer(d.Server.GRPC, api.NewDestinations(st, d.Keyring, d.Log))
	return &Service{cfg: cfg, deps: d, store: st, auth: as, coord: coord, xrefs: xrefserve.New(xs, d.Log),
		trig:  triggers.New(st, coord, d.JS, d.Log, triggers.Config{AckWait: d.AckWait}),
		sched: scheduler.New(d.Pool, st, coord, d.Log, scheduler.Options{Tick: cfg.SchedulerTick}),
		stall: stalls.New(d.Pool, d.JS, d.Log, stalls.Options{After: cfg.StallAfter, Redrives: cfg.StallRedrives})}
}

// Starting creates the default tenant on an empty database and starts the
// coordinator and the cross-reference responder.
func (s *Service) Starting(ctx context.Context) error {
	secret, err := s.auth.Bootstrap(ctx, s.cfg.BootstrapKey)
	if err != nil {
		return fmt.Errorf("bootstrap default tenant: %w", err)
	}
	if secret != "" {
		s.deps.Log.Info("default tenant created", "tenant", auth.DefaultTenant)
		if s.cfg.BootstrapKey == "" && s.deps.Out != nil {
			fmt.Fprintf(s.deps.Out, "\nBootstrap admin key of tenant %q (shown once, store it now):\n\n    %s\n\n", auth.DefaultTenant, secret)
		}
	}
	// After a key rotation the new primary key seals every credential
	// again, so that the old key can be removed. A credential that does
	// not open is reported, not fatal: the rest of the server works.
	if n, err := s.store.RewrapDestinations(ctx, s.deps.Keyring); err != nil {
		s.deps.Log.Error("destination credentials not all re-wrapped", "rewrapped", n, "err", err)
	} else if s.deps.Keyring != nil {
		s.deps.Log.Info("destination credentials re-wrapped with the primary key", "destinations", n, "key", s.deps.Keyring.Primary())
	}
	if err := s.coord.Starting(ctx); err != nil {
		return err
	}
	if err := s.trig.Starting(ctx); err != nil {
		return err
	}
	return s.xrefs.Start(s.deps.NC)
}

// Running folds run progress until ctx ends.
// Triggers run beside it; either stopping stops both.
func (s *Service) Running(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	triggered := make(chan error, 1)
	go func() {
		defer cancel()
		triggered <- s.trig.Running(ctx)
	}()
	scheduled := make(chan struct{})
	go func() {
		defer close(scheduled)
		_ = s.sched.Run(ctx) // it logs its errors and retries on the next tick
	}()
	defer func() { <-scheduled }()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		_ = s.stall.Run(ctx) // it logs its errors and looks again later
	}()
	defer func() { <-watched }()
	err := s.coord.Running(ctx)
	cancel()
	return errors.Join(err, <-triggered)
}

// Stopping drains the cross-reference responder, then the coordinator.
func (s *Service) Stopping(ctx context.Context) error {
	return errors.Join(s.xrefs.Stop(), s.coord.Stopping(ctx))
}
