// Package ingest gets bytes in: it receives uploads into runs, stores the
// original file, checks it, and splits it into chunks at record boundaries,
// keeping a bounded window of each run's chunks in flight.
package ingest

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/formats/delimited"
	"github.com/ferrydata/ferry/libs/server"
	"github.com/ferrydata/ferry/services/ingest/internal/api"
	"github.com/ferrydata/ferry/services/ingest/internal/importer"
	"github.com/ferrydata/ferry/services/ingest/internal/runs"
)

// Config configures the ingest service.
type Config struct {
	ChunkSize     int   `yaml:"chunk_size"`
	MaxRecordSize int   `yaml:"max_record_size"`
	MaxFileSize   int64 `yaml:"max_file_size"`
	// Window is how many chunks of one run may be in flight at once.
	Window int `yaml:"window"`
	// Workers is how many runs one process splits at once.
	Workers int `yaml:"workers"`
}

// RegisterFlags registers the service's flags on f.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&c.ChunkSize, "ingest-chunk-size", 256<<10, "target chunk size in bytes; chunks end at the first record boundary after it")
	f.IntVar(&c.MaxRecordSize, "ingest-max-record-size", 1<<20, "largest CSV record (row) in bytes")
	f.Int64Var(&c.MaxFileSize, "ingest-max-file-size", 20<<30, "largest uploaded file in bytes")
	f.IntVar(&c.Window, "ingest-window", 16, "chunks of one run in flight at most")
	f.IntVar(&c.Workers, "ingest-workers", 4, "runs split at once by one ingest process")
}

// Validate checks the config.
func (c *Config) Validate() error {
	switch {
	case c.ChunkSize < 1024:
		return errors.New("ingest-chunk-size must be at least 1024 bytes")
	case c.MaxRecordSize < 1024:
		return errors.New("ingest-max-record-size must be at least 1024 bytes")
	case c.Window < 1:
		return errors.New("ingest-window must be at least 1")
	case c.Workers < 1:
		return errors.New("ingest-workers must be at least 1")
	case c.MaxFileSize < 1:
		return errors.New("ingest-max-file-size must be positive")
	}
	return nil
}

// MaxMessage is the largest bus message the config can produce: a chunk of
// ChunkSize plus one record, as data and again as mapped rows with keys.
func (c *Config) MaxMessage() int { return 3*(c.ChunkSize+c.MaxRecordSize) + 64<<10 }

// Deps are what the service is built with.
type Deps struct {
	NC     *nats.Conn
	JS     jetstream.JetStream
	Server *server.Server
	Log    *slog.Logger
	// AckWait is how long an import command may go without a heartbeat before redelivery.
	AckWait time.Duration
}

// Service is the running ingest service.
type Service struct {
	cfg    Config
	deps   Deps
	api    *api.API
	runs   *runs.Client
	worker *bus.Worker
}

// New builds the service and registers its API on the server.
func New(cfg Config, d Deps) *Service {
	rc := &runs.Client{NC: d.NC, JS: d.JS}
	limits := api.Limits{MaxFileSize: cfg.MaxFileSize, ChunkSize: cfg.ChunkSize, MaxRecordSize: cfg.MaxRecordSize}
	a := api.New(rc, limits, d.Log)
	ferryv1.RegisterIngestServiceServer(d.Server.GRPC, a)
	return &Service{cfg: cfg, deps: d, api: a, runs: rc}
}

// Starting declares the streams, the files store and the import consumer.
func (s *Service) Starting(ctx context.Context) error {
	if err := bus.EnsureStreams(ctx, s.deps.JS); err != nil {
		return err
	}
	files, err := s.deps.JS.ObjectStore(ctx, bus.FilesBucket)
	if err != nil {
		return err
	}
	s.api.Files = files
	cons, err := bus.EnsureConsumer(ctx, s.deps.JS, bus.StreamCommands, jetstream.ConsumerConfig{
		Durable: bus.ConsumerIngestImport, FilterSubject: "ferry.cmd.import.>", AckWait: s.deps.AckWait,
	})
	if err != nil {
		return err
	}
	limits := api.Limits{MaxFileSize: s.cfg.MaxFileSize, ChunkSize: s.cfg.ChunkSize, MaxRecordSize: s.cfg.MaxRecordSize}
	im := &importer.Importer{
		JS: s.deps.JS, Files: files, Runs: s.runs, Window: s.cfg.Window, Log: s.deps.Log,
		Options: func(snap *ferryv1.RunSnapshot) delimited.Options { return api.SplitOptions(snap, limits) },
	}
	s.worker = bus.NewWorker(bus.WorkerConfig{Name: "ingest-import", Consumer: cons, Concurrency: s.cfg.Workers, Handler: im.Handle, CancelOnStop: true, Log: s.deps.Log})
	return nil
}

// Running splits files until ctx ends, then finishes or hands back the runs
// it holds (an unfinished run's command is redelivered and resumed).
func (s *Service) Running(ctx context.Context) error { return s.worker.Run(ctx) }

// Stopping has nothing left to do: the worker drained in Running.
func (s *Service) Stopping(context.Context) error { return nil }
