package store

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/testkit"
)

// TestReplicasStartTogether: several replicas open a database that does not
// exist yet and migrate it at the same time; it is created once, every
// migration runs once, and all of them succeed.
func TestReplicasStartTogether(t *testing.T) {
	url := testkit.Database(t, false)
	ctx := context.Background()
	const replicas = 6
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := Open(ctx, url, testkit.Log(t))
			if err == nil {
				err = Migrate(ctx, pool, testkit.Log(t))
				pool.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	pool, err := Open(ctx, url, testkit.Log(t))
	require.NoError(t, err)
	defer pool.Close()
	var version int
	require.NoError(t, pool.QueryRow(ctx, `SELECT version FROM `+versionTable).Scan(&version))
	files, err := migrations.ReadDir("migrations")
	require.NoError(t, err)
	require.Equal(t, len(files), version)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+versionTable).Scan(&n))
	require.Equal(t, 1, n)
	// Migrating again is a no-op.
	require.NoError(t, Migrate(ctx, pool, testkit.Log(t)))
}

func TestOpenBadURL(t *testing.T) {
	_, err := Open(context.Background(), "postgres://postgres@127.0.0.1:1/none?connect_timeout=2", testkit.Log(t))
	require.ErrorContains(t, err, "connect to database none")
}

func TestIdent(t *testing.T) {
	require.Equal(t, `"tenant_a"."users"`, Ident("tenant_a", "users"))
	require.Equal(t, `"a""b"`, Ident(`a"b`))
}

// TestWithMaxConns: the pool gets the size asked for, unless the URL sets
// pool_max_conns, which wins.
func TestWithMaxConns(t *testing.T) {
	url := testkit.Database(t, true)
	ctx := context.Background()
	pool, err := Open(ctx, url, testkit.Log(t), WithMaxConns(18))
	require.NoError(t, err)
	require.EqualValues(t, 18, pool.Config().MaxConns)
	pool.Close()

	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	pool, err = Open(ctx, url+sep+"pool_max_conns=3", testkit.Log(t), WithMaxConns(18))
	require.NoError(t, err)
	require.EqualValues(t, 3, pool.Config().MaxConns)
	pool.Close()
}
