package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\x1b[K"

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// isTerminal reports whether w is a terminal that can redraw a line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress shows a run's progress on stderr. On a terminal it redraws one
// line: a bar of chunks once their number is known, a spinner before. Anywhere
// else it prints a line whenever the status changes, so that logs stay short.
type progress struct {
	w   io.Writer
	tty bool
	id  string

	mu    sync.Mutex
	run   *ferryv1.Run
	note  string
	shown ferryv1.RunStatus // the last status printed, when not on a terminal
	frame int
	drawn bool

	quit chan struct{}
	done chan struct{}
}

func newProgress(w io.Writer, id string) *progress {
	p := &progress{w: w, tty: isTerminal(w), id: id}
	if p.tty {
		p.quit, p.done = make(chan struct{}), make(chan struct{})
		go p.animate()
	}
	return p
}

func (p *progress) animate() {
	defer close(p.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
			p.mu.Lock()
			p.frame++
			p.draw()
			p.mu.Unlock()
		}
	}
}

// update shows the run as it is now.
func (p *progress) update(run *ferryv1.Run) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.run, p.note = run, ""
	if p.tty {
		p.draw()
		return
	}
	if st := run.GetStatus(); st != p.shown && !ended(st) {
		p.shown = st
		fmt.Fprintf(p.w, "run %s %s\n", p.id, runStatusName(st))
	}
}

// notice shows a message about the watch itself, such as a reconnect.
func (p *progress) notice(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.note = msg
		p.draw()
		return
	}
	fmt.Fprintf(p.w, "run %s: %s\n", p.id, msg)
}

// stop ends the animation and erases its line.
func (p *progress) stop() {
	if !p.tty {
		return
	}
	close(p.quit)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, clearLine)
	}
}

// draw redraws the line; the caller holds p.mu.
func (p *progress) draw() {
	var b strings.Builder
	b.WriteString(spinnerFrames[p.frame%len(spinnerFrames)])
	fmt.Fprintf(&b, " run %s ", p.id)
	if p.run == nil {
		b.WriteString("connecting")
	} else {
		b.WriteString(runStatusName(p.run.GetStatus()))
		if total := p.run.GetChunksTotal(); total > 0 {
			b.WriteString("  " + bar(p.run.GetChunksDone(), total, 24))
			fmt.Fprintf(&b, " %d/%d chunks", p.run.GetChunksDone(), total)
		}
		n := p.run.GetCounts()
		fmt.Fprintf(&b, "  read %d  rejected %d", n.GetRead(), n.GetRejected())
	}
	if p.note != "" {
		b.WriteString("  " + p.note)
	}
	fmt.Fprint(p.w, clearLine+b.String())
	p.drawn = true
}

// bar draws done/total as a bar of width characters.
func bar(done, total int64, width int) string {
	done = min(max(done, 0), total)
	filled := int(int64(width) * done / total)
	return "[" + strings.Repeat("=", filled) + strings.Repeat(" ", width-filled) + "]"
}

// uploadMeter shows how much of a file has been sent, on a terminal only.
type uploadMeter struct {
	w     io.Writer
	tty   bool
	name  string
	total int64
	sent  int64
	last  time.Time
	drawn bool
}

func newUploadMeter(w io.Writer, name string, total int64) *uploadMeter {
	return &uploadMeter{w: w, tty: isTerminal(w), name: name, total: total}
}

func (m *uploadMeter) add(n int) {
	m.sent += int64(n)
	if !m.tty || time.Since(m.last) < 100*time.Millisecond {
		return
	}
	m.last = time.Now()
	line := fmt.Sprintf("uploading %s  %s", m.name, byteSize(m.sent))
	if m.total > 0 {
		line = fmt.Sprintf("uploading %s  %s %s of %s", m.name, bar(m.sent, m.total, 24), byteSize(m.sent), byteSize(m.total))
	}
	fmt.Fprint(m.w, clearLine+line)
	m.drawn = true
}

func (m *uploadMeter) finish() {
	if m.drawn {
		fmt.Fprint(m.w, clearLine)
		m.drawn = false
	}
}

// byteSize prints n bytes in binary units.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
