package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/testkit"
)

func requireHTTP(t testing.TB, url string, code int) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, code, resp.StatusCode, "%s: %s", url, body)
	return string(body)
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

func pgxConnect(url string) (*pgx.Conn, error) { return pgx.Connect(context.Background(), url) }

// TestPprof: --pprof serves Go's profiles on the HTTP port (and only then:
// the health test checks that a server without it answers 404).
func TestPprof(t *testing.T) {
	srv := startServer(t, nil, "--database-url", testkit.Database(t, true), "--data-dir", t.TempDir(), "--pprof")
	requireHTTP(t, "http://"+srv.HTTPAddr+"/debug/pprof/", 200)
	requireHTTP(t, "http://"+srv.HTTPAddr+"/debug/pprof/heap?debug=1", 200)
}
