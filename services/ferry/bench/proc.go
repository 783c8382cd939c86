package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a running `ferry server` process.
type proc struct {
	name     string
	cmd      *exec.Cmd
	grpcAddr string
	httpAddr string
	key      string
	done     chan struct{}
	err      error

	mu     sync.Mutex
	events []logEvent
	tail   []string
}

// logEvent is one log line of interest (per-stage timings).
type logEvent struct {
	Time time.Time
	Msg  string
	Run  string
	Seq  int64
}

var (
	servingRE = regexp.MustCompile(`ferry: serving gRPC on (\S+) and HTTP on (\S+)`)
	keyRE     = regexp.MustCompile(`^\s+(fy_\S+)$`)
)

// stageMessages are the log messages per-stage timings are derived from.
var stageMessages = map[string]bool{
	"file received": true, "file split": true, "chunk staged": true, "run applied": true,
	"export run read": true, "export run assembled": true, "run ended": true,
}

// startProc starts `ferry server` with args and waits until it serves.
func startProc(bin, name string, args []string) (*proc, error) {
	args = append([]string{"server", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--log-format", "json", "--log-level", "debug"}, args...)
	cmd := exec.Command(bin, args...)
	// The process dies with the benchmark, whatever stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	ready := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if m := keyRE.FindStringSubmatch(line); m != nil {
				p.key = m[1]
			}
			if m := servingRE.FindStringSubmatch(line); m != nil && !signalled {
				p.grpcAddr, p.httpAddr = m[1], m[2]
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		defer wg.Done()
		p.readLog(errPipe)
	}()
	go func() {
		wg.Wait()
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case <-ready:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("ferry server %s exited before serving: %v\n%s", name, p.err, p.logTail())
	case <-time.After(90 * time.Second):
		p.kill()
		return nil, fmt.Errorf("ferry server %s did not serve within 90s\n%s", name, p.logTail())
	}
}

// readLog keeps the stage events and the last lines of the process's log.
func (p *proc) readLog(r io.Reader) {
	// Read to the end whatever the lines are: a process whose log pipe
	// fills up stops.
	defer func() { _, _ = io.Copy(io.Discard, r) }()
	br := bufio.NewReaderSize(r, 256<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer carries no stage event: skip it.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		if err != nil {
			return
		}
		var ev struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
			Run  string    `json:"run"`
			Seq  int64     `json:"seq"`
		}
		interesting := false
		for m := range stageMessages {
			interesting = interesting || bytes.Contains(line, []byte(`"msg":"`+m+`"`))
		}
		debug := bytes.Contains(line, []byte(`"level":"DEBUG"`))
		p.mu.Lock()
		if interesting && json.Unmarshal(line, &ev) == nil && stageMessages[ev.Msg] {
			p.events = append(p.events, logEvent{Time: ev.Time, Msg: ev.Msg, Run: ev.Run, Seq: ev.Seq})
		}
		if !debug {
			p.tail = append(p.tail, string(line))
			if len(p.tail) > 60 {
				p.tail = p.tail[len(p.tail)-40:]
			}
		}
		p.mu.Unlock()
	}
}

func (p *proc) logTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// eventsOf returns the stage events of run.
func (p *proc) eventsOf(run string) []logEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []logEvent
	for _, e := range p.events {
		if e.Run == run {
			out = append(out, e)
		}
	}
	return out
}

// alive says whether the process still runs.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// resetPeak resets the kernel's peak resident set of the process (VmHWM),
// so that the next peakRSS is the peak since now.
func (p *proc) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
}

// peakRSS is the process's peak resident set in bytes (VmHWM), 0 when unknown.
func (p *proc) peakRSS() int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// stop sends SIGTERM and waits for a drained exit, then kills.
func (p *proc) stop() {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// freePort returns a TCP port free on 127.0.0.1 right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
