package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/testkit"
)

// ferryBin is the binary under test, built once by TestMain.
var ferryBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-e2e")
	if err != nil {
		panic(err)
	}
	ferryBin = filepath.Join(dir, "ferry")
	build := exec.Command("go", "build", "-o", ferryBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ferry:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running `ferry server`.
type proc struct {
	t        testing.TB
	cmd      *exec.Cmd
	GRPCAddr string
	HTTPAddr string
	// Key is the bootstrap admin key, when this process printed one.
	Key  string
	done chan struct{}
	err  error
	log  *testkit.Buffer
}

var (
	servingRE = regexp.MustCompile(`ferry: serving gRPC on (\S+) and HTTP on (\S+)`)
	keyRE     = regexp.MustCompile(`^\s+(fy_\S+)$`)
)

// startServer starts `ferry server` with args and waits until it serves.
func startServer(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	args = append([]string{"server", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "debug"}, args...)
	cmd := exec.Command(ferryBin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{t: t, cmd: cmd, done: make(chan struct{}), log: &testkit.Buffer{}}
	cmd.Stderr = p.log
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if m := keyRE.FindStringSubmatch(line); m != nil {
				p.Key = m[1]
			}
			if m := servingRE.FindStringSubmatch(line); m != nil && !signalled {
				p.GRPCAddr, p.HTTPAddr = m[1], m[2]
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("ferry server exited before serving: %v\n%s", p.err, p.log.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("ferry server did not serve within 60s\n%s", p.log.String())
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("ferry server %v log:\n%s", args, tail(p.log.String(), 6000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// stop sends SIGTERM and waits for a drained exit.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits for the process to exit by itself and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("ferry server did not exit within %s", timeout)
	}
	if p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// runCLI runs a ferry client command against addr with key.
func runCLI(t testing.TB, addr, key string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(ferryBin, args...)
	cmd.Env = append(os.Environ(), "FERRY_ADDR="+addr, "FERRY_API_KEY="+key)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "run ferry %v: %v", args, err)
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// client is a gRPC client of a ferry server with one key.
type client struct {
	conn *grpc.ClientConn
	key  string
	Runs ferryv1.RunServiceClient
	DS   ferryv1.DatasetServiceClient
	IP   ferryv1.ImportProfileServiceClient
	Ten  ferryv1.TenantServiceClient
	Ing  ferryv1.IngestServiceClient
	Exp  ferryv1.ExportServiceClient
}

func dial(t testing.TB, addr, key string) *client {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &client{conn: conn, key: key,
		Runs: ferryv1.NewRunServiceClient(conn), DS: ferryv1.NewDatasetServiceClient(conn),
		IP: ferryv1.NewImportProfileServiceClient(conn), Ten: ferryv1.NewTenantServiceClient(conn),
		Ing: ferryv1.NewIngestServiceClient(conn), Exp: ferryv1.NewExportServiceClient(conn)}
}

func (c *client) ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.key)
}

// waitRun waits until the run has ended and returns it.
func (c *client) waitRun(t testing.TB, id string, timeout time.Duration) *ferryv1.Run {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, err := c.Runs.GetRun(c.ctx(t), &ferryv1.GetRunRequest{Id: id})
		require.NoError(t, err)
		switch r.GetRun().GetStatus() {
		case ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS,
			ferryv1.RunStatus_RUN_STATUS_FAILED, ferryv1.RunStatus_RUN_STATUS_CANCELED, ferryv1.RunStatus_RUN_STATUS_AWAITING_APPROVAL:
			return r.GetRun()
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s after %s: %v", id, r.GetRun().GetStatus(), timeout, r.GetRun())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
