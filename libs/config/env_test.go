package config

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
		db   string
	}{
		{name: "default", want: ":9090", db: ""},
		{name: "env", env: map[string]string{"FERRY_GRPC_ADDR": ":1"}, want: ":1"},
		{name: "flag beats env", env: map[string]string{"FERRY_GRPC_ADDR": ":1"}, args: []string{"--grpc-addr=:2"}, want: ":2"},
		{name: "alias", env: map[string]string{"DATABASE_URL": "postgres://a"}, want: ":9090", db: "postgres://a"},
		{name: "ferry beats alias", env: map[string]string{"DATABASE_URL": "postgres://a", "FERRY_DATABASE_URL": "postgres://b"}, want: ":9090", db: "postgres://b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			addr := fs.String("grpc-addr", ":9090", "")
			db := fs.String("database-url", "", "")
			require.NoError(t, Parse(fs, tt.args, map[string]string{"database-url": "DATABASE_URL"}))
			require.Equal(t, tt.want, *addr)
			require.Equal(t, tt.db, *db)
		})
	}
}

func TestParseEnvironmentInvalid(t *testing.T) {
	t.Setenv("FERRY_WORKERS", "many")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("workers", 1, "")
	err := Parse(fs, nil, nil)
	require.ErrorContains(t, err, `FERRY_WORKERS="many"`)
}
