// Package server is the one gRPC server and HTTP mux of a process: health
// checking, reflection, /healthz, /readyz, /metrics, OpenTelemetry tracing of
// calls and the API-key interceptors that put the caller's tenant into every
// request's context.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/telemetry"
)

// Config configures the listeners.
type Config struct {
	GRPCAddr       string `yaml:"grpc_addr"`
	HTTPAddr       string `yaml:"http_addr"`
	Reflection     bool   `yaml:"grpc_reflection"`
	MaxRecvMsgSize int    `yaml:"grpc_max_recv_msg_size"`
	// ShutdownGrace bounds how long in-flight calls may finish on stop.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// Pprof serves Go's profiles under /debug/pprof/ on the HTTP port.
	Pprof bool `yaml:"pprof"`
}

// RegisterFlags registers the config's flags on f.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.GRPCAddr, "grpc-addr", ":9090", "gRPC listen address for every API of the process")
	f.StringVar(&c.HTTPAddr, "http-addr", ":8080", "HTTP listen address for /healthz, /readyz and /metrics")
	f.BoolVar(&c.Reflection, "grpc-reflection", true, "serve gRPC server reflection (for grpcurl and similar tools)")
	f.IntVar(&c.MaxRecvMsgSize, "grpc-max-recv-msg-size", 16<<20, "largest gRPC message accepted, in bytes")
	f.DurationVar(&c.ShutdownGrace, "shutdown-grace", 20*time.Second, "how long in-flight calls may finish on shutdown")
	f.BoolVar(&c.Pprof, "pprof", false, "serve Go's CPU, heap and goroutine profiles under /debug/pprof/ on the HTTP port (for benchmarks; keep the port private)")
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.GRPCAddr == "" {
		return errors.New("grpc-addr is empty")
	}
	if c.MaxRecvMsgSize < 1<<20 {
		return errors.New("grpc-max-recv-msg-size must be at least 1 MiB")
	}
	return nil
}

// Verifier resolves a bearer secret to a principal.
type Verifier interface {
	Verify(ctx context.Context, secret string) (auth.Principal, error)
}

// Server holds the gRPC server and the HTTP mux.
type Server struct {
	cfg      Config
	log      *slog.Logger
	GRPC     *grpc.Server
	Mux      *http.ServeMux
	Health   *health.Server
	Registry *prometheus.Registry

	ready    atomic.Bool
	grpcLis  net.Listener
	httpLis  net.Listener
	httpSrv  *http.Server
	verifier atomic.Pointer[Verifier]
	calls    *prometheus.CounterVec
}

// Option configures New.
type Option func(*options)

type options struct {
	registry *prometheus.Registry
	tp       trace.TracerProvider
	mp       metric.MeterProvider
	prop     propagation.TextMapPropagator
}

// WithRegistry serves reg on /metrics instead of a new registry, so that
// metrics registered on it before the server exists (the OpenTelemetry
// Prometheus exporter) are served too.
func WithRegistry(reg *prometheus.Registry) Option {
	return func(o *options) { o.registry = reg }
}

// WithTelemetry traces every gRPC call except health checks, as a child of
// the trace context the caller sends, and records otelgrpc's call metrics.
func WithTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, prop propagation.TextMapPropagator) Option {
	return func(o *options) { o.tp, o.mp, o.prop = tp, mp, prop }
}

// New builds the server; Start listens.
func New(cfg Config, log *slog.Logger, opts ...Option) *Server {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.registry == nil {
		o.registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, log: log, Mux: http.NewServeMux(), Health: health.NewServer(), Registry: o.registry}
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_grpc_calls_total", Help: "gRPC calls by method and code.",
	}, []string{"method", "code"})
	s.Registry.MustRegister(s.calls)
	sopts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	}
	if o.tp != nil {
		hopts := []otelgrpc.Option{otelgrpc.WithTracerProvider(o.tp),
			otelgrpc.WithFilter(func(info *stats.RPCTagInfo) bool { return !public(info.FullMethodName) })}
		if o.mp != nil {
			hopts = append(hopts, otelgrpc.WithMeterProvider(o.mp))
		}
		if o.prop != nil {
			hopts = append(hopts, otelgrpc.WithPropagators(o.prop))
		}
		sopts = append(sopts, grpc.StatsHandler(otelgrpc.NewServerHandler(hopts...)))
	}
	s.GRPC = grpc.NewServer(sopts...)
	healthpb.RegisterHealthServer(s.GRPC, s.Health)
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if cfg.Reflection {
		reflection.Register(s.GRPC)
	}
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s.Mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	s.Mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	if cfg.Pprof {
		s.Mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		s.Mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		s.Mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		s.Mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		s.Mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return s
}

// SetVerifier sets how API keys are checked. Until it is set every
// authenticated call is refused as unavailable.
func (s *Server) SetVerifier(v Verifier) { s.verifier.Store(&v) }

// SetReady marks the process ready (or not) in /readyz and gRPC health.
func (s *Server) SetReady(ready bool) {
	s.ready.Store(ready)
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ready {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.Health.SetServingStatus("", st)
}

// Starting opens the listeners.
func (s *Server) Starting(context.Context) error {
	var err error
	if s.grpcLis, err = net.Listen("tcp", s.cfg.GRPCAddr); err != nil {
		return fmt.Errorf("listen grpc %s: %w", s.cfg.GRPCAddr, err)
	}
	if s.cfg.HTTPAddr != "" {
		if s.httpLis, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listen http %s: %w", s.cfg.HTTPAddr, err)
		}
	}
	s.log.Info("grpc listening", "addr", s.grpcLis.Addr().String())
	if s.httpLis != nil {
		s.log.Info("http listening", "addr", s.httpLis.Addr().String())
	}
	return nil
}

// GRPCAddr returns the bound gRPC address (after Starting).
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr returns the bound HTTP address (after Starting), or "".
func (s *Server) HTTPAddr() string {
	if s.httpLis == nil {
		return ""
	}
	return s.httpLis.Addr().String()
}

// Running serves until ctx ends.
func (s *Server) Running(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- s.GRPC.Serve(s.grpcLis) }()
	if s.httpLis != nil {
		s.httpSrv = &http.Server{Handler: s.Mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := s.httpSrv.Serve(s.httpLis); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	}
}

// Stopping refuses new calls and lets running ones finish within the grace.
func (s *Server) Stopping(ctx context.Context) error {
	s.SetReady(false)
	done := make(chan struct{})
	go func() { s.GRPC.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownGrace):
		s.GRPC.Stop()
	}
	if s.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.httpSrv.Shutdown(sctx)
	}
	return nil
}

// public methods need no API key.
func public(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.") || strings.HasPrefix(method, "/grpc.reflection.")
}

func (s *Server) authenticate(ctx context.Context, method string) (context.Context, error) {
	if public(method) {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return nil, status.Error(codes.Unauthenticated, "missing authorization metadata: send `authorization: Bearer <api key>`")
	}
	scheme, secret, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || secret == "" {
		return nil, status.Error(codes.Unauthenticated, "authorization metadata must be `Bearer <api key>`")
	}
	vp := s.verifier.Load()
	if vp == nil {
		return nil, status.Error(codes.Unavailable, "starting up")
	}
	p, err := (*vp).Verify(ctx, strings.TrimSpace(secret))
	if err != nil {
		return nil, errs.ToStatus(err)
	}
	// Log lines of the call carry its tenant (telemetry.LogHandler), and so
	// does its span.
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("ferry.tenant", p.TenantID.String()))
	return telemetry.WithRun(auth.WithPrincipal(ctx, p), p.TenantID.String(), ""), nil
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := s.authenticate(ctx, info.FullMethod)
	if err == nil {
		var resp any
		resp, err = h(ctx, req)
		err = errs.ToStatus(err)
		s.calls.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
		return resp, err
	}
	s.calls.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return nil, err
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := s.authenticate(ss.Context(), info.FullMethod)
	if err == nil {
		err = errs.ToStatus(h(srv, &wrappedStream{ServerStream: ss, ctx: ctx}))
	}
	s.calls.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return err
}
