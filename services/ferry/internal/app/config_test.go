package app

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/config"
)

func parse(t *testing.T, args ...string) Config {
	var c Config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, config.Parse(fs, args, EnvAliases))
	return c
}

func TestTargets(t *testing.T) {
	tests := []struct {
		services string
		want     []string
		err      string
	}{
		{"all", ServiceNames, ""},
		{"ingest,transform", []string{Ingest, Transform}, ""},
		{" delivery ", []string{Delivery}, ""},
		{"transfrom", nil, `unknown service "transfrom"`},
		{",", nil, "names no service"},
	}
	for _, tt := range tests {
		t.Run(tt.services, func(t *testing.T) {
			c := parse(t, "--services", tt.services)
			got, err := c.Targets()
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		err  string
	}{
		{name: "all needs a database", args: nil, err: "no database"},
		{name: "database from DATABASE_URL", env: map[string]string{"DATABASE_URL": "postgres://x"}},
		{name: "transform needs no database", args: []string{"--services", "transform"}},
		{name: "listen needs the embedded server", args: []string{"--services", "transform", "--nats-url", "nats://x", "--nats-listen", ":4222"}, err: "cannot be combined"},
		{name: "payload too small for chunks", args: []string{"--services", "transform", "--nats-max-payload", "1048576"}, err: "nats-max-payload"},
		{name: "ack wait", args: []string{"--services", "transform", "--ack-wait", "10ms"}, err: "ack-wait"},
		{name: "service config checked", args: []string{"--services", "transform", "--transform-workers", "0"}, err: "transform-workers"},
		{name: "stream replicas on a cluster", args: []string{"--services", "transform", "--nats-url", "nats://x", "--nats-replicas", "3"}},
		{name: "stream replicas need a cluster", args: []string{"--services", "transform", "--nats-replicas", "3"}, err: "needs a JetStream cluster"},
		{name: "stream replicas bounded", args: []string{"--services", "transform", "--nats-url", "nats://x", "--nats-replicas", "7"}, err: "1 to 5 replicas"},
		{name: "ingest limits checked", args: []string{"--services", "transform", "--ingest-max-field-size", "9999999"}, err: "ingest-max-field-size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The machine's own environment must not decide the case.
			for _, k := range []string{"DATABASE_URL", "FERRY_DATABASE_URL", "FERRY_SERVICES", "FERRY_NATS_URL"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c := parse(t, tt.args...)
			err := c.Validate()
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
		})
	}
}

// TestMaxConns: the pool is sized from the services a process runs and their
// workers, so that every chunk staged and every export reader gets a
// connection; --database-max-conns overrides it.
func TestMaxConns(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{nil, 4 + (4 + 2) + 2*4}, // all: control plane, delivery's workers + apply + assembly, export's runs × readers
		{[]string{"--services", "profile,ingest"}, 4},
		{[]string{"--services", "delivery", "--delivery-workers", "10"}, 4 + 10 + 2},
		{[]string{"--services", "export", "--export-workers", "3", "--export-readers", "2"}, 4 + 6},
		{[]string{"--database-max-conns", "7"}, 7},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			c := parse(t, tt.args...)
			require.Equal(t, tt.want, c.MaxConns())
		})
	}
	c := parse(t, "--database-max-conns", "-1", "--services", "transform")
	require.ErrorContains(t, c.Validate(), "database-max-conns")
}
