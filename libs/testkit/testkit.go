// Package testkit gives tests real infrastructure: a fresh PostgreSQL
// database and an embedded NATS JetStream server of their own.
package testkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ferrydata/ferry/libs/bus"
)

// DefaultAdminURL is used when FERRY_TEST_DATABASE_URL is not set.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres"

// Log returns a logger for tests: debug output when FERRY_TEST_LOG is set.
func Log(tb testing.TB) *slog.Logger {
	if os.Getenv("FERRY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Database creates an empty database for the test and returns its URL. It is
// dropped when the test ends. The database does not exist yet when
// create is false, so that code that creates it can be tested.
func Database(tb testing.TB, create bool) string {
	tb.Helper()
	admin := os.Getenv("FERRY_TEST_DATABASE_URL")
	if admin == "" {
		admin = DefaultAdminURL
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "ferry_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("connect to test PostgreSQL %s (set FERRY_TEST_DATABASE_URL): %v", admin, err)
	}
	defer conn.Close(ctx)
	if create {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			tb.Fatalf("create database %s: %v", name, err)
		}
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Logf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// NATS starts an embedded JetStream server on a random port with its own
// store directory and returns it; it is shut down when the test ends.
func NATS(tb testing.TB) *server.Server {
	tb.Helper()
	ns, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: tb.TempDir(), Listen: "127.0.0.1:0", MaxPayload: 8 << 20}, Log(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// JetStream starts an embedded JetStream server of the test's own (NATS),
// connects to it, declares Ferry's streams, and returns the connection and
// its JetStream; the connection is closed when the test ends.
func JetStream(tb testing.TB) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(NATS(tb).ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	if err := bus.EnsureStreams(context.Background(), js); err != nil {
		tb.Fatal(err)
	}
	return nc, js
}

// Buffer is a buffer that several goroutines may write to while a test
// reads it, such as a process's log.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
