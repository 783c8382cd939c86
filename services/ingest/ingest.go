// Package ingest gets bytes in: it receives uploads, and files pulled from
// the SFTP sources of import profiles, into runs, stores the original file,
// checks it, and splits it into chunks at record boundaries, keeping a
// bounded window of each run's chunks in flight.
package ingest

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/server"
	"github.com/ferrydata/ferry/services/ingest/internal/api"
	"github.com/ferrydata/ferry/services/ingest/internal/importer"
	"github.com/ferrydata/ferry/services/ingest/internal/pull"
	"github.com/ferrydata/ferry/services/ingest/internal/runs"
	"github.com/ferrydata/ferry/services/ingest/internal/source"
)

// Config configures the ingest service.
type Config struct {
	ChunkSize       int    `yaml:"chunk_size"`
	MaxRecordSize   int    `yaml:"max_record_size"`
	MaxFieldSize    int    `yaml:"max_field_size"`
	MaxColumns      int    `yaml:"max_columns"`
	MaxRows         int64  `yaml:"max_rows"`
	MaxFileSize     int64  `yaml:"max_file_size"`
	MaxUncompressed int64  `yaml:"max_uncompressed"`
	TempDir         string `yaml:"temp_dir"`
	// Window is how many chunks of one run may be in flight at once.
	Window int `yaml:"window"`
	// Workers is how many runs one process splits at once.
	Workers int `yaml:"workers"`
	// SFTPPolls is how many SFTP sources one process polls at once; 0
	// turns polling off in this process.
	SFTPPolls int `yaml:"sftp_polls"`
}

// RegisterFlags registers the service's flags on f.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&c.ChunkSize, "ingest-chunk-size", 256<<10, "target chunk size in bytes; chunks end at the first record boundary after it")
	f.IntVar(&c.MaxRecordSize, "ingest-max-record-size", 1<<20, "largest record (row) in bytes")
	f.IntVar(&c.MaxFieldSize, "ingest-max-field-size", 1<<20, "largest field (cell) in bytes")
	f.IntVar(&c.MaxColumns, "ingest-max-columns", 10000, "most columns in a row")
	f.Int64Var(&c.MaxRows, "ingest-max-rows", 100_000_000, "most rows in a file")
	f.Int64Var(&c.MaxFileSize, "ingest-max-file-size", 20<<30, "largest uploaded file in bytes")
	f.Int64Var(&c.MaxUncompressed, "ingest-max-uncompressed", 4<<30, "most bytes a workbook may decompress to")
	f.StringVar(&c.TempDir, "ingest-temp-dir", os.TempDir(), "directory for workbooks while they are read")
	f.IntVar(&c.Window, "ingest-window", 16, "chunks of one run in flight at most")
	f.IntVar(&c.Workers, "ingest-workers", 4, "runs split at once by one ingest process")
	f.IntVar(&c.SFTPPolls, "ingest-sftp-polls", 4, "SFTP sources of import profiles polled at once by one ingest process; 0 polls none")
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
	case c.MaxFieldSize < 1 || c.MaxFieldSize > c.MaxRecordSize:
		return errors.New("ingest-max-field-size must be positive and at most ingest-max-record-size")
	case c.MaxColumns < 1:
		return errors.New("ingest-max-columns must be at least 1")
	case c.MaxRows < 1:
		return errors.New("ingest-max-rows must be at least 1")
	case c.MaxUncompressed < 1:
		return errors.New("ingest-max-uncompressed must be positive")
	case c.SFTPPolls < 0:
		return errors.New("ingest-sftp-polls must not be negative")
	}
	return nil
}

// Limits are the reader limits of the config.
func (c *Config) Limits() source.Limits {
	return source.Limits{ChunkSize: c.ChunkSize, MaxRecordSize: c.MaxRecordSize, MaxFieldSize: c.MaxFieldSize,
		MaxColumns: c.MaxColumns, MaxRows: c.MaxRows, MaxUncompressed: c.MaxUncompressed}
}

// MaxMessage is the largest bus message the config can produce: a chunk of
// ChunkSize plus one record, as data and again as mapped rows with keys.
func (c *Config) MaxMessage() int { return 3*(c.ChunkSize+c.MaxRecordSize) + 64<<10 }

// Deps are what the service is built with.
type Deps struct {
	// Pool is the control-plane database: SFTP sources remember the files they took.
	Pool *pgxpool.Pool
	// Keyring opens the credentials of SFTP sources' connections; nil when no key is configured.
	Keyring *secrets.Keyring
	NC      *nats.Conn
	JS      jetstream.JetStream
	Server  *server.Server
	Log     *slog.Logger
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
	// poller takes files from SFTP sources; nil when off.
	poller *pull.Poller
}

// New builds the service and registers its API on the server.
func New(cfg Config, d Deps) *Service {
	rc := &runs.Client{NC: d.NC, JS: d.JS}
	limits := api.Limits{Limits: cfg.Limits(), MaxFileSize: cfg.MaxFileSize, TempDir: cfg.TempDir}
	a := api.New(rc, limits, d.Log)
	ferryv1.RegisterIngestServiceServer(d.Server.GRPC, a)
	s := &Service{cfg: cfg, deps: d, api: a, runs: rc}
	if d.Pool != nil && cfg.SFTPPolls > 0 {
		s.poller = pull.New(d.Pool, d.Keyring, a, d.Log, pull.Options{Parallel: cfg.SFTPPolls})
	}
	return s
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
	im := &importer.Importer{
		JS: s.deps.JS, Files: files, Runs: s.runs, Window: s.cfg.Window, Log: s.deps.Log,
		Limits: s.cfg.Limits(), TempDir: s.cfg.TempDir,
	}
	s.worker = bus.NewWorker(bus.WorkerConfig{Name: "ingest-import", Consumer: cons, Concurrency: s.cfg.Workers, Handler: im.Handle, CancelOnStop: true, FailRuns: s.deps.JS, Log: s.deps.Log})
	return nil
}

// Running splits files and polls SFTP sources until ctx ends, then finishes
// or hands back the runs it holds (an unfinished run's command is
// redelivered and resumed). A file being pulled when ctx ends fails its run
// and is taken again later.
func (s *Service) Running(ctx context.Context) error {
	if s.poller == nil {
		return s.worker.Run(ctx)
	}
	pctx, cancel := context.WithCancel(ctx)
	polled := make(chan error, 1)
	go func() { polled <- s.poller.Run(pctx) }()
	err := s.worker.Run(ctx)
	cancel()
	if perr := <-polled; err == nil {
		err = perr
	}
	return err
}

// Stopping has nothing left to do: the worker drained in Running.
func (s *Service) Stopping(context.Context) error { return nil }
