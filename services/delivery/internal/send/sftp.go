package send

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/ferrydata/ferry/libs/destinations"
	"github.com/ferrydata/ferry/libs/sftpconn"
	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// SFTP uploads a run's files into the destination's directory, each under
// its final name only once it is complete.
type SFTP struct {
	// Dial connects to the server; sftpconn.Dial when nil.
	Dial func(ctx context.Context, cfg sftpconn.Config) (*sftpconn.Client, error)
}

var _ Sender = SFTP{}

// Send uploads job's files to the directory the destination's path
// template names for the run, one connection for all of them. It returns
// the remote paths; after an error, those of the files delivered before it.
//
// With OVERWRITE_POLICY_FAIL a file that is already there counts as
// delivered when it has the size of the file to send: that is the same
// run's file from an earlier attempt whose outcome was lost. With gzip the
// size cannot be known before compressing, so an existing file is always
// an error then.
func (s SFTP) Send(ctx context.Context, dest string, spec *ferryv1.DestinationSpec, job Job) ([]string, error) {
	sp := spec.GetSftp()
	if sp == nil {
		return nil, Fail(fmt.Errorf("destination %s is not an SFTP destination", dest))
	}
	dir, err := destinations.Dir(sp, destinations.PathValues{
		Profile: job.Profile, Dataset: job.Dataset, Run: job.Run, Version: job.Version, Time: job.Time,
	})
	if err != nil {
		return nil, Fail(fmt.Errorf("destination %s: directory: %w", dest, err))
	}
	dial := s.Dial
	if dial == nil {
		dial = sftpconn.Dial
	}
	c, err := dial(ctx, destinations.SFTPConfig(sp))
	if err != nil {
		return nil, sftpError(fmt.Errorf("destination %s: %w", dest, err))
	}
	defer c.Close()

	locations := make([]string, 0, len(job.Files))
	for _, f := range job.Files {
		p, err := upload(ctx, c, sp, dir, f)
		if err != nil {
			return locations, err
		}
		locations = append(locations, p)
	}
	return locations, nil
}

// upload puts one file in dir and returns its remote path.
func upload(ctx context.Context, c *sftpconn.Client, sp *ferryv1.SFTPDestination, dir string, f File) (string, error) {
	name := f.Name
	if sp.GetGzip() {
		name += ".gz"
	}
	final := path.Join(dir, name)
	failIfExists := sp.GetOverwrite() == ferryv1.OverwritePolicy_OVERWRITE_POLICY_FAIL

	src, err := open(ctx, f)
	if err != nil {
		return "", err
	}
	defer src.Close()
	var r io.Reader = src
	if sp.GetGzip() {
		zr := compress(src)
		defer zr.Close()
		r = zr
	}
	_, err = c.Upload(ctx, dir, name, r, sftpconn.UploadOptions{MkdirAll: sp.GetCreateDirs(), Overwrite: !failIfExists})
	switch {
	case err == nil:
		return final, nil
	case errors.Is(err, sftpconn.ErrExists) && !sp.GetGzip():
		fi, serr := c.Stat(ctx, final)
		if serr != nil {
			return "", sftpError(serr)
		}
		if fi.Mode().IsRegular() && fi.Size() == f.Size {
			return final, nil
		}
		return "", Fail(fmt.Errorf("%s exists with %d bytes, not the %d of this run's file, and the overwrite policy is FAIL", final, fi.Size(), f.Size))
	case errors.Is(err, sftpconn.ErrExists):
		return "", Fail(fmt.Errorf("%s exists and the overwrite policy is FAIL", final))
	case errors.Is(err, os.ErrNotExist) && !sp.GetCreateDirs() && sftpconn.ClassOf(err) == sftpconn.Permanent:
		return "", Fail(fmt.Errorf("%w; create the directory on the server or set create_dirs", err))
	}
	return "", sftpError(err)
}

// sftpError gives an sftpconn error (whose message names the server or
// the path) the same class here.
func sftpError(err error) error {
	if sftpconn.ClassOf(err) == sftpconn.Permanent {
		return Fail(err)
	}
	return Retry(err)
}

// gzipReader compresses a reader as it is read, through a pipe, so that no
// more than a buffer of the file is held in memory.
type gzipReader struct {
	*io.PipeReader
	done chan struct{}
}

func compress(src io.Reader) *gzipReader {
	pr, pw := io.Pipe()
	z := &gzipReader{PipeReader: pr, done: make(chan struct{})}
	go func() {
		defer close(z.done)
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, src)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		_ = pw.CloseWithError(err) // nil: the reader sees io.EOF
	}()
	return z
}

// Close stops the compressing goroutine, if the upload ended before reading
// everything, and waits for it.
func (z *gzipReader) Close() error {
	_ = z.PipeReader.CloseWithError(errors.New("upload ended"))
	<-z.done
	return nil
}
