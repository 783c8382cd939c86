package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// triggersSpec is the triggers section of an import or export profile
// document.
type triggersSpec struct {
	Schedule        *scheduleSpec  `json:"schedule,omitempty"`
	OnDatasetChange bool           `json:"onDatasetChange,omitempty"`
	DebounceSeconds int32          `json:"debounceSeconds,omitempty"`
	After           []runEndedSpec `json:"after,omitempty"`
}

// scheduleSpec is a cron expression in a time zone.
type scheduleSpec struct {
	Cron     string `json:"cron"`
	TimeZone string `json:"timeZone,omitempty"`
	// CatchUp is "last" (the default) or "none".
	CatchUp string `json:"catchUp,omitempty"`
}

// runEndedSpec starts a profile when a run of another one ends.
type runEndedSpec struct {
	Profile string `json:"profile"`
	// Kind is "import" (the default) or "export".
	Kind     string   `json:"kind,omitempty"`
	Statuses []string `json:"statuses,omitempty"`
}

// triggers decodes the triggers of a profile document at path.
func (d *decoder) triggers(path string, t *triggersSpec) *ferryv1.Triggers {
	if t == nil {
		return nil
	}
	out := &ferryv1.Triggers{OnDatasetChange: t.OnDatasetChange, DebounceSeconds: t.DebounceSeconds}
	if t.DebounceSeconds < 0 {
		d.errorf(path+".debounceSeconds", "must not be negative (0 is 60 seconds)")
	}
	if s := t.Schedule; s != nil {
		if strings.TrimSpace(s.Cron) == "" {
			d.errorf(path+".schedule.cron", "missing (five fields, or @hourly, @daily, @weekly, @monthly, @yearly)")
		}
		out.Schedule = &ferryv1.Schedule{Cron: s.Cron, TimeZone: s.TimeZone,
			CatchUp: ferryv1.CatchUp(d.enum(path+".schedule.catchUp", "catch-up policy", ferryv1.CatchUp_value, ferryv1.CatchUp_name, "CATCH_UP_", s.CatchUp))}
	}
	for i, a := range t.After {
		at := fmt.Sprintf("%s.after[%d]", path, i)
		if a.Profile == "" {
			d.errorf(at+".profile", "missing")
		}
		r := &ferryv1.RunEndedTrigger{Profile: a.Profile,
			Kind: ferryv1.RunKind(d.enum(at+".kind", "kind", ferryv1.RunKind_value, ferryv1.RunKind_name, "RUN_KIND_", a.Kind))}
		for j, st := range a.Statuses {
			n, ok := parseRunStatus(st)
			if !ok {
				d.errorf(fmt.Sprintf("%s.statuses[%d]", at, j), "unknown status %q (want one of: %s)", st, strings.Join(runStatusNames(), ", "))
			}
			r.Statuses = append(r.Statuses, n)
		}
		out.After = append(out.After, r)
	}
	return out
}

// triggersResource is the document form of a profile's triggers.
func triggersResource(t *ferryv1.Triggers) *triggersSpec {
	if t == nil {
		return nil
	}
	out := &triggersSpec{OnDatasetChange: t.GetOnDatasetChange(), DebounceSeconds: t.GetDebounceSeconds()}
	if s := t.GetSchedule(); s != nil {
		out.Schedule = &scheduleSpec{Cron: s.GetCron(), TimeZone: s.GetTimeZone(),
			CatchUp: enumName(int32(s.GetCatchUp()), ferryv1.CatchUp_name, "CATCH_UP_")}
	}
	for _, a := range t.GetAfter() {
		r := runEndedSpec{Profile: a.GetProfile(), Kind: enumName(int32(a.GetKind()), ferryv1.RunKind_name, "RUN_KIND_")}
		for _, st := range a.GetStatuses() {
			r.Statuses = append(r.Statuses, runStatusName(st))
		}
		out.After = append(out.After, r)
	}
	if out.Schedule == nil && !out.OnDatasetChange && out.DebounceSeconds == 0 && len(out.After) == 0 {
		return nil
	}
	return out
}

// scheduleZone is where a profile's fire times are shown: its schedule's
// time zone (UTC when none is named, or it is unknown here).
func scheduleZone(t *ferryv1.Triggers) *time.Location {
	if tz := t.GetSchedule().GetTimeZone(); tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			return loc
		}
	}
	return time.UTC
}

// fireTime is a fire time in the schedule's zone, with its offset.
func fireTime(ts *timestamppb.Timestamp, loc *time.Location) string {
	return ts.AsTime().In(loc).Format("2006-01-02 15:04 -07:00")
}

// nextRun is the NEXT RUN column: the first fire time, or "-".
func nextRun(t *ferryv1.Triggers, times []*timestamppb.Timestamp) string {
	if len(times) == 0 {
		return "-"
	}
	return fireTime(times[0], scheduleZone(t))
}

// printNextRuns lists a profile's next fire times, in its schedule's zone.
func printNextRuns(w io.Writer, t *ferryv1.Triggers, status ferryv1.ProfileStatus, times []*timestamppb.Timestamp) {
	s := t.GetSchedule()
	if s == nil {
		return
	}
	loc := scheduleZone(t)
	fmt.Fprintf(w, "schedule: %s (%s)\n", s.GetCron(), loc)
	if status != ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE {
		fmt.Fprintln(w, "next runs: none (a draft never runs by itself: set status active)")
		return
	}
	fmt.Fprintln(w, "next runs:")
	for _, ts := range times {
		fmt.Fprintf(w, "  %s\n", fireTime(ts, loc))
	}
}

func setupRun(fs *flag.FlagSet) action {
	key := fs.String("idempotency-key", "", "a `KEY` that makes retrying safe: the same key returns the run it first started (keys are kept 7 days)")
	wait := fs.Bool("wait", false, "follow the run until it ends; exit 1 if it failed or was canceled")
	return func(ctx context.Context, s *session, args []string) error {
		profile := args[0]
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.runs.StartRun(ctx, &ferryv1.StartRunRequest{Profile: profile, IdempotencyKey: *key})
		if err != nil {
			return fmt.Errorf("run %s: %w", profile, err)
		}
		id := resp.GetRun().GetId()
		fmt.Fprintln(s.stdout, id)
		if !*wait {
			return nil
		}
		run, err := s.follow(ctx, c, id)
		if err != nil {
			return err
		}
		return s.summarize(ctx, c, run)
	}
}
