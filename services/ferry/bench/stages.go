package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// stages are the per-stage timings of one run, in seconds from its start
// (the upload's first message, or StartExport). They come from what the
// server records: the run's timestamps (ferry.runs), the chunk ledger
// (ferry.run_chunks.applied_at, when delivery's staging transaction
// began) and the processes' logs ("file received", "file split", "chunk
// staged" at debug level, "run applied", "export run read", "export run
// assembled").
type stages struct {
	// Import runs.
	Received    float64 `json:"received,omitempty"`     // ingest stored and checked the whole upload
	Split       float64 `json:"split,omitempty"`        // ingest published the last chunk
	FirstStaged float64 `json:"first_staged,omitempty"` // delivery committed the first chunk
	LastStaged  float64 `json:"last_staged,omitempty"`  // delivery committed the last chunk
	Applied     float64 `json:"applied,omitempty"`      // delivery applied the run
	// Finishing is ferry.runs.finished_at: when the transaction that
	// ended the run began (delivery's apply, or its assembly of an export).
	Finishing float64 `json:"finishing,omitempty"`
	Chunks    int     `json:"chunks,omitempty"`
	// StagingInFlight is the most chunks being staged at once (their
	// staging transactions overlapping), StagingMeanInFlight the mean over
	// the staging window: chunks staged in parallel.
	StagingInFlight     int     `json:"staging_in_flight,omitempty"`
	StagingMeanInFlight float64 `json:"staging_mean_in_flight,omitempty"`
	// ChunksBy counts the chunks each process staged.
	ChunksBy map[string]int `json:"chunks_by,omitempty"`

	// Export runs.
	Read      float64 `json:"read,omitempty"`      // export read the snapshot
	Assembled float64 `json:"assembled,omitempty"` // delivery assembled the files
}

func (s *stages) String() string {
	if s == nil {
		return ""
	}
	var parts []string
	add := func(name string, v float64) {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", name, v))
		}
	}
	add("received", s.Received)
	add("split", s.Split)
	add("first-staged", s.FirstStaged)
	add("last-staged", s.LastStaged)
	add("read", s.Read)
	add("finishing", s.Finishing)
	add("applied", s.Applied)
	add("assembled", s.Assembled)
	if s.Chunks > 0 {
		parts = append(parts, fmt.Sprintf("chunks %d, staged in flight max %d mean %.1f", s.Chunks, s.StagingInFlight, s.StagingMeanInFlight))
	}
	if len(s.ChunksBy) > 1 {
		var by []string
		for k, v := range s.ChunksBy {
			by = append(by, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(by)
		parts = append(parts, "by "+strings.Join(by, ", "))
	}
	return strings.Join(parts, "; ")
}

// runStages derives the stages of run, which started at start. The logs
// are read as they come: it first waits a little for lastEvent, the run's last
// stage event, to be read from some process.
func runStages(ctx context.Context, conn *pgx.Conn, c *cluster, run, lastEvent string, start time.Time) (*stages, error) {
	c.waitEvent(run, lastEvent, 10*time.Second)
	s := &stages{}
	since := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return t.Sub(start).Seconds()
	}
	var finished *time.Time
	if err := conn.QueryRow(ctx, `SELECT finished_at FROM ferry.runs WHERE id = $1`, run).Scan(&finished); err != nil {
		return nil, fmt.Errorf("read run %s: %w", run, err)
	}
	if finished != nil {
		s.Finishing = since(*finished)
	}
	// The staging transactions' starts, by chunk.
	begun := map[int64]time.Time{}
	rows, err := conn.Query(ctx, `SELECT seq, applied_at FROM ferry.run_chunks WHERE run_id = $1`, run)
	if err != nil {
		return nil, fmt.Errorf("read chunks of run %s: %w", run, err)
	}
	for rows.Next() {
		var seq int64
		var at time.Time
		if err := rows.Scan(&seq, &at); err != nil {
			return nil, err
		}
		begun[seq] = at
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	type span struct{ from, to time.Time }
	var spans []span
	var first, last time.Time
	for name, evs := range c.events(run) {
		for _, e := range evs {
			switch e.Msg {
			case "file received":
				s.Received = since(e.Time)
			case "file split":
				s.Split = since(e.Time)
			case "run applied":
				s.Applied = since(e.Time)
			case "export run read":
				s.Read = since(e.Time)
			case "export run assembled":
				s.Assembled = since(e.Time)
			case "chunk staged":
				s.Chunks++
				if s.ChunksBy == nil {
					s.ChunksBy = map[string]int{}
				}
				s.ChunksBy[name]++
				if first.IsZero() || e.Time.Before(first) {
					first = e.Time
				}
				if e.Time.After(last) {
					last = e.Time
				}
				if b, ok := begun[e.Seq]; ok && !b.After(e.Time) {
					spans = append(spans, span{b, e.Time})
				}
			}
		}
	}
	s.FirstStaged, s.LastStaged = since(first), since(last)
	// Chunks in flight: the most staging transactions open at once, and
	// the mean (total staging time over the staging window).
	type edge struct {
		at time.Time
		d  int
	}
	var edges []edge
	var busy time.Duration
	lo, hi := time.Time{}, time.Time{}
	for _, sp := range spans {
		edges = append(edges, edge{sp.from, 1}, edge{sp.to, -1})
		busy += sp.to.Sub(sp.from)
		if lo.IsZero() || sp.from.Before(lo) {
			lo = sp.from
		}
		if sp.to.After(hi) {
			hi = sp.to
		}
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].d < edges[j].d
		}
		return edges[i].at.Before(edges[j].at)
	})
	n := 0
	for _, e := range edges {
		n += e.d
		s.StagingInFlight = max(s.StagingInFlight, n)
	}
	if w := hi.Sub(lo); w > 0 {
		s.StagingMeanInFlight = busy.Seconds() / w.Seconds()
	}
	return s, nil
}
