package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// uploadChunkSize is the size of the data messages of an upload: large
// enough to keep per-message overhead small, well below gRPC's 4 MiB limit.
const uploadChunkSize = 256 << 10

func setupImport(fs *flag.FlagSet) action {
	wait := fs.Bool("wait", false, "follow the run until it ends and print its counts; exit 1 if it failed or was canceled")
	return func(ctx context.Context, s *session, args []string) error {
		profile, path := args[0], args[1]
		c, err := s.clients()
		if err != nil {
			return err
		}
		run, err := s.upload(ctx, c, profile, path)
		if err != nil {
			return err
		}
		fmt.Fprintln(s.stdout, run.GetId())
		if !*wait {
			return nil
		}
		return s.watchAndSummarize(ctx, c, run.GetId())
	}
}

// upload streams the file at path ("-" for stdin) into a new run of profile.
func (s *session) upload(ctx context.Context, c *clients, profile, path string) (*ferryv1.Run, error) {
	var (
		r    io.Reader
		name string
		size int64
	)
	if path == "-" {
		r, name = s.stdin, "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("import %s: is a directory", path)
		}
		if fi.Mode().IsRegular() {
			size = fi.Size()
		}
		r, name = f, filepath.Base(path)
	}

	// Canceling the stream on a read error makes sure no run is created from
	// a partial file.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.ingest.Upload(ctx)
	if err != nil {
		return nil, fmt.Errorf("upload %s to %s: %w", name, profile, err)
	}
	header := &ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Header{Header: &ferryv1.UploadHeader{
		Profile: profile, FileName: name, Size: size,
	}}}
	meter := newUploadMeter(s.stderr, name, size)
	err = stream.Send(header)
	// gRPC copies a message before Send returns, so one buffer serves all.
	buf := make([]byte, uploadChunkSize)
	for err == nil {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			err = stream.Send(&ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Data{Data: buf[:n]}})
			meter.add(n)
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			meter.finish()
			return nil, fmt.Errorf("import %s: read %s: %w", profile, name, rerr)
		}
	}
	meter.finish()
	// io.EOF from Send means the server ended the stream; its reason comes
	// with the response.
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("upload %s to %s: %w", name, profile, err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, fmt.Errorf("upload %s to %s: %w", name, profile, err)
	}
	return resp.GetRun(), nil
}
