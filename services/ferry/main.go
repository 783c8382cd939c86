// Command ferry is Ferry's one binary: `ferry server` runs any subset of the
// services, every other command is a thin gRPC client.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ferrydata/ferry/libs/config"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/services/ferry/internal/app"
	"github.com/ferrydata/ferry/services/ferry/internal/cli"
)

// version is the release, set when the binary is built for one
// (-ldflags "-X main.version=…": make image-tarball and deploy/Dockerfile).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "server" {
		return serve(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 1 && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintf(stdout, "ferry %s (%s)\n", version, runtime.Version())
		return 0
	}
	// The CLI's calls start the traces of the runs they create when the
	// OTEL_* variables configure a span exporter. Otherwise the CLI sends no
	// trace context: a parent span that is never exported would leave the
	// server's traces without their root.
	if t, err := telemetry.Setup(ctx, telemetry.Options{}); err == nil && t.ExportsSpans() && t.Install() == nil {
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = t.Shutdown(sctx)
		}()
	}
	return cli.Run(ctx, args, stdin, stdout, stderr)
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg app.Config
	fs := flag.NewFlagSet("ferry server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ferry server [flags]\n\nRuns Ferry's services. Every flag can also be set as FERRY_<FLAG> (for example FERRY_GRPC_ADDR).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := config.Parse(fs, args, app.EnvAliases); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintf(stderr, "ferry server: %v\n", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "ferry server: %v\n", err)
		return 2
	}
	log, err := logger(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ferry server: %v\n", err)
		return 2
	}
	log.Info("ferry starting", "version", version)
	a := app.New(cfg, log, stdout)
	err = a.Run(ctx, func(grpcAddr, httpAddr string) {
		fmt.Fprintf(stdout, "ferry: serving gRPC on %s and HTTP on %s\n", grpcAddr, httpAddr)
	})
	if err != nil {
		log.Error("ferry stopped", "err", err)
		return 1
	}
	log.Info("ferry stopped")
	return 0
}

func logger(cfg app.Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cfg.LogFormat) {
	case "json":
		return slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(w, opts))), nil
	case "text":
		return slog.New(telemetry.NewLogHandler(slog.NewTextHandler(w, opts))), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", cfg.LogFormat)
}
