package cli

import (
	"flag"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHelp(t *testing.T) {
	commandNames := []string{"apply", "get datasets", "get profiles", "get runs", "import", "runs get", "runs watch",
		"runs rejects", "runs cancel", "runs redeliver", "destinations test", "get destinations", "get templates", "get exports", "export", "runs download", "share", "share revoke", "whoami", "tenants create", "keys create", "server", "help", "--addr", "--api-key", "--timeout", "--tls"}
	tests := []struct {
		name string
		args []string
		code int
	}{
		{name: "help", args: []string{"help"}, code: 0},
		{name: "-h", args: []string{"-h"}, code: 0},
		{name: "--help", args: []string{"--help"}, code: 0},
		{name: "no command", args: nil, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, "", tt.args...)
			require.Equal(t, tt.code, res.code, res.stderr)
			out := res.stdout + res.stderr
			for _, name := range commandNames {
				require.Contains(t, out, name)
			}
		})
	}
}

func TestCommandHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{args: []string{"help", "get"}, want: []string{"Usage: ferry get datasets|profiles|xrefs|templates|exports|destinations|runs [NAME]", "-o format", "--status status", "--limit n", "(default 50)", "--addr address", "[env FERRY_ADDR]", "[env FERRY_API_KEY]"}},
		{args: []string{"get", "-h"}, want: []string{"Usage: ferry get", "--profile profile"}},
		{args: []string{"import", "--help"}, want: []string{"Usage: ferry import PROFILE FILE", "--wait"}},
		{args: []string{"help", "runs", "rejects"}, want: []string{"Usage: ferry runs rejects RUN", "--csv"}},
		{args: []string{"apply", "-h"}, want: []string{"-f file"}},
		{args: []string{"help", "share"}, want: []string{"Usage: ferry share RUN | --profile PROFILE", "--ttl duration", "--profile profile"}},
		{args: []string{"share", "revoke", "-h"}, want: []string{"Usage: ferry share revoke TOKEN"}},
		{args: []string{"export", "-h"}, want: []string{"Usage: ferry export PROFILE", "--out FILE", "--wait"}},
		{args: []string{"help", "runs", "download"}, want: []string{"Usage: ferry runs download RUN", "--force", "--output name"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := runCLI(t, "", tt.args...)
			require.Equal(t, 0, res.code, res.stderr)
			for _, w := range tt.want {
				require.Contains(t, res.stdout, w)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"frobnicate"}, want: `unknown command "frobnicate"`},
		{args: []string{"runs"}, want: "runs needs a subcommand: get, watch, rejects, approve, held, reapply, cancel"},
		{args: []string{"runs", "--tls"}, want: "runs needs a subcommand: get, watch, rejects, approve, held, reapply, cancel"},
		{args: []string{"runs", "delete", "r1"}, want: `unknown command "runs delete"`},
		{args: []string{"get"}, want: "usage: ferry get datasets|profiles|xrefs|templates|exports|destinations|runs [NAME]"},
		{args: []string{"get", "widgets"}, want: `cannot get "widgets"`},
		{args: []string{"get", "datasets", "a", "b"}, want: "usage: ferry get"},
		{args: []string{"get", "datasets", "--status", "failed"}, want: "--status apply to runs only"},
		{args: []string{"get", "runs", "--status", "exploded"}, want: `--status exploded: unknown status (want one of: queued, running, succeeded, succeeded_with_errors, failed, canceled, awaiting_approval)`},
		{args: []string{"get", "runs", "--limit", "0"}, want: "--limit must be at least 1"},
		{args: []string{"get", "runs", "-o", "xml"}, want: "-o xml: unknown format"},
		{args: []string{"get", "runs", "--bogus"}, want: "unknown flag --bogus"},
		{args: []string{"apply"}, want: "apply needs at least one -f FILE"},
		{args: []string{"apply", "-f"}, want: "flag -f needs a value"},
		{args: []string{"import", "users-csv"}, want: "usage: ferry import PROFILE FILE"},
		{args: []string{"whoami", "--timeout", "soon"}, want: `invalid value "soon" for flag -timeout`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			// Global flags first, as "-f" must be the last argument.
			res := runCLI(t, "", append([]string{"--addr", srv.addr, "--api-key", testKey}, tt.args...)...)
			require.Equal(t, 2, res.code, res.stderr)
			require.Contains(t, res.stderr, "ferry: "+tt.want)
			require.Contains(t, res.stderr, `Run "ferry help`)
			require.Empty(t, res.stdout)
		})
	}
	require.Empty(t, srv.methods(), "a usage error must not reach the server")
}

func TestMissingAPIKey(t *testing.T) {
	srv := startServer(t)
	t.Setenv("FERRY_API_KEY", "")
	for _, args := range [][]string{{"whoami"}, {"get", "datasets"}, {"import", "users-csv", "users.csv", "--wait"}} {
		res := runCLI(t, "", append(args, "--addr", srv.addr)...)
		require.Equal(t, 2, res.code)
		require.Contains(t, res.stderr, "ferry: no API key: set --api-key or FERRY_API_KEY\n")
	}
	require.Empty(t, srv.methods())
}

func TestEnvironment(t *testing.T) {
	srv := startServer(t)
	t.Setenv("FERRY_ADDR", srv.addr)
	t.Setenv("FERRY_API_KEY", "env-key")

	res := runCLI(t, "", "whoami")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "tenant acme (id t1)\nkey    ci (id k1, admin)\n", res.stdout)
	srv.requireAuth(t, "env-key")

	// A flag beats the environment, before or after the command.
	for _, args := range [][]string{{"--api-key", "flag-key", "whoami"}, {"whoami", "--api-key=flag-key"}} {
		srv := startServer(t)
		res = runCLI(t, "", append(args, "--addr", srv.addr)...)
		require.Equal(t, 0, res.code, res.stderr)
		srv.requireAuth(t, "flag-key")
	}
}

func TestServerUnavailable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	res := runCLI(t, "", "get", "datasets", "--addr", addr, "--api-key", testKey)
	require.Equal(t, 1, res.code)
	require.True(t, strings.HasPrefix(res.stderr, "ferry: list datasets: "), res.stderr)
	require.Contains(t, res.stderr, "ferry: is a Ferry server listening on "+addr+"?")
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		name                   string
		args                   []string
		globals, cmd, position []string
		err                    string
	}{
		{name: "flags after arguments", args: []string{"runs", "--addr", "h:1", "-o", "yaml", "r1"},
			globals: []string{"--addr", "h:1"}, cmd: []string{"-o", "yaml"}, position: []string{"runs", "r1"}},
		{name: "inline values and bools", args: []string{"--tls", "-o=json", "--api-key=k", "x"},
			globals: []string{"--tls", "--api-key=k"}, cmd: []string{"-o=json"}, position: []string{"x"}},
		{name: "dash is an argument", args: []string{"p", "-", "-o", "-"},
			cmd: []string{"-o", "-"}, position: []string{"p", "-"}},
		{name: "double dash ends flags", args: []string{"-o", "table", "--", "-o"},
			cmd: []string{"-o", "table"}, position: []string{"-o"}},
		{name: "unknown flag", args: []string{"--nope"}, err: "unknown flag --nope"},
		{name: "missing value", args: []string{"x", "--addr"}, err: "flag --addr needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &session{}
			globals := s.globalFlags()
			cmd := flag.NewFlagSet("test", flag.ContinueOnError)
			cmd.String("o", "", "")
			g, c, p, err := splitArgs(tt.args, globals, cmd)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.globals, g)
			require.Equal(t, tt.cmd, c)
			require.Equal(t, tt.position, p)
		})
	}
}

func TestTenantsAndKeys(t *testing.T) {
	srv := startServer(t)

	res := srv.run(t, "", "tenants", "create", "globex")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "tenant globex created (id t2)\nkey    admin (id k2, admin)\nsecret fk_secret_tenant\n", res.stdout)
	require.Contains(t, res.stderr, "not shown again")
	require.Equal(t, "globex", srv.tenants.created[0].GetName())

	res = srv.run(t, "", "keys", "create", "loader", "--admin")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "key    loader (id k3, admin) created\nsecret fk_secret_key\n", res.stdout)
	res = srv.run(t, "", "keys", "create", "reader")
	require.Equal(t, 0, res.code, res.stderr)
	require.True(t, srv.tenants.keys[0].GetAdmin())
	require.False(t, srv.tenants.keys[1].GetAdmin())
	srv.requireAuth(t, testKey)
}
