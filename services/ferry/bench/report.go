package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// target is what a figure should reach: at least Min times its floor's
// rows/s (Ratio), or at least Min rows/s (RowsPerSec).
type target struct {
	Kind string  `json:"kind"` // "ratio" or "rows/s"
	Min  float64 `json:"min"`
}

func (t *target) String() string {
	if t == nil {
		return ""
	}
	if t.Kind == "ratio" {
		return fmt.Sprintf("≥%.1f×", t.Min)
	}
	return fmt.Sprintf("≥%s rows/s", thousands(t.Min))
}

// figure is one measured thing at one size in one mode.
type figure struct {
	Name  string `json:"name"`
	Mode  string `json:"mode"`
	Rows  int    `json:"rows"`
	Bytes int64  `json:"bytes"`
	// Seconds holds every run's duration.
	Seconds []float64 `json:"seconds"`
	// Floor names the figure this one is a ratio to.
	Floor string `json:"floor,omitempty"`

	MedianSeconds float64 `json:"median_seconds"`
	RowsPerSec    float64 `json:"rows_per_sec"`
	MinRowsPerSec float64 `json:"min_rows_per_sec"`
	MaxRowsPerSec float64 `json:"max_rows_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	Ratio         float64 `json:"ratio_to_floor,omitempty"`
	Target        *target `json:"target,omitempty"`
	Met           *bool   `json:"met,omitempty"`

	// PeakRSS is each process's peak resident set during the figure's runs.
	PeakRSS map[string]int64 `json:"peak_rss_bytes,omitempty"`
	// Stages are the per-stage timings of the median run.
	Stages *stages `json:"stages,omitempty"`
	// Profiles summarise the CPU profiles of each process during the
	// figure's last run (BENCH_PPROF).
	Profiles []profileSummary `json:"profiles,omitempty"`
	stage    []*stages
}

func (f *figure) add(d time.Duration, st *stages, rss map[string]int64) {
	f.Seconds = append(f.Seconds, d.Seconds())
	f.stage = append(f.stage, st)
	if f.PeakRSS == nil {
		f.PeakRSS = map[string]int64{}
	}
	for k, v := range rss {
		f.PeakRSS[k] = max(f.PeakRSS[k], v)
	}
}

// latest describes the last run added, for the progress log.
func (f *figure) latest() string {
	if len(f.Seconds) == 0 {
		return "no run"
	}
	d := time.Duration(f.Seconds[len(f.Seconds)-1] * float64(time.Second)).Round(time.Millisecond)
	if st := f.stage[len(f.stage)-1]; st != nil {
		return fmt.Sprintf("%s (%s)", d, st)
	}
	return d.String()
}

// finish computes the statistics of f against floor (nil for none).
func (f *figure) finish(floor *figure) {
	if len(f.Seconds) == 0 {
		return
	}
	s := slices.Clone(f.Seconds)
	sort.Float64s(s)
	f.MedianSeconds = median(s)
	f.RowsPerSec = float64(f.Rows) / f.MedianSeconds
	f.MinRowsPerSec = float64(f.Rows) / s[len(s)-1]
	f.MaxRowsPerSec = float64(f.Rows) / s[0]
	f.MBPerSec = float64(f.Bytes) / 1e6 / f.MedianSeconds
	// The stages of the run whose duration is nearest the median.
	best := 0
	for i, v := range f.Seconds {
		if abs(v-f.MedianSeconds) < abs(f.Seconds[best]-f.MedianSeconds) {
			best = i
		}
	}
	f.Stages = f.stage[best]
	if floor != nil && floor.RowsPerSec > 0 {
		f.Ratio = f.RowsPerSec / floor.RowsPerSec
		f.Floor = floor.Name + " (" + floor.Mode + ")"
	}
	if f.Target != nil {
		v := f.RowsPerSec
		if f.Target.Kind == "ratio" {
			v = f.Ratio
		}
		met := v >= f.Target.Min
		if f.Target.Kind == "ratio" && f.Ratio == 0 {
			return
		}
		f.Met = &met
	}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// result is what the benchmark writes as JSON.
type result struct {
	Started  time.Time   `json:"started"`
	Settings settings    `json:"settings"`
	Machine  machine     `json:"machine"`
	Figures  []*figure   `json:"figures"`
	Memory   []memoryRow `json:"peak_rss"`
	Checks   []check     `json:"checks"`
	Notes    []string    `json:"notes"`
}

type settings struct {
	Rows []int `json:"rows"`
	Runs int   `json:"runs"`
	// RunsLarge is the runs at sizes above 1 000 000 rows.
	RunsLarge int      `json:"runs_large"`
	Modes     []string `json:"modes"`
	// ScaleOutRows are the sizes measured scaled out too.
	ScaleOutRows []int `json:"scale_out_rows"`
	XLSXRows     int   `json:"xlsx_rows"`
}

type machine struct {
	CPUs     int    `json:"cpus"`
	Postgres string `json:"postgres"`
	Go       string `json:"go"`
}

// memoryRow is the peak RSS of one process over a mode and size.
type memoryRow struct {
	Mode    string `json:"mode"`
	Rows    int    `json:"rows"`
	Process string `json:"process"`
	Bytes   int64  `json:"bytes"`
	Met     bool   `json:"met"`
}

// check is a comparison that is not a ratio to a floor (scale-out).
type check struct {
	Name   string  `json:"name"`
	Rows   int     `json:"rows"`
	Value  float64 `json:"value"`
	Target string  `json:"target"`
	Met    bool    `json:"met"`
}

const rssLimit = 512 << 20

func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func metString(m *bool) string {
	switch {
	case m == nil:
		return ""
	case *m:
		return "met"
	}
	return "NOT MET"
}

// print writes the table of res.
func (res *result) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "figure\tmode\trows\tmedian rows/s\tmin\tmax\tMB/s\tratio\ttarget\tmet\tpeak RSS MiB\t")
	for _, f := range res.Figures {
		ratio := ""
		if f.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f×", f.Ratio)
		}
		// The largest process's peak during the figure's runs.
		var peak int64
		for _, v := range f.PeakRSS {
			peak = max(peak, v)
		}
		rss := ""
		if peak > 0 {
			rss = fmt.Sprintf("%.0f", float64(peak)/(1<<20))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t\n", f.Name, f.Mode, thousands(float64(f.Rows)),
			thousands(f.RowsPerSec), thousands(f.MinRowsPerSec), thousands(f.MaxRowsPerSec), f.MBPerSec, ratio, f.Target, metString(f.Met), rss)
	}
	tw.Flush()

	if len(res.Checks) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "check\trows\tvalue\ttarget\tmet")
		for _, c := range res.Checks {
			m := c.Met
			fmt.Fprintf(tw, "%s\t%s\t%.2f×\t%s\t%s\n", c.Name, thousands(float64(c.Rows)), c.Value, c.Target, metString(&m))
		}
		tw.Flush()
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "peak RSS\tmode\trows\tMiB\ttarget\tmet")
	for _, m := range res.Memory {
		met := m.Met
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t≤512 MiB\t%s\n", m.Process, m.Mode, thousands(float64(m.Rows)), float64(m.Bytes)/(1<<20), metString(&met))
	}
	tw.Flush()

	fmt.Fprintln(w)
	fmt.Fprintln(w, "per-stage timings of the median run (seconds from upload start / export start):")
	for _, f := range res.Figures {
		if f.Stages == nil {
			continue
		}
		fmt.Fprintf(w, "  %s, %s, %s rows: %s\n", f.Name, f.Mode, thousands(float64(f.Rows)), f.Stages)
	}
	for _, f := range res.Figures {
		for _, p := range f.Profiles {
			fmt.Fprintf(w, "\nCPU profile of %s during %s, %s, %s rows (last run):\n", p.Process, f.Name, f.Mode, thousands(float64(f.Rows)))
			for _, line := range p.Top {
				fmt.Fprintln(w, "  "+line)
			}
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func (res *result) writeJSON(path string) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
