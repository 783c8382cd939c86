package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// Modes of running the services.
const (
	allInOne = "all-in-one"
	scaleOut = "scale-out"
)

// cluster is the ferry processes of one mode against one database.
type cluster struct {
	mode  string
	bin   string
	db    string
	procs []*proc
	conn  *grpc.ClientConn
	key   string
	addr  string

	runs   ferryv1.RunServiceClient
	ingest ferryv1.IngestServiceClient
	export ferryv1.ExportServiceClient
}

// startCluster starts the processes of mode: one `ferry server` with every
// service and embedded NATS, or, scaled out, profile+ingest+export with the
// embedded NATS server exposed, and two transform and two delivery
// processes against it. pprof has every process serve /debug/pprof/.
func startCluster(bin, mode, db, dataDir string, pprof bool) (*cluster, error) {
	c := &cluster{mode: mode, bin: bin, db: db}
	start := func(name string, args ...string) (*proc, error) {
		dir := filepath.Join(dataDir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		args = append([]string{"--database-url", db, "--data-dir", dir}, args...)
		if pprof {
			args = append(args, "--pprof")
		}
		p, err := startProc(bin, name, args)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.procs = append(c.procs, p)
		return p, nil
	}
	var main *proc
	var err error
	switch mode {
	case allInOne:
		if main, err = start("ferry"); err != nil {
			return nil, err
		}
	case scaleOut:
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		if main, err = start("profile+ingest+export", "--services=profile,ingest,export", "--nats-listen", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			return nil, err
		}
		url := fmt.Sprintf("nats://127.0.0.1:%d", port)
		for _, name := range []string{"transform-1", "transform-2", "delivery-1", "delivery-2"} {
			svc := strings.TrimSuffix(strings.TrimSuffix(name, "-1"), "-2")
			if _, err := start(name, "--services="+svc, "--nats-url", url); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("unknown mode %q (want %s or %s)", mode, allInOne, scaleOut)
	}
	if main.key == "" {
		c.stop()
		return nil, fmt.Errorf("ferry server printed no bootstrap admin key: the database %s was not fresh", db)
	}
	c.key, c.addr = main.key, main.grpcAddr
	c.conn, err = grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		c.stop()
		return nil, err
	}
	c.runs = ferryv1.NewRunServiceClient(c.conn)
	c.ingest = ferryv1.NewIngestServiceClient(c.conn)
	c.export = ferryv1.NewExportServiceClient(c.conn)
	return c, nil
}

func (c *cluster) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.key)
}

// stop stops every process, workers first.
func (c *cluster) stop() {
	if c.conn != nil {
		c.conn.Close()
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop()
	}
}

// check fails when a process has exited.
func (c *cluster) check() error {
	for _, p := range c.procs {
		if !p.alive() {
			return fmt.Errorf("ferry server %s exited: %v\n%s", p.name, p.err, p.logTail())
		}
	}
	return nil
}

// apply applies a YAML document with `ferry apply`.
func (c *cluster) apply(ctx context.Context, dir, name, doc string) error {
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, c.bin, "apply", "-f", path)
	cmd.Env = append(os.Environ(), "FERRY_ADDR="+c.addr, "FERRY_API_KEY="+c.key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ferry apply -f %s: %v\n%s", path, err, out)
	}
	return nil
}

// upload streams the file at path into a new run of profile and returns
// the run's id once the upload is accepted.
func (c *cluster) upload(ctx context.Context, profile, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	s, err := c.ingest.Upload(c.ctx(ctx))
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	h := &ferryv1.UploadHeader{Profile: profile, FileName: filepath.Base(path), Size: fi.Size()}
	if err := s.Send(&ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Header{Header: h}}); err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	buf := make([]byte, 256<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if serr := s.Send(&ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Data{Data: buf[:n]}}); serr != nil {
				if serr == io.EOF {
					break // the server ended the stream; CloseAndRecv says why
				}
				return "", fmt.Errorf("upload %s: %w", path, serr)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	resp, err := s.CloseAndRecv()
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	return resp.GetRun().GetId(), nil
}

// wait polls the run until it has ended and returns it.
func (c *cluster) wait(ctx context.Context, id string, timeout time.Duration) (*ferryv1.Run, error) {
	deadline := time.Now().Add(timeout)
	for {
		r, err := c.runs.GetRun(c.ctx(ctx), &ferryv1.GetRunRequest{Id: id})
		if err != nil {
			return nil, fmt.Errorf("get run %s: %w", id, err)
		}
		switch r.GetRun().GetStatus() {
		case ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS,
			ferryv1.RunStatus_RUN_STATUS_FAILED, ferryv1.RunStatus_RUN_STATUS_CANCELED, ferryv1.RunStatus_RUN_STATUS_AWAITING_APPROVAL:
			return r.GetRun(), nil
		}
		if err := c.check(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("run %s still %s after %s", id, r.GetRun().GetStatus(), timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// resetPeaks starts a new peak-RSS window on every process.
func (c *cluster) resetPeaks() {
	for _, p := range c.procs {
		p.resetPeak()
	}
}

// peaks returns each process's peak RSS since the last resetPeaks.
func (c *cluster) peaks() map[string]int64 {
	out := map[string]int64{}
	for _, p := range c.procs {
		out[p.name] = p.peakRSS()
	}
	return out
}

// events returns every process's stage events of run, with the process name.
func (c *cluster) events(run string) map[string][]logEvent {
	out := map[string][]logEvent{}
	for _, p := range c.procs {
		out[p.name] = p.eventsOf(run)
	}
	return out
}

// waitEvent waits until some process has logged msg for run, at most timeout.
func (c *cluster) waitEvent(run, msg string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		for _, p := range c.procs {
			for _, e := range p.eventsOf(run) {
				if e.Msg == msg {
					return true
				}
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
