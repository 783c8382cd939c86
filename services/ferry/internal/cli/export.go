package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func setupExport(fs *flag.FlagSet) action {
	wait := fs.Bool("wait", false, "follow the run until it ends and print its files; exit 1 if it failed or was canceled")
	out := fs.String("out", "", "once the run ended, write its first file to `FILE` (as FILE.part, renamed when complete; \"-\" for stdout); implies --wait")
	return func(ctx context.Context, s *session, args []string) error {
		profile := args[0]
		c, err := s.clients()
		if err != nil {
			return err
		}
		// With the file on stdout, everything else goes to stderr.
		info := s
		if *out == "-" {
			quiet := *s
			quiet.stdout = s.stderr
			info = &quiet
		}
		resp, err := c.exports.StartExport(ctx, &ferryv1.StartExportRequest{Name: profile})
		if err != nil {
			return fmt.Errorf("start export %s: %w", profile, err)
		}
		id := resp.GetRun().GetId()
		fmt.Fprintln(info.stdout, id)
		if !*wait && *out == "" {
			return nil
		}
		run, err := info.follow(ctx, c, id)
		if err != nil {
			return err
		}
		if err := info.summarize(ctx, c, run); err != nil || *out == "" {
			return err
		}
		if len(run.GetOutputs()) == 0 {
			return fmt.Errorf("export %s: run %s wrote no file", profile, id)
		}
		first := run.GetOutputs()[0]
		return s.download(ctx, c, download{run: id, output: first.GetName(), dest: *out, overwrite: true, want: first})
	}
}

func setupRunsDownload(fs *flag.FlagSet) action {
	output := fs.String("output", "", "the `name` of the file, as \"ferry runs get\" lists it (default: the run's first file)")
	out := fs.String("out", "", "write to `FILE` (\"-\" for stdout; default: the file name the server sends, in the current directory)")
	force := fs.Bool("force", false, "overwrite an existing file")
	return func(ctx context.Context, s *session, args []string) error {
		id := args[0]
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.runs.GetRun(ctx, &ferryv1.GetRunRequest{Id: id})
		if err != nil {
			return fmt.Errorf("get run %s: %w", id, err)
		}
		// The run's record of the file, when it has one, checks the bytes received.
		var want *ferryv1.RunOutput
		for _, o := range resp.GetRun().GetOutputs() {
			if *output == "" || o.GetName() == *output {
				want = o
				break
			}
		}
		return s.download(ctx, c, download{run: id, output: *output, dest: *out, overwrite: *force, want: want})
	}
}

// download says which file of a run to write where.
type download struct {
	run, output string
	// dest is a path, "-" for stdout, or "" for the name the server sends.
	dest      string
	overwrite bool
	// want, when set, is the run's record of the file: its size and
	// SHA-256 must match what is received.
	want *ferryv1.RunOutput
}

// download streams an output of an export run to a file or stdout. A file is
// written as NAME.part and renamed once every byte arrived and checked, so
// that NAME is never a partial file.
func (s *session) download(ctx context.Context, c *clients, d download) error {
	// Canceling ends the stream when writing fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	what := "run " + d.run
	if d.output != "" {
		what = fmt.Sprintf("%s of run %s", d.output, d.run)
	}
	stream, err := c.exports.DownloadOutput(ctx, &ferryv1.DownloadOutputRequest{Run: d.run, Output: d.output})
	if err != nil {
		return fmt.Errorf("download %s: %w", what, err)
	}
	head, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("download %s: the server sent no file", what)
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", what, err)
	}
	if d.output == "" && head.GetFileName() != "" {
		what = fmt.Sprintf("%s of run %s", head.GetFileName(), d.run)
	}

	dest := d.dest
	if dest == "" {
		name := head.GetFileName()
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || name != filepath.Base(name) {
			return fmt.Errorf("download %s: the server's file name %q cannot be used here; name the file with --out", what, name)
		}
		dest = name
	}
	var (
		w    io.Writer = s.stdout
		file *os.File
		part = dest + ".part"
	)
	if dest != "-" {
		if !d.overwrite {
			if _, err := os.Lstat(dest); err == nil {
				return fmt.Errorf("download %s: %s exists; --force overwrites it", what, dest)
			}
		}
		if file, err = os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666); err != nil {
			return fmt.Errorf("download %s: %w", what, err)
		}
		w = file
		defer func() {
			if file != nil {
				_ = file.Close()
				_ = os.Remove(part)
			}
		}()
	}

	h := sha256.New()
	n, err := receive(io.MultiWriter(w, h), head, stream)
	if err != nil {
		return fmt.Errorf("download %s: %w", what, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if size := head.GetSize(); size > 0 && n != size {
		return fmt.Errorf("download %s: received %d bytes, the server announced %d", what, n, size)
	}
	if want := d.want.GetSha256(); want != "" && !strings.EqualFold(want, sum) {
		return fmt.Errorf("download %s: the bytes received have SHA-256 %s, the run recorded %s", what, sum, want)
	}
	if file == nil {
		return nil
	}
	if err := file.Sync(); err != nil {
		return fmt.Errorf("download %s: %w", what, err)
	}
	err = file.Close()
	file = nil
	if err == nil {
		err = finish(part, dest, d.overwrite)
	}
	if err != nil {
		_ = os.Remove(part)
		return fmt.Errorf("download %s: %w", what, err)
	}
	fmt.Fprintf(s.stdout, "wrote %s (%d bytes, sha256 %s)\n", dest, n, sum)
	return nil
}

// receive writes the data of head and of every further message of stream to w.
func receive(w io.Writer, head *ferryv1.DownloadOutputResponse, stream ferryv1.ExportService_DownloadOutputClient) (int64, error) {
	var n int64
	msg := head
	for {
		k, err := w.Write(msg.GetData())
		n += int64(k)
		if err != nil {
			return n, err
		}
		msg, err = stream.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// finish moves the complete file part to dest. Without overwrite it links
// rather than renames, so that a file that appeared at dest meanwhile is not
// replaced either.
func finish(part, dest string, overwrite bool) error {
	if overwrite {
		return os.Rename(part, dest)
	}
	err := os.Link(part, dest)
	switch {
	case err == nil:
		return os.Remove(part)
	case errors.Is(err, os.ErrExist):
		return fmt.Errorf("%s exists; --force overwrites it", dest)
	}
	// Some file systems have no hard links.
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("%s exists; --force overwrites it", dest)
	}
	return os.Rename(part, dest)
}

// printOutputs lists the files of an export run.
func (s *session) printOutputs(outputs []*ferryv1.RunOutput) error {
	t := newTable(s.stdout, "NAME", "ROLE", "ROWS", "SIZE", "SHA-256")
	for _, o := range outputs {
		t.row(o.GetName(), o.GetRole(), count(o.GetRows()), count(o.GetSize()), o.GetSha256())
	}
	return t.flush()
}

// exportedRows is the number of rows in an export run's files.
func exportedRows(run *ferryv1.Run) int64 {
	var n int64
	for _, o := range run.GetOutputs() {
		n += o.GetRows()
	}
	return n
}

func setupShare(fs *flag.FlagSet) action {
	profile := fs.String("profile", "", "link to the latest file of this export `profile` rather than to a run's file")
	output := fs.String("output", "", "the `name` of the file to link (default: the first)")
	ttl := fs.Duration("ttl", 0, "how long the link works, e.g. 24h (default: the server's, 7 days; at most 90 days)")
	return func(ctx context.Context, s *session, args []string) error {
		req := &ferryv1.CreateShareLinkRequest{Profile: *profile, Output: *output}
		switch {
		case len(args) == 0 && *profile == "":
			return usageErrorf("share", "share needs a RUN or --profile PROFILE")
		case len(args) == 1 && *profile != "":
			return usageErrorf("share", "give a RUN or --profile PROFILE, not both")
		case len(args) == 1:
			req.Run = args[0]
		}
		switch {
		case *ttl < 0:
			return usageErrorf("share", "--ttl must be positive, got %s", *ttl)
		case *ttl > 0 && *ttl < time.Second:
			return usageErrorf("share", "--ttl must be at least 1s, got %s", *ttl)
		}
		// A partial second is rounded up: a link works at least as long as asked.
		req.TtlSeconds = int64((*ttl + time.Second - 1) / time.Second)
		what := "run " + req.GetRun()
		if req.GetProfile() != "" {
			what = "the latest file of export profile " + req.GetProfile()
		}
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.exports.CreateShareLink(ctx, req)
		if err != nil {
			return fmt.Errorf("share %s: %w", what, err)
		}
		fmt.Fprintf(s.stdout, "token    %s\npath     %s\nexpires  %s\n", resp.GetToken(), resp.GetPath(), formatTime(resp.GetExpireTime()))
		return nil
	}
}

func setupShareRevoke(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		if _, err := c.exports.RevokeShareLink(ctx, &ferryv1.RevokeShareLinkRequest{Token: args[0]}); err != nil {
			return fmt.Errorf("revoke share link: %w", err)
		}
		fmt.Fprintln(s.stdout, "share link revoked")
		return nil
	}
}

// summarizeExport prints what an ended export run wrote: its rows and files.
func (s *session) summarizeExport(run *ferryv1.Run) error {
	outputs := run.GetOutputs()
	if len(outputs) > 0 || !failedOrCanceled(run.GetStatus()) {
		fmt.Fprintf(s.stdout, "exported %s in %s\n", plural(int(exportedRows(run)), "row"), plural(len(outputs), "file"))
	}
	if run.GetNote() != "" {
		fmt.Fprintf(s.stdout, "note: %s\n", run.GetNote())
	}
	if len(outputs) == 0 {
		return nil
	}
	return s.printOutputs(outputs)
}

func failedOrCanceled(st ferryv1.RunStatus) bool {
	return st == ferryv1.RunStatus_RUN_STATUS_FAILED || st == ferryv1.RunStatus_RUN_STATUS_CANCELED
}

// describeExport ends "runs get" for an export run: its times, rows and files.
func (s *session) describeExport(tw *tabwriter.Writer, line func(label, value string), run *ferryv1.Run) error {
	line("Created", formatTime(run.GetCreateTime()))
	line("Started", formatTime(run.GetStartTime()))
	line("Ended", formatTime(run.GetEndTime()))
	if d, ok := runDuration(run); ok {
		line("Duration", d.String())
	}
	line("Rows", count(exportedRows(run)))
	if run.GetNote() != "" {
		line("Note", run.GetNote())
	}
	line("Outputs", plural(len(run.GetOutputs()), "file"))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(run.GetOutputs()) > 0 {
		if err := s.printOutputs(run.GetOutputs()); err != nil {
			return err
		}
	}
	if len(run.GetDeliveries()) == 0 {
		return nil
	}
	fmt.Fprintf(s.stdout, "Deliveries: %d\n", len(run.GetDeliveries()))
	return s.printDeliveries(run.GetDeliveries())
}
