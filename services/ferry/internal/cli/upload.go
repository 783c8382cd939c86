package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// uploadChunkSize is the size of the data messages of an upload: large
// enough to keep per-message overhead small, well below gRPC's 4 MiB limit.
const uploadChunkSize = 256 << 10

func setupImport(fs *flag.FlagSet) action {
	wait := fs.Bool("wait", false, "follow the run until it ends and print its counts; exit 1 if it failed or was canceled")
	dry := fs.Bool("dry-run", false, "parse, map and validate the file and show what it would insert, update and reject, writing nothing")
	rows := fs.Int("preview-rows", 20, "with --dry-run: how many mapped rows and rejects to show (at most 1000)")
	return func(ctx context.Context, s *session, args []string) error {
		profile, path := args[0], args[1]
		c, err := s.clients()
		if err != nil {
			return err
		}
		if *dry {
			run, err := s.send(ctx, c, profile, path, &dryRun{rows: int32(*rows)})
			if err != nil {
				return err
			}
			return s.showPreview(ctx, c, run)
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
	return s.send(ctx, c, profile, path, nil)
}

// dryRun asks send for a preview instead of an upload.
type dryRun struct{ rows int32 }

// fileStream is an Upload or a Preview stream.
type fileStream interface {
	send(header *ferryv1.UploadHeader, data []byte) error
	close() (*ferryv1.Run, error)
}

type uploadStream struct {
	s ferryv1.IngestService_UploadClient
}

func (u uploadStream) send(h *ferryv1.UploadHeader, data []byte) error {
	if h != nil {
		return u.s.Send(&ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Header{Header: h}})
	}
	return u.s.Send(&ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Data{Data: data}})
}

func (u uploadStream) close() (*ferryv1.Run, error) {
	resp, err := u.s.CloseAndRecv()
	return resp.GetRun(), err
}

type previewStream struct {
	s ferryv1.IngestService_PreviewClient
}

func (p previewStream) send(h *ferryv1.UploadHeader, data []byte) error {
	if h != nil {
		return p.s.Send(&ferryv1.PreviewRequest{Part: &ferryv1.PreviewRequest_Header{Header: h}})
	}
	return p.s.Send(&ferryv1.PreviewRequest{Part: &ferryv1.PreviewRequest_Data{Data: data}})
}

func (p previewStream) close() (*ferryv1.Run, error) {
	resp, err := p.s.CloseAndRecv()
	return resp.GetRun(), err
}

// send streams the file at path into a new run of profile: an upload, or
// with dry a preview that returns the ended dry run.
func (s *session) send(ctx context.Context, c *clients, profile, path string, dry *dryRun) (*ferryv1.Run, error) {
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
	var stream fileStream
	header := &ferryv1.UploadHeader{Profile: profile, FileName: name, Size: size}
	if dry == nil {
		up, err := c.ingest.Upload(ctx)
		if err != nil {
			return nil, fmt.Errorf("upload %s to %s: %w", name, profile, err)
		}
		stream = uploadStream{up}
	} else {
		pv, err := c.ingest.Preview(ctx)
		if err != nil {
			return nil, fmt.Errorf("preview %s with %s: %w", name, profile, err)
		}
		stream = previewStream{pv}
		header.DryRun, header.PreviewRows = true, dry.rows
	}
	meter := newUploadMeter(s.stderr, name, size)
	err := stream.send(header, nil)
	// gRPC copies a message before Send returns, so one buffer serves all.
	buf := make([]byte, uploadChunkSize)
	for err == nil {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			err = stream.send(nil, buf[:n])
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
	run, err := stream.close()
	if err != nil {
		return nil, fmt.Errorf("upload %s to %s: %w", name, profile, err)
	}
	return run, nil
}

// showPreview prints what a dry run would do: counts, the first mapped rows
// with their action, and the first rejects.
func (s *session) showPreview(ctx context.Context, c *clients, run *ferryv1.Run) error {
	if err := s.summarize(ctx, c, run); err != nil {
		return err
	}
	rows := run.GetPreview().GetRows()
	if len(rows) == 0 {
		return nil
	}
	fields := map[string]bool{}
	for _, r := range rows {
		for k := range r.GetValues() {
			fields[k] = true
		}
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(s.stdout, "\nfirst %d mapped rows:\n", len(rows))
	t := newTable(s.stdout, append([]string{"ROW", "ACTION"}, upper(names)...)...)
	for _, r := range rows {
		cells := []string{count(r.GetRow()), r.GetAction()}
		for _, n := range names {
			v, ok := r.GetValues()[n]
			if !ok {
				v = "NULL"
			}
			cells = append(cells, v)
		}
		t.row(cells...)
	}
	return t.flush()
}

func upper(v []string) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = strings.ToUpper(s)
	}
	return out
}
