package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func setupRunsWatch(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		return s.watchAndSummarize(ctx, c, args[0])
	}
}

func setupRunsGet(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.runs.GetRun(ctx, &ferryv1.GetRunRequest{Id: args[0]})
		if err != nil {
			return fmt.Errorf("get run %s: %w", args[0], err)
		}
		return s.describeRun(resp.GetRun())
	}
}

// describeRun prints every detail of a run, one per line.
func (s *session) describeRun(run *ferryv1.Run) error {
	tw := tabwriter.NewWriter(s.stdout, 0, 8, 2, ' ', 0)
	line := func(label, value string) {
		if value == "" {
			value = "-"
		} else if strings.ContainsFunc(value, unicode.IsControl) {
			value = strconv.Quote(value)
		}
		fmt.Fprintf(tw, "%s:\t%s\n", label, value)
	}
	line("ID", run.GetId())
	line("Kind", enumName(int32(run.GetKind()), ferryv1.RunKind_name, "RUN_KIND_"))
	line("Profile", fmt.Sprintf("%s (version %d)", run.GetProfile(), run.GetProfileVersion()))
	line("Dataset", run.GetDataset())
	line("Trigger", trimEnum(run.GetTrigger().String(), "RUN_TRIGGER_"))
	line("Status", runStatusName(run.GetStatus()))
	if run.GetError() != "" {
		line("Error", run.GetError())
	}
	if run.GetKind() == ferryv1.RunKind_RUN_KIND_EXPORT {
		return s.describeExport(tw, line, run)
	}
	if f := run.GetFile(); f != nil {
		line("File", f.GetName())
		line("Size", fmt.Sprintf("%d bytes (%s)", f.GetSize(), byteSize(f.GetSize())))
		line("SHA-256", f.GetSha256())
	}
	if total := run.GetChunksTotal(); total > 0 {
		line("Chunks", fmt.Sprintf("%d of %d done", run.GetChunksDone(), total))
	} else {
		line("Chunks", fmt.Sprintf("%d done, total not known yet", run.GetChunksDone()))
	}
	line("Created", formatTime(run.GetCreateTime()))
	line("Started", formatTime(run.GetStartTime()))
	line("Ended", formatTime(run.GetEndTime()))
	if d, ok := runDuration(run); ok {
		line("Duration", d.String())
	}
	n := run.GetCounts()
	line("Read", count(n.GetRead()))
	line("Inserted", count(n.GetInserted()))
	line("Updated", count(n.GetUpdated()))
	line("Unchanged", count(n.GetUnchanged()))
	line("Superseded", count(n.GetSuperseded()))
	line("Rejected", count(n.GetRejected()))
	line("Deleted", count(n.GetDeleted()))
	line("Held", count(n.GetHeld()))
	if run.GetDryRun() {
		line("Dry run", "yes: nothing was written")
	}
	if run.GetParentRun() != "" {
		line("Re-applies", "held rows of run "+run.GetParentRun())
	}
	if run.GetNote() != "" {
		line("Note", run.GetNote())
	}
	return tw.Flush()
}

func setupRunsRejects(fs *flag.FlagSet) action {
	asCSV := fs.Bool("csv", false, "print a short CSV with the header row,column,value,reason")
	asTable := fs.Bool("table", false, "print a table of row, column, value and reason")
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		id := args[0]
		if !*asCSV && !*asTable {
			return s.downloadRejects(ctx, c, id)
		}
		var (
			cw    *csv.Writer
			table *table
		)
		if *asCSV {
			cw = csv.NewWriter(s.stdout)
			if err := cw.Write([]string{"row", "column", "value", "reason"}); err != nil {
				return err
			}
		} else {
			table = newTable(s.stdout, "ROW", "COLUMN", "VALUE", "REASON")
		}
		req := &ferryv1.ListRunRejectsRequest{Id: id, PageSize: 1000}
		total := 0
		for {
			resp, err := c.runs.ListRunRejects(ctx, req)
			if err != nil {
				return fmt.Errorf("list rejects of run %s: %w", id, err)
			}
			for _, r := range resp.GetRejects() {
				total++
				if cw != nil {
					if err := cw.Write([]string{count(r.GetRow()), r.GetColumn(), r.GetValue(), r.GetReason()}); err != nil {
						return err
					}
					continue
				}
				value := r.GetValue()
				if value == "" {
					value = `""`
				}
				table.row(count(r.GetRow()), r.GetColumn(), value, r.GetReason())
			}
			if cw != nil {
				cw.Flush()
				if err := cw.Error(); err != nil {
					return err
				}
			}
			if resp.GetNextPageToken() == "" {
				break
			}
			req.PageToken = resp.GetNextPageToken()
		}
		if cw != nil {
			return nil
		}
		if total == 0 {
			fmt.Fprintf(s.stderr, "Run %s rejected no rows.\n", id)
			return nil
		}
		return table.flush()
	}
}

// downloadRejects writes the run's reject report to stdout: the original
// columns plus _row, _column, _value and _error, in the profile's dialect.
func (s *session) downloadRejects(ctx context.Context, c *clients, id string) error {
	stream, err := c.runs.DownloadRejects(ctx, &ferryv1.DownloadRejectsRequest{Id: id})
	if err != nil {
		return fmt.Errorf("download rejects of run %s: %w", id, err)
	}
	for {
		part, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("download rejects of run %s: %w", id, err)
		}
		if _, err := s.stdout.Write(part.GetData()); err != nil {
			return err
		}
	}
}

func setupRunsApprove(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.runs.ApproveRun(ctx, &ferryv1.ApproveRunRequest{Id: args[0]})
		if err != nil {
			return fmt.Errorf("approve run %s: %w", args[0], err)
		}
		fmt.Fprintf(s.stdout, "run %s approved; it is applied now (follow it with: ferry runs watch %s)\n", resp.GetRun().GetId(), resp.GetRun().GetId())
		return nil
	}
}

func setupRunsHeld(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		id := args[0]
		t := newTable(s.stdout, "ROW", "COLUMN", "VALUE", "TABLE", "REAPPLIED BY")
		req := &ferryv1.ListHeldRowsRequest{Id: id, PageSize: 1000}
		total := 0
		for {
			resp, err := c.runs.ListHeldRows(ctx, req)
			if err != nil {
				return fmt.Errorf("list held rows of run %s: %w", id, err)
			}
			for _, h := range resp.GetRows() {
				total++
				by := h.GetReappliedBy()
				if by == "" {
					by = "-"
				}
				t.row(count(h.GetRow()), h.GetColumn(), h.GetValue(), h.GetTable(), by)
			}
			if resp.GetNextPageToken() == "" {
				break
			}
			req.PageToken = resp.GetNextPageToken()
		}
		if total == 0 {
			fmt.Fprintf(s.stderr, "Run %s held no rows.\n", id)
			return nil
		}
		return t.flush()
	}
}

func setupRunsReapply(fs *flag.FlagSet) action {
	wait := fs.Bool("wait", false, "follow the new run until it ends and print its counts")
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.runs.ReapplyHeldRows(ctx, &ferryv1.ReapplyHeldRowsRequest{Id: args[0]})
		if err != nil {
			return fmt.Errorf("re-apply held rows of run %s: %w", args[0], err)
		}
		fmt.Fprintln(s.stdout, resp.GetRun().GetId())
		if !*wait {
			return nil
		}
		return s.watchAndSummarize(ctx, c, resp.GetRun().GetId())
	}
}

func setupRunsCancel(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.runs.CancelRun(ctx, &ferryv1.CancelRunRequest{Id: args[0]})
		if err != nil {
			return fmt.Errorf("cancel run %s: %w", args[0], err)
		}
		fmt.Fprintf(s.stdout, "run %s %s\n", resp.GetRun().GetId(), runStatusName(resp.GetRun().GetStatus()))
		return nil
	}
}
