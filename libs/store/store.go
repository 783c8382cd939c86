// Package store opens the PostgreSQL pool, creates the database when it is
// missing and applies the embedded control-plane migrations.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferrydata/ferry/libs/telemetry"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable records the applied migration version.
const versionTable = "public.ferry_schema_version"

// OpenOption configures Open.
type OpenOption func(*pgxpool.Config)

// WithTracerProvider traces the pool's statements inside a trace with spans
// from tp (telemetry.PgxTracer: one span per statement, COPY included).
func WithTracerProvider(tp trace.TracerProvider) OpenOption {
	return func(c *pgxpool.Config) { c.ConnConfig.Tracer = telemetry.NewPgxTracer(tp) }
}

// WithMaxConns sizes the pool to n connections, unless the URL sets
// pool_max_conns itself (an operator's explicit choice wins) or n < 1.
func WithMaxConns(n int) OpenOption {
	return func(c *pgxpool.Config) {
		if n < 1 || strings.Contains(c.ConnString(), "pool_max_conns") {
			return
		}
		c.MaxConns = int32(n)
	}
}

// Open connects to the database at url, creating the database first when it
// does not exist, and returns a pool.
func Open(ctx context.Context, url string, log *slog.Logger, opts ...OpenOption) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	for _, o := range opts {
		o(cfg)
	}
	if err := ensureDatabase(ctx, cfg.ConnConfig, log); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database %s: %w", cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// ensureDatabase creates the configured database through the server's
// maintenance database when connecting to it reports that it does not exist.
func ensureDatabase(ctx context.Context, cc *pgx.ConnConfig, log *slog.Logger) error {
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("connect to database %s: %w", cc.Database, err)
	}
	admin := cc.Copy()
	admin.Database = "postgres"
	aconn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to maintenance database to create %s: %w", cc.Database, err)
	}
	defer aconn.Close(ctx)
	_, err = aconn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cc.Database}.Sanitize())
	// Another replica may have won the race: PostgreSQL says so with
	// duplicate_database, or with a unique violation in pg_database.
	if err != nil && !(errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505")) {
		return fmt.Errorf("create database %s: %w", cc.Database, err)
	}
	log.Info("database created", "database", cc.Database)
	return nil
}

// Migrate applies every pending migration. Replicas starting at the same time
// serialise on an advisory lock, so each migration runs once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection for migrations: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	m.OnStart = func(seq int32, name, _, _ string) {
		log.Info("migration applying", "seq", seq, "name", name)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// Ident quotes a PostgreSQL identifier made of one or more parts.
func Ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// StageTable is the staging table of an import run, schema-qualified and
// quoted: delivery stages the run's rows in it, and whoever ends the run
// drops it.
func StageTable(runID string) string {
	return Ident("ferry_stage", "r_"+strings.ReplaceAll(runID, "-", ""))
}
