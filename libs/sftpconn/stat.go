package sftpconn

import (
	"context"
	"os"
)

// Stat describes the file at p, following symbolic links. A missing file
// is a Permanent error wrapping os.ErrNotExist; other errors are classified
// as for Upload. When ctx ends the client is closed; Dial again.
func (c *Client) Stat(ctx context.Context, p string) (os.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, transient("stat", p, context.Cause(ctx))
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	fi, err := c.sftp.Stat(p)
	if err != nil {
		return nil, classify(ctx, "stat", p, err)
	}
	return fi, nil
}
