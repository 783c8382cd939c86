// Package app is the composition root: it knows every service and every piece
// of plumbing as a named module, and runs the ones a process is asked for.
package app

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/ferrydata/ferry/libs/server"
	"github.com/ferrydata/ferry/services/delivery"
	"github.com/ferrydata/ferry/services/export"
	"github.com/ferrydata/ferry/services/ingest"
	"github.com/ferrydata/ferry/services/profile"
	"github.com/ferrydata/ferry/services/transform"
)

// Config is the whole configuration of a `ferry server` process.
type Config struct {
	Services       string        `yaml:"services"`
	DataDir        string        `yaml:"data_dir"`
	DatabaseURL    string        `yaml:"database_url"`
	DBMaxConns     int           `yaml:"database_max_conns"`
	NATSURL        string        `yaml:"nats_url"`
	NATSListen     string        `yaml:"nats_listen"`
	NATSMaxPayload int           `yaml:"nats_max_payload"`
	NATSReplicas   int           `yaml:"nats_replicas"`
	AckWait        time.Duration `yaml:"ack_wait"`
	LogLevel       string        `yaml:"log_level"`
	LogFormat      string        `yaml:"log_format"`

	Server    server.Config    `yaml:"server"`
	Profile   profile.Config   `yaml:"profile"`
	Ingest    ingest.Config    `yaml:"ingest"`
	Transform transform.Config `yaml:"transform"`
	Export    export.Config    `yaml:"export"`
	Delivery  delivery.Config  `yaml:"delivery"`
}

// EnvAliases are environment variables read besides FERRY_*.
var EnvAliases = map[string]string{"database-url": "DATABASE_URL"}

// RegisterFlags registers every flag of the process on f.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Services, "services", "all", "comma-separated services to run: all, or any of "+strings.Join(ServiceNames, ", "))
	f.StringVar(&c.DataDir, "data-dir", "ferry-data", "directory for local state (the embedded NATS server's JetStream files)")
	f.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (also DATABASE_URL); the database is created if missing")
	f.IntVar(&c.DBMaxConns, "database-max-conns", 0, "most PostgreSQL connections the process opens; 0 sizes the pool from the services it runs and their workers (see MaxConns); pool_max_conns in the URL takes precedence")
	f.StringVar(&c.NATSURL, "nats-url", "", "external NATS server URL; when empty an embedded NATS server runs in the process")
	f.StringVar(&c.NATSListen, "nats-listen", "", "also serve the embedded NATS server on this TCP address (for upstream publishers and other ferry processes)")
	f.IntVar(&c.NATSMaxPayload, "nats-max-payload", 8<<20, "largest NATS message of the embedded server, in bytes")
	f.IntVar(&c.NATSReplicas, "nats-replicas", 0, "replicas of every stream and of the files object store on an external JetStream cluster (3 on three nodes); 0 keeps what each has, 1 for a new one")
	f.DurationVar(&c.AckWait, "ack-wait", 30*time.Second, "how long a bus message may go unacknowledged (without heartbeat) before it is redelivered")
	f.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	c.Server.RegisterFlags(f)
	c.Profile.RegisterFlags(f)
	c.Ingest.RegisterFlags(f)
	c.Transform.RegisterFlags(f)
	c.Export.RegisterFlags(f)
	c.Delivery.RegisterFlags(f)
}

// Targets returns the services asked for.
func (c *Config) Targets() ([]string, error) {
	var out []string
	for _, s := range strings.Split(c.Services, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case s == "all":
			out = append(out, ServiceNames...)
		default:
			found := false
			for _, n := range ServiceNames {
				found = found || n == s
			}
			if !found {
				return nil, fmt.Errorf("unknown service %q in --services (want all or %s)", s, strings.Join(ServiceNames, ", "))
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--services names no service")
	}
	return out, nil
}

// Validate checks the whole config.
func (c *Config) Validate() error {
	targets, err := c.Targets()
	if err != nil {
		return err
	}
	needsDB := false
	for _, t := range targets {
		needsDB = needsDB || t != Transform
	}
	if needsDB && c.DatabaseURL == "" {
		return errors.New("no database: set --database-url or DATABASE_URL")
	}
	if c.DBMaxConns < 0 {
		return errors.New("--database-max-conns must be 0 (sized from the services) or more")
	}
	if c.NATSURL != "" && c.NATSListen != "" {
		return errors.New("--nats-listen serves the embedded NATS server; it cannot be combined with --nats-url")
	}
	if c.NATSReplicas < 0 || c.NATSReplicas > 5 {
		return fmt.Errorf("--nats-replicas %d: JetStream keeps 1 to 5 replicas (0 keeps what each stream has)", c.NATSReplicas)
	}
	if c.NATSURL == "" && c.NATSReplicas > 1 {
		return fmt.Errorf("--nats-replicas %d needs a JetStream cluster (--nats-url); the embedded NATS server is a single server", c.NATSReplicas)
	}
	if c.NATSURL == "" && c.DataDir == "" {
		return errors.New("--data-dir is needed for the embedded NATS server")
	}
	if c.NATSMaxPayload < c.Ingest.MaxMessage() {
		return fmt.Errorf("--nats-max-payload %d is smaller than the %d bytes the chunk and record sizes need", c.NATSMaxPayload, c.Ingest.MaxMessage())
	}
	if c.AckWait < time.Second {
		return errors.New("--ack-wait must be at least 1s")
	}
	for _, v := range []interface{ Validate() error }{&c.Server, &c.Profile, &c.Ingest, &c.Transform, &c.Export, &c.Delivery} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// MaxConns is the size of the process's PostgreSQL pool: --database-max-conns
// when set, else 4 for the control plane (API calls, the run tracker, the
// scheduler, the outbox relay), plus, for delivery, one per batch worker and
// two for applying runs and assembling exports, plus, for export, one per
// reader of each export run it runs at once. Every chunk being staged and
// every key-range reader holds a connection for its whole transaction, so a
// smaller pool caps them below their worker counts.
func (c *Config) MaxConns() int {
	if c.DBMaxConns > 0 {
		return c.DBMaxConns
	}
	targets, _ := c.Targets()
	n := 4
	for _, t := range targets {
		switch t {
		case Delivery:
			n += c.Delivery.Workers + 2
		case Export:
			n += c.Export.Workers * c.Export.Readers
		}
	}
	return n
}
