package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/modules"
	"github.com/ferrydata/ferry/libs/secrets"
	libserver "github.com/ferrydata/ferry/libs/server"
	"github.com/ferrydata/ferry/libs/store"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/services/delivery"
	"github.com/ferrydata/ferry/services/export"
	"github.com/ferrydata/ferry/services/ingest"
	"github.com/ferrydata/ferry/services/profile"
	"github.com/ferrydata/ferry/services/transform"
)

// The services, in the order `all` starts them.
const (
	Profile   = "profile"
	Ingest    = "ingest"
	Transform = "transform"
	Export    = "export"
	Delivery  = "delivery"

	database     = "database"
	natsMod      = "nats"
	srv          = "server"
	authMod      = "auth"
	secretsMod   = "secrets"
	telemetryMod = "telemetry"
)

// ServiceNames lists the services `--services` accepts.
var ServiceNames = []string{Profile, Ingest, Transform, Export, Delivery}

// FailpointEnv names the environment variable of the crash failpoint: when it
// is N, the process exits with status 3 right after committing the Nth record
// batch and before acknowledging it. Tests use it to prove that a redelivered
// chunk is applied once.
const FailpointEnv = "FERRY_FAILPOINT_EXIT_AFTER_COMMIT"

// App is one `ferry server` process.
type App struct {
	cfg Config
	log *slog.Logger
	out io.Writer

	pool   *pgxpool.Pool
	ns     *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	server *libserver.Server

	mgr *modules.Manager

	keyring *secrets.Keyring

	telOpts  telemetry.Options
	tel      *telemetry.Telemetry
	registry *prometheus.Registry
}

// New builds the app and its module graph.
func New(cfg Config, log *slog.Logger, out io.Writer) *App {
	a := &App{cfg: cfg, log: log, out: out, mgr: modules.New(log)}
	m := a.mgr
	m.Register(telemetryMod, false, a.initTelemetry)
	m.Register(database, false, a.initDatabase, telemetryMod)
	m.Register(natsMod, false, a.initNATS, telemetryMod)
	m.Register(srv, false, a.initServer, telemetryMod)
	m.Register(authMod, false, a.initAuth, database, srv)
	m.Register(secretsMod, false, a.initSecrets)
	m.Register(Profile, true, a.initProfile, database, natsMod, srv, authMod, secretsMod)
	m.Register(Ingest, true, a.initIngest, database, natsMod, srv, authMod, secretsMod)
	m.Register(Transform, true, a.initTransform, natsMod, srv)
	m.Register(Export, true, a.initExport, database, natsMod, srv)
	m.Register(Delivery, true, a.initDelivery, database, natsMod, srv, secretsMod)
	return a
}

// SetTelemetry sets what the process's telemetry gets besides what the
// OTEL_* variables configure, for example an in-memory span exporter in
// tests. Call it before Run.
func (a *App) SetTelemetry(opts telemetry.Options) { a.telOpts = opts }

// Run runs the configured services until ctx ends; then it drains and stops.
// ready, when not nil, is called with the gRPC address once serving.
func (a *App) Run(ctx context.Context, ready func(grpcAddr, httpAddr string)) error {
	targets, err := a.cfg.Targets()
	if err != nil {
		return err
	}
	return a.mgr.Run(ctx, targets, func() {
		a.server.SetReady(true)
		a.log.Info("ferry running", "services", targets, "grpc", a.server.GRPCAddr(), "http", a.server.HTTPAddr())
		if ready != nil {
			ready(a.server.GRPCAddr(), a.server.HTTPAddr())
		}
	})
}

// initTelemetry sets up traces and metrics from the OTEL_* variables and the
// injected options, and installs them for the whole process. Metrics always
// reach /metrics through the server's Prometheus registry. It stops last,
// flushing what the other modules recorded.
func (a *App) initTelemetry(ctx context.Context) (modules.Service, error) {
	a.registry = prometheus.NewRegistry()
	opts := a.telOpts
	opts.Registerer = a.registry
	t, err := telemetry.Setup(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := t.Install(); err != nil {
		_ = t.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry instruments: %w", err)
	}
	if err := bus.ObserveConsumers(t.MeterProvider.Meter(telemetry.ScopeName)); err != nil {
		_ = t.Shutdown(ctx)
		return nil, fmt.Errorf("consumer gauges: %w", err)
	}
	a.tel = t
	return modules.Funcs{StoppingFn: func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := t.Shutdown(sctx); err != nil {
			a.log.Warn("telemetry flush failed", "err", err)
		}
		return nil
	}}, nil
}

func (a *App) initDatabase(ctx context.Context) (modules.Service, error) {
	pool, err := store.Open(ctx, a.cfg.DatabaseURL, a.log, store.WithTracerProvider(a.tel.TracerProvider),
		store.WithMaxConns(a.cfg.MaxConns()))
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx, pool, a.log); err != nil {
		pool.Close()
		return nil, err
	}
	a.pool = pool
	return modules.Funcs{StoppingFn: func(context.Context) error { pool.Close(); return nil }}, nil
}

func (a *App) initNATS(ctx context.Context) (modules.Service, error) {
	if a.cfg.NATSURL == "" {
		ns, err := bus.StartEmbedded(bus.EmbeddedConfig{
			StoreDir: filepath.Join(a.cfg.DataDir, "nats"), Listen: a.cfg.NATSListen, MaxPayload: int32(a.cfg.NATSMaxPayload),
		}, a.log)
		if err != nil {
			return nil, err
		}
		a.ns = ns
	}
	nc, err := bus.Connect(a.cfg.NATSURL, a.ns, "ferry", a.log)
	if err != nil {
		a.shutdownNATS()
		return nil, err
	}
	a.nc = nc
	if need := int64(a.cfg.Ingest.MaxMessage()); nc.MaxPayload() < need {
		a.shutdownNATS()
		return nil, fmt.Errorf("the NATS server allows %d-byte messages; ferry needs %d (raise max_payload, or lower --ingest-chunk-size and --ingest-max-record-size)", nc.MaxPayload(), need)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		a.shutdownNATS()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	// The deployment's stream settings, before any service declares the
	// streams (they keep what is declared here).
	if err := bus.DeclareStreams(ctx, js, bus.StreamOptions{Replicas: a.cfg.NATSReplicas}); err != nil {
		a.shutdownNATS()
		return nil, err
	}
	a.js = js
	return modules.Funcs{StoppingFn: func(context.Context) error { a.shutdownNATS(); return nil }}, nil
}

func (a *App) shutdownNATS() {
	if a.nc != nil {
		_ = a.nc.Drain()
		a.nc.Close()
	}
	if a.ns != nil {
		a.ns.Shutdown()
		a.ns.WaitForShutdown()
	}
}

func (a *App) initServer(context.Context) (modules.Service, error) {
	a.server = libserver.New(a.cfg.Server, a.log, libserver.WithRegistry(a.registry),
		libserver.WithTelemetry(a.tel.TracerProvider, a.tel.MeterProvider, a.tel.Propagator))
	return a.server, nil
}

func (a *App) initAuth(context.Context) (modules.Service, error) {
	a.server.SetVerifier(auth.NewStore(a.pool))
	return nil, nil
}

// initSecrets loads the key that seals destination credentials. Without
// one, destinations without credentials still work; applying credentials
// is refused with a message naming the variables.
func (a *App) initSecrets(context.Context) (modules.Service, error) {
	k, err := secrets.Load(nil)
	switch {
	case errors.Is(err, secrets.ErrNoKey):
		a.log.Warn("no secret key: destination credentials cannot be stored or used", "set", secrets.EnvKey+" or "+secrets.EnvKeyFile)
		return nil, nil
	case err != nil:
		return nil, err
	}
	a.keyring = k
	a.log.Info("secret key loaded", "primary", k.Primary(), "keys", len(k.IDs()))
	return nil, nil
}

func (a *App) initProfile(context.Context) (modules.Service, error) {
	return profile.New(a.cfg.Profile, profile.Deps{Pool: a.pool, NC: a.nc, JS: a.js, Server: a.server, Log: a.log.With("service", Profile), Out: a.out, AckWait: a.cfg.AckWait, Keyring: a.keyring}), nil
}

func (a *App) initIngest(context.Context) (modules.Service, error) {
	return ingest.New(a.cfg.Ingest, ingest.Deps{Pool: a.pool, Keyring: a.keyring, NC: a.nc, JS: a.js, Server: a.server, Log: a.log.With("service", Ingest), AckWait: a.cfg.AckWait}), nil
}

func (a *App) initTransform(context.Context) (modules.Service, error) {
	return transform.New(a.cfg.Transform, transform.Deps{NC: a.nc, JS: a.js, Log: a.log.With("service", Transform), AckWait: a.cfg.AckWait}), nil
}

func (a *App) initExport(context.Context) (modules.Service, error) {
	return export.New(a.cfg.Export, export.Deps{Pool: a.pool, NC: a.nc, JS: a.js, Log: a.log.With("service", Export), AckWait: a.cfg.AckWait}), nil
}

func (a *App) initDelivery(context.Context) (modules.Service, error) {
	d := delivery.Deps{Pool: a.pool, JS: a.js, Log: a.log.With("service", Delivery), AckWait: a.cfg.AckWait, Keyring: a.keyring}
	if v := os.Getenv(FailpointEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s=%q: want a positive number", FailpointEnv, v)
		}
		var count atomic.Int64
		a.log.Warn("crash failpoint armed", "after_commits", n)
		d.AfterCommit = func(b *ferryv1.RecordBatch) {
			if count.Add(1) == int64(n) {
				a.log.Warn("failpoint: exiting after commit, before ack", "run", b.GetRun().GetRunId(), "seq", b.GetSeq())
				os.Exit(3)
			}
		}
	}
	return delivery.New(a.cfg.Delivery, d), nil
}
