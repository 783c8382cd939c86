// Package api holds ingest's gRPC handlers.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/formats/delimited"
	"github.com/ferrydata/ferry/libs/mapping"
	"github.com/ferrydata/ferry/services/ingest/internal/runs"
)

// Limits bound what an upload may be.
type Limits struct {
	MaxFileSize   int64
	ChunkSize     int
	MaxRecordSize int
}

// API implements the IngestService.
type API struct {
	ferryv1.UnimplementedIngestServiceServer
	runs *runs.Client
	// Files is set when the service starts, before the server serves.
	Files  jetstream.ObjectStore
	limits Limits
	log    *slog.Logger
}

// New returns the API.
func New(rc *runs.Client, limits Limits, log *slog.Logger) *API {
	return &API{runs: rc, limits: limits, log: log}
}

// SplitOptions returns the splitter options of a run's profile.
func SplitOptions(snap *ferryv1.RunSnapshot, l Limits) delimited.Options {
	o := delimited.Options{TargetChunkSize: l.ChunkSize, MaxRecordSize: l.MaxRecordSize}
	if d := snap.GetSpec().GetCsv().GetDelimiter(); len(d) == 1 {
		o.Delimiter = d[0]
	}
	return o
}

// Upload receives a file into a new run. The run is created from the header
// message, so an unknown profile fails before any byte is sent; the bytes are
// stored and checked as they arrive (binary content, record boundaries,
// header against the mapping), and only a file that passes is split into
// chunks. A stream cut off fails the run and applies nothing.
func (a *API) Upload(stream ferryv1.IngestService_UploadServer) error {
	ctx := stream.Context()
	p, err := auth.FromContext(ctx)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("receive upload header: %w", err)
	}
	h := first.GetHeader()
	if h == nil {
		return errs.Invalid("the first upload message must be the header naming the profile and file")
	}
	if h.GetProfile() == "" {
		return errs.Invalid("upload header names no profile")
	}
	name := path.Base(strings.ReplaceAll(h.GetFileName(), "\\", "/"))
	if len(name) > 255 || strings.ContainsAny(name, "\x00\r\n") {
		return errs.Invalid("file name is longer than 255 bytes or has control characters")
	}
	if h.GetSize() > a.limits.MaxFileSize {
		return errs.Invalid("file is %d bytes; the limit is %d", h.GetSize(), a.limits.MaxFileSize)
	}
	runID := uuid.NewString()
	run, snap, err := a.runs.Create(ctx, &ferryv1.RunCreateRequest{
		TenantId: p.TenantID.String(), RunId: runID, Profile: h.GetProfile(),
		Trigger: ferryv1.RunTrigger_RUN_TRIGGER_UPLOAD, File: &ferryv1.RunFile{Name: name, Size: h.GetSize()},
	})
	if err != nil {
		return err
	}
	log := a.log.With("tenant", p.TenantID, "run", runID)
	res, err := a.receive(ctx, stream, snap)
	// Whatever happened to the client, the run's outcome is recorded.
	bg := context.WithoutCancel(ctx)
	if err != nil {
		_ = a.Files.Delete(bg, runID)
		log.Warn("upload interrupted", "err", err)
		if ferr := a.runs.Fail(bg, snap, "upload interrupted: "+err.Error()); ferr != nil {
			log.Error("record failed upload", "err", ferr)
		}
		return err
	}
	if h.GetSize() > 0 && res.size != h.GetSize() {
		res.reason = fmt.Sprintf("upload has %d bytes; the header announced %d", res.size, h.GetSize())
	}
	file := &ferryv1.RunFile{Name: name, Size: res.size, Sha256: res.sha256}
	if err := a.runs.Publish(bg, snap, "started", &ferryv1.Progress{Event: &ferryv1.Progress_Started{Started: &ferryv1.RunStarted{File: file}}}); err != nil {
		return errs.Unavailable(err, "record upload of run %s", runID)
	}
	if res.reason != "" {
		log.Info("file refused", "reason", res.reason)
		if err := a.runs.Fail(bg, snap, res.reason); err != nil {
			return errs.Unavailable(err, "record failure of run %s", runID)
		}
	} else {
		if err := a.runs.Publish(bg, snap, "manifest", &ferryv1.Progress{Event: &ferryv1.Progress_Manifest{Manifest: &ferryv1.Manifest{Chunks: res.chunks, Rows: res.rows}}}); err != nil {
			return errs.Unavailable(err, "record manifest of run %s", runID)
		}
		if err := bus.Publish(bg, a.runs.JS, bus.ImportCommandSubject(snap.GetTenantId()), "import/"+runID,
			&ferryv1.ImportCommand{Run: snap, Object: runID}); err != nil {
			return errs.Unavailable(err, "queue import of run %s", runID)
		}
		log.Info("file received", "bytes", res.size, "chunks", res.chunks, "rows", res.rows)
	}
	run.File = file
	return stream.SendAndClose(&ferryv1.UploadResponse{Run: run})
}

type received struct {
	size   int64
	sha256 string
	chunks int64
	rows   int64
	// reason, when not empty, says why the file cannot be imported.
	reason string
}

// receive stores the stream's bytes under the run id while checking them.
func (a *API) receive(ctx context.Context, stream ferryv1.IngestService_UploadServer, snap *ferryv1.RunSnapshot) (received, error) {
	var res received
	storeR, storeW := io.Pipe()
	checkR, checkW := io.Pipe()
	stored := make(chan error, 1)
	go func() {
		_, err := a.Files.Put(ctx, jetstream.ObjectMeta{Name: snap.GetRunId()}, storeR)
		storeR.CloseWithError(err) // unblock the writer if Put gave up early
		stored <- err
	}()
	checked := make(chan checkResult, 1)
	go func() { checked <- check(checkR, snap, SplitOptions(snap, a.limits)) }()

	hash := sha256.New()
	w := io.MultiWriter(hash, storeW, checkW)
	var head []byte
	var err error
	for {
		var m *ferryv1.UploadRequest
		m, err = stream.Recv()
		if err != nil {
			break
		}
		data := m.GetData()
		if m.GetHeader() != nil {
			err = errs.Invalid("the upload header may only be sent once")
			break
		}
		if res.size+int64(len(data)) > a.limits.MaxFileSize {
			err = errs.Invalid("file is larger than the %d-byte limit", a.limits.MaxFileSize)
			break
		}
		if len(head) < 64<<10 {
			head = append(head, data[:min(len(data), 64<<10-len(head))]...)
		}
		if res.reason == "" && delimited.HasNUL(data) {
			res.reason = binaryReason(head, res.size)
		}
		res.size += int64(len(data))
		if _, err = w.Write(data); err != nil {
			break
		}
	}
	if !errors.Is(err, io.EOF) {
		storeW.CloseWithError(err)
		checkW.CloseWithError(err)
		<-stored
		<-checked
		return res, err
	}
	storeW.Close()
	checkW.Close()
	if err := <-stored; err != nil {
		<-checked
		return res, errs.Unavailable(err, "store file")
	}
	c := <-checked
	res.sha256 = hex.EncodeToString(hash.Sum(nil))
	res.chunks, res.rows = c.chunks, c.rows
	if res.reason == "" {
		if r := delimited.Sniff(head); r != "" {
			res.reason = r
		} else {
			res.reason = c.reason
		}
	}
	return res, nil
}

func binaryReason(head []byte, offset int64) string {
	if r := delimited.Sniff(head); r != "" {
		return r
	}
	return fmt.Sprintf("the file contains a NUL byte near byte %d: it is binary, not CSV text", offset)
}

type checkResult struct {
	chunks, rows int64
	reason       string
}

// check splits the stream exactly as the importer will, to count chunks and
// find a file that cannot be imported before anything is applied. It always
// drains r.
func check(r io.Reader, snap *ferryv1.RunSnapshot, opts delimited.Options) (res checkResult) {
	defer func() { _, _ = io.Copy(io.Discard, r) }()
	sp := delimited.NewSplitter(r, opts)
	header, err := sp.Header()
	if err != nil {
		res.reason = err.Error()
		return res
	}
	if _, err := mapping.Resolve(snap.GetSpec(), snap.GetDataset(), header); err != nil {
		res.reason = err.Error()
		return res
	}
	for {
		c, err := sp.Next()
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			res.reason = err.Error()
			return res
		}
		res.chunks++
		res.rows += c.Rows
	}
}
