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
