package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// Reconnect backoff when a watch stream breaks, for example while the
// server restarts.
const (
	reconnectMin = 250 * time.Millisecond
	reconnectMax = 10 * time.Second
)

// shownRejects is how many rejects a finished run's summary lists.
const shownRejects = 20

// watchAndSummarize follows a run to its end, prints its summary and returns
// an *exitError when it failed or was canceled.
func (s *session) watchAndSummarize(ctx context.Context, c *clients, id string) error {
	run, err := s.follow(ctx, c, id)
	if err != nil {
		return err
	}
	return s.summarize(ctx, c, run)
}

// follow watches a run until it ends, drawing progress on stderr. A broken
// stream is reopened with backoff; only errors that another try cannot fix,
// such as an unknown run, end the watch.
func (s *session) follow(ctx context.Context, c *clients, id string) (*ferryv1.Run, error) {
	p := newProgress(s.stderr, id)
	defer p.stop()
	backoff := reconnectMin
	for {
		stream, err := c.runs.WatchRun(ctx, &ferryv1.WatchRunRequest{Id: id})
		for err == nil {
			var resp *ferryv1.WatchRunResponse
			if resp, err = stream.Recv(); err != nil {
				break
			}
			backoff = reconnectMin
			run := resp.GetRun()
			p.update(run)
			if ended(run.GetStatus()) {
				return run, nil
			}
		}
		if ctx.Err() != nil {
			return nil, interrupted(ctx, id)
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("the server ended the watch before the run ended")
		} else if permanent(err) {
			return nil, fmt.Errorf("watch run %s: %w", id, err)
		}
		p.notice(fmt.Sprintf("watch interrupted (%v); reconnecting in %s", err, backoff))
		select {
		case <-ctx.Done():
			return nil, interrupted(ctx, id)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, reconnectMax)
	}
}

// interrupted explains that stopping the watch does not stop the run.
func interrupted(ctx context.Context, id string) error {
	return fmt.Errorf("watch run %s: %w; the run goes on (follow it with: ferry runs watch %s)", id, context.Cause(ctx), id)
}

// permanent reports whether err would come back on every further try.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated,
		codes.Unimplemented, codes.FailedPrecondition, codes.OutOfRange:
		return true
	}
	return false
}

// ended reports whether a run in this status will change no more without a
// request (a run awaiting approval waits for one).
func ended(st ferryv1.RunStatus) bool {
	switch st {
	case ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS,
		ferryv1.RunStatus_RUN_STATUS_FAILED, ferryv1.RunStatus_RUN_STATUS_CANCELED, ferryv1.RunStatus_RUN_STATUS_AWAITING_APPROVAL:
		return true
	}
	return false
}

// summarize prints an ended run's status and counts, and the first rejects
// of an import or the files of an export; it returns an *exitError when the
// run failed or was canceled.
func (s *session) summarize(ctx context.Context, c *clients, run *ferryv1.Run) error {
	id := run.GetId()
	line := fmt.Sprintf("run %s %s", id, runStatusName(run.GetStatus()))
	if d, ok := runDuration(run); ok {
		line += " in " + d.String()
	}
	fmt.Fprintln(s.stdout, line)
	if run.GetKind() == ferryv1.RunKind_RUN_KIND_EXPORT {
		if err := s.summarizeExport(run); err != nil {
			return err
		}
		return s.endStatus(run)
	}
	n := run.GetCounts()
	fmt.Fprintf(s.stdout, "read %d, inserted %d, updated %d, unchanged %d, superseded %d, rejected %d\n",
		n.GetRead(), n.GetInserted(), n.GetUpdated(), n.GetUnchanged(), n.GetSuperseded(), n.GetRejected())
	if n.GetDeleted() > 0 || n.GetHeld() > 0 {
		fmt.Fprintf(s.stdout, "deleted %d, held %d\n", n.GetDeleted(), n.GetHeld())
	}
	if run.GetDryRun() {
		fmt.Fprintln(s.stdout, "dry run: nothing was written")
	}
	if run.GetNote() != "" {
		fmt.Fprintf(s.stdout, "note: %s\n", run.GetNote())
	}
	if n.GetHeld() > 0 {
		fmt.Fprintf(s.stdout, "held rows need cross-reference entries: ferry runs held %s; once added: ferry runs reapply %s\n", id, id)
	}

	if n.GetRejected() > 0 || run.GetStatus() == ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS {
		resp, err := c.runs.ListRunRejects(ctx, &ferryv1.ListRunRejectsRequest{Id: id, PageSize: shownRejects})
		if err != nil {
			return fmt.Errorf("list rejects of run %s: %w", id, err)
		}
		rejects := resp.GetRejects()
		if len(rejects) > shownRejects {
			rejects = rejects[:shownRejects]
		}
		if len(rejects) > 0 {
			if total := max(n.GetRejected(), int64(len(rejects))); total > int64(len(rejects)) || resp.GetNextPageToken() != "" {
				fmt.Fprintf(s.stdout, "\nfirst %d of %d rejects (all of them: ferry runs rejects %s --table):\n", len(rejects), total, id)
			} else {
				fmt.Fprintf(s.stdout, "\nrejects:\n")
			}
			if err := s.printRejects(rejects); err != nil {
				return err
			}
		}
	}
	return s.endStatus(run)
}

// endStatus says on stderr why a run did not apply, and returns the
// *exitError its status stands for.
func (s *session) endStatus(run *ferryv1.Run) error {
	id := run.GetId()
	switch run.GetStatus() {
	case ferryv1.RunStatus_RUN_STATUS_AWAITING_APPROVAL:
		fmt.Fprintf(s.stderr, "ferry: run %s awaits approval; nothing was applied: ferry runs approve %s (or ferry runs cancel %s)\n", id, id, id)
		return &exitError{code: 3}
	case ferryv1.RunStatus_RUN_STATUS_FAILED, ferryv1.RunStatus_RUN_STATUS_CANCELED:
		msg := fmt.Sprintf("ferry: run %s %s", id, runStatusName(run.GetStatus()))
		if run.GetError() != "" {
			msg += ": " + run.GetError()
		}
		fmt.Fprintln(s.stderr, msg)
		return &exitError{code: 1}
	}
	return nil
}

// runDuration is how long a run took from start to end, if both are known.
func runDuration(run *ferryv1.Run) (time.Duration, bool) {
	start, end := run.GetStartTime(), run.GetEndTime()
	if start == nil || end == nil {
		return 0, false
	}
	d := end.AsTime().Sub(start.AsTime())
	switch {
	case d < 0:
		return 0, false
	case d < time.Second:
		return d.Round(time.Millisecond), true
	default:
		return d.Round(100 * time.Millisecond), true
	}
}

// printRejects prints rejects as a table.
func (s *session) printRejects(rejects []*ferryv1.Reject) error {
	t := newTable(s.stdout, "ROW", "COLUMN", "VALUE", "REASON")
	for _, r := range rejects {
		value := r.GetValue()
		if value == "" {
			value = `""`
		}
		t.row(count(r.GetRow()), r.GetColumn(), value, r.GetReason())
	}
	return t.flush()
}
