// Package importer splits a run's stored file into chunks and publishes them,
// keeping at most a window of chunks of one run in flight so that one large
// file cannot starve other runs.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/services/ingest/internal/runs"
	"github.com/ferrydata/ferry/services/ingest/internal/source"
)

// maxSplitTime bounds how long splitting one file may take, pauses included.
const maxSplitTime = 24 * time.Hour

// Importer handles ImportCommand messages.
type Importer struct {
	JS     jetstream.JetStream
	Files  jetstream.ObjectStore
	Runs   *runs.Client
	Limits source.Limits
	// TempDir holds workbooks while they are read.
	TempDir string
	Window  int
	Log     *slog.Logger
}

// tracker follows a run's progress events: which chunks are applied, and
// whether the run was stopped.
type tracker struct {
	mu      sync.Mutex
	cond    *sync.Cond
	applied map[int64]bool
	stopped string
}

func newTracker() *tracker {
	t := &tracker{applied: map[int64]bool{}}
	t.cond = sync.NewCond(&t.mu)
	return t
}

func (t *tracker) event(p *ferryv1.Progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev := p.GetEvent().(type) {
	case *ferryv1.Progress_Applied:
		t.applied[ev.Applied.GetSeq()] = true
	case *ferryv1.Progress_Canceled:
		t.stopped = "canceled"
	case *ferryv1.Progress_Failed:
		t.stopped = "failed: " + ev.Failed.GetReason()
	}
	t.cond.Broadcast()
}

// wait blocks until fewer than window published chunks are unapplied, the
// run stopped (its reason is returned), or ctx ended.
func (t *tracker) wait(ctx context.Context, published int64, window int) (string, error) {
	stop := context.AfterFunc(ctx, func() {
		t.mu.Lock()
		t.cond.Broadcast()
		t.mu.Unlock()
	})
	defer stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if t.stopped != "" {
			return t.stopped, nil
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if published-int64(len(t.applied)) < int64(window) {
			return "", nil
		}
		t.cond.Wait()
	}
}

// Handle splits the command's file and publishes its chunks. A redelivered
// command publishes the same chunks under the same message ids again; the
// stream drops duplicates within its window and delivery's ledger after it.
func (im *Importer) Handle(ctx context.Context, msg jetstream.Msg) error {
	var cmd ferryv1.ImportCommand
	if err := proto.Unmarshal(msg.Data(), &cmd); err != nil {
		return bus.Permanent(fmt.Errorf("decode import command: %w", err))
	}
	snap := cmd.GetRun()
	log := im.Log.With("tenant", snap.GetTenantId(), "run", snap.GetRunId())

	t := newTracker()
	cons, err := im.JS.OrderedConsumer(ctx, bus.StreamProgress, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.ProgressSubject(snap.GetTenantId(), snap.GetRunId())},
	})
	if err != nil {
		return fmt.Errorf("follow progress of run %s: %w", snap.GetRunId(), err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var p ferryv1.Progress
		if proto.Unmarshal(m.Data(), &p) == nil {
			t.event(&p)
		}
	})
	if err != nil {
		return fmt.Errorf("follow progress of run %s: %w", snap.GetRunId(), err)
	}
	defer cc.Stop()

	// Without a deadline of its own, the object store bounds the whole read
	// by its default request timeout (seconds), and this reader pauses for
	// as long as the window is full.
	rctx, cancel := context.WithTimeout(ctx, maxSplitTime)
	defer cancel()
	obj, err := im.Files.Get(rctx, cmd.GetObject())
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return bus.Permanent(im.Runs.Fail(ctx, snap, "the stored file is missing"))
	}
	if err != nil {
		return fmt.Errorf("open stored file of run %s: %w", snap.GetRunId(), err)
	}
	defer obj.Close()

	src, done, err := im.open(obj, snap)
	if err != nil {
		if bus.IsPermanent(err) {
			return im.Runs.Fail(ctx, snap, err.Error())
		}
		return err
	}
	defer done()
	header, err := src.Header()
	if err != nil {
		return im.Runs.Fail(ctx, snap, err.Error())
	}
	var published int64
	for {
		c, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if cmd.GetReportFile() {
				// Nobody split this file before (a workbook, whose upload
				// checks the header only, or held rows): its error is the
				// file's.
				return im.Runs.Fail(ctx, snap, err.Error())
			}
			// The upload check split this file cleanly; a different result
			// means the stored bytes changed.
			return im.Runs.Fail(ctx, snap, "stored file cannot be split: "+err.Error())
		}
		stopped, err := t.wait(ctx, published, im.Window)
		if err != nil {
			return err
		}
		if stopped != "" {
			log.InfoContext(ctx, "import stopped", "reason", stopped, "published", published)
			return nil
		}
		chunk := &ferryv1.Chunk{Run: snap, Header: header, Seq: c.Seq, FirstRow: c.FirstRow, Rows: c.Rows, Data: c.Data,
			StandardCsv: src.StandardCSV(), Encoding: src.Encoding()}
		id := bus.MsgID("chunk", snap.GetRunId(), c.Seq)
		if n := cmd.GetRedrive(); n > 0 {
			// The lost chunks' ids may still be in the stream's duplicate window.
			id += fmt.Sprintf("/r%d", n)
		}
		if err := bus.Publish(ctx, im.JS, bus.ChunkSubject(snap.GetTenantId(), snap.GetRunId()), id, chunk); err != nil {
			return err
		}
		published++
	}
	log.InfoContext(ctx, "file split", "chunks", published, "rows", src.Rows())
	if cmd.GetReportFile() {
		if err := im.Runs.Publish(ctx, snap, "manifest", &ferryv1.Progress{Event: &ferryv1.Progress_Manifest{
			Manifest: &ferryv1.Manifest{Chunks: published, Rows: src.Rows()}}}); err != nil {
			return err
		}
	}
	return nil
}

// open reads the stored file as the profile says: text as a stream, a
// workbook from a local copy (its zip directory is at the end).
func (im *Importer) open(obj io.Reader, snap *ferryv1.RunSnapshot) (source.Source, func(), error) {
	if !source.IsWorkbook(snap.GetSpec()) {
		src, err := source.OpenText(obj, snap.GetSpec(), im.Limits)
		return src, func() {}, bus.Permanent(err)
	}
	f, err := os.CreateTemp(im.TempDir, "ferry-import-*")
	if err != nil {
		return nil, nil, fmt.Errorf("spool workbook: %w", err)
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	size, err := io.Copy(f, obj)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("spool workbook: %w", err)
	}
	sheet, err := source.OpenWorkbook(f, size, snap.GetSpec(), im.Limits)
	if err != nil {
		cleanup()
		return nil, nil, bus.Permanent(err)
	}
	return sheet, func() { sheet.Close(); cleanup() }, nil
}
