package sftpconn_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/sftpconn"
	"github.com/ferrydata/ferry/libs/testkit"
)

func TestStat(t *testing.T) {
	srv, cfg := passwordServer(t, testkit.SFTPServerOptions{})
	require.NoError(t, os.WriteFile(filepath.Join(srv.Root, "a.csv"), []byte("id\n1\n"), 0o644))
	c := dial(t, cfg)

	fi, err := c.Stat(context.Background(), "/a.csv")
	require.NoError(t, err)
	require.EqualValues(t, 5, fi.Size())
	require.False(t, fi.IsDir())

	_, err = c.Stat(context.Background(), "/missing.csv")
	requirePermanent(t, err, os.ErrNotExist)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Stat(ctx, "/a.csv")
	require.Error(t, err)
	require.Equal(t, sftpconn.Transient, sftpconn.ClassOf(err))
}
