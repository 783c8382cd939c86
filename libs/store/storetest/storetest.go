// Package storetest gives tests a migrated database of their own and
// tenants in it. It lives apart from libs/testkit because libs/store's own
// tests use testkit.
package storetest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/store"
	"github.com/ferrydata/ferry/libs/testkit"
)

// Open returns a pool on a fresh database of the test's own with Ferry's
// migrations applied; it is closed when the test ends.
func Open(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, testkit.Database(tb, true), testkit.Log(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool, testkit.Log(tb)); err != nil {
		tb.Fatal(err)
	}
	return pool
}

// Tenant adds a tenant named name, with the schema tenant_<name>, and
// returns its principal (not an admin).
func Tenant(tb testing.TB, pool *pgxpool.Pool, name string) auth.Principal {
	tb.Helper()
	p := auth.Principal{TenantID: uuid.New(), TenantName: name, Schema: "tenant_" + name}
	if _, err := pool.Exec(context.Background(), `INSERT INTO ferry.tenants (id, name, schema_name) VALUES ($1, $2, $3)`,
		p.TenantID, p.TenantName, p.Schema); err != nil {
		tb.Fatal(err)
	}
	return p
}
