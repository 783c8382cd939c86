package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// profileSlice is how long each CPU profile of a sampling loop lasts:
// profiles are taken back to back while a run is in flight and merged
// afterwards, since a run's length is not known when it starts.
const profileSlice = 5 * time.Second

// profileTop is how many functions a figure's profile summary lists.
const profileTop = 12

// profiler takes CPU profiles of every process of a cluster during one
// run, through the /debug/pprof/ endpoints `ferry server --pprof` serves.
type profiler struct {
	dir    string // where the profiles go
	prefix string // file name prefix: figure, mode, rows
	stop   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	files map[string][]string // process name → profile files
	errs  []error
}

// startProfiles starts sampling every process of c, or returns nil when
// the benchmark takes no profiles.
func (b *bench) startProfiles(c *cluster, name, mode string, rows int) *profiler {
	if b.cfg.PprofDir == "" {
		return nil
	}
	slug := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(name), "-"), "-")
	p := &profiler{dir: b.cfg.PprofDir, prefix: fmt.Sprintf("%s-%s-%d", slug, mode, rows), stop: make(chan struct{}), files: map[string][]string{}}
	for _, pr := range c.procs {
		p.wg.Add(1)
		go p.sample(pr)
	}
	return p
}

// sample takes profile after profile of pr until stopped; the last one
// ends at most one slice after the run, which adds idle time but no
// samples.
func (p *profiler) sample(pr *proc) {
	defer p.wg.Done()
	client := &http.Client{Timeout: profileSlice + 30*time.Second}
	for i := 0; ; i++ {
		select {
		case <-p.stop:
			return
		default:
		}
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pr.httpAddr, int(profileSlice/time.Second))
		path := filepath.Join(p.dir, fmt.Sprintf("%s-%s-%03d.pprof", p.prefix, pr.name, i))
		if err := fetch(client, url, path); err != nil {
			p.mu.Lock()
			p.errs = append(p.errs, fmt.Errorf("%s: %w", pr.name, err))
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		p.files[pr.name] = append(p.files[pr.name], path)
		p.mu.Unlock()
	}
}

func fetch(client *http.Client, url, path string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// abandon stops sampling after a failed run; its profiles are left.
func (p *profiler) abandon() error {
	if p == nil {
		return nil
	}
	close(p.stop)
	p.wg.Wait()
	return nil
}

// profileSummary is the hottest functions of one process during a run.
type profileSummary struct {
	Process string   `json:"process"`
	Files   []string `json:"files"`
	// Top lists the functions with the most CPU time of their own, as
	// `go tool pprof -top` prints them (flat, flat%, sum%, cum, cum%).
	Top []string `json:"top"`
}

// finish waits for the last profiles and summarises each process's with
// `go tool pprof`, which merges the slices.
func (p *profiler) finish(ctx context.Context) ([]profileSummary, error) {
	if p == nil {
		return nil, nil
	}
	close(p.stop)
	p.wg.Wait()
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("cpu profiles (is the server started with --pprof?): %v", p.errs[0])
	}
	var out []profileSummary
	names := slices.Sorted(maps.Keys(p.files))
	for _, name := range names {
		files := p.files[name]
		args := append([]string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", profileTop)}, files...)
		cmd := exec.CommandContext(ctx, "go", args...)
		text, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go tool pprof of %s: %w", name, err)
		}
		s := profileSummary{Process: name, Files: files}
		for _, line := range strings.Split(string(text), "\n") {
			// Keep the totals line and the function lines.
			if strings.HasPrefix(line, "Showing nodes") || strings.HasPrefix(line, "Duration:") || regexp.MustCompile(`^\s*[0-9.]+m?s\s`).MatchString(line) {
				s.Top = append(s.Top, strings.TrimRight(line, " "))
			}
		}
		out = append(out, s)
	}
	return out, nil
}
