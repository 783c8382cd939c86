// Package api holds ingest's gRPC handlers.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/formats/delimited"
	"github.com/ferrydata/ferry/libs/formats/filespec"
	"github.com/ferrydata/ferry/libs/formats/textenc"
	"github.com/ferrydata/ferry/libs/mapping"
	"github.com/ferrydata/ferry/services/ingest/internal/runs"
	"github.com/ferrydata/ferry/services/ingest/internal/sniff"
	"github.com/ferrydata/ferry/services/ingest/internal/source"
)

// Limits bound what an upload may be.
type Limits struct {
	source.Limits
	MaxFileSize int64
	// TempDir holds workbooks while they are read.
	TempDir string
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

// Upload receives a file into a new run. The run is created from the header
// message, so an unknown profile fails before any byte is sent; the bytes are
// stored and checked as they arrive (binary content, record boundaries,
// header against the mapping), and only a file that passes is split into
// chunks. A stream cut off fails the run and applies nothing.
func (a *API) Upload(stream ferryv1.IngestService_UploadServer) error {
	run, err := a.upload(stream.Context(), stream, nil)
	if err != nil {
		return err
	}
	return stream.SendAndClose(&ferryv1.UploadResponse{Run: run})
}

// uploadStream is what Upload and Preview receive from.
type uploadStream interface {
	Recv() (*ferryv1.UploadRequest, error)
}

// previewStream adapts Preview's stream to an upload stream.
type previewStream struct {
	ferryv1.IngestService_PreviewServer
}

func (s previewStream) Recv() (*ferryv1.UploadRequest, error) {
	m, err := s.IngestService_PreviewServer.Recv()
	if err != nil {
		return nil, err
	}
	switch p := m.GetPart().(type) {
	case *ferryv1.PreviewRequest_Header:
		return &ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Header{Header: p.Header}}, nil
	case *ferryv1.PreviewRequest_Data:
		return &ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Data{Data: p.Data}}, nil
	}
	return &ferryv1.UploadRequest{}, nil
}

// Preview uploads a file as a dry run and returns the run once it has ended,
// with what it would have done.
func (a *API) Preview(stream ferryv1.IngestService_PreviewServer) error {
	ctx := stream.Context()
	var (
		events chan *ferryv1.Run
		sub    *nats.Subscription
	)
	defer func() {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
	}()
	created := func(run *ferryv1.Run, tenant string) error {
		events = make(chan *ferryv1.Run, 16)
		var err error
		sub, err = a.runs.NC.Subscribe(bus.RunEventSubject(tenant, run.GetProfile(), "*"), func(m *nats.Msg) {
			var ev ferryv1.RunEvent
			if proto.Unmarshal(m.Data, &ev) == nil && ev.GetRun().GetId() == run.GetId() {
				select {
				case events <- ev.GetRun():
				default:
				}
			}
		})
		return err
	}
	run, err := a.upload(ctx, previewStream{stream}, created)
	if err != nil {
		return err
	}
	if run.GetStatus() == ferryv1.RunStatus_RUN_STATUS_FAILED {
		return stream.SendAndClose(&ferryv1.PreviewResponse{Run: run})
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case ended := <-events:
		return stream.SendAndClose(&ferryv1.PreviewResponse{Run: ended})
	}
}

// upload receives a file into a new run and returns the run. created, when
// set, is called once the run exists and before its file is received.
func (a *API) upload(ctx context.Context, stream uploadStream, created func(run *ferryv1.Run, tenant string) error) (*ferryv1.Run, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		return nil, fmt.Errorf("receive upload header: %w", err)
	}
	h := first.GetHeader()
	if h == nil {
		return nil, errs.Invalid("the first upload message must be the header naming the profile and file")
	}
	if h.GetProfile() == "" {
		return nil, errs.Invalid("upload header names no profile")
	}
	req := &ferryv1.RunCreateRequest{
		TenantId: p.TenantID.String(), RunId: uuid.NewString(), Profile: h.GetProfile(),
		Trigger: ferryv1.RunTrigger_RUN_TRIGGER_UPLOAD, File: &ferryv1.RunFile{Name: h.GetFileName(), Size: h.GetSize()},
		DryRun: h.GetDryRun() || created != nil, PreviewRows: h.GetPreviewRows(),
	}
	return a.start(ctx, req, streamParts(stream), created)
}

// streamParts returns the data of an upload stream's messages after the header.
func streamParts(stream uploadStream) func() ([]byte, error) {
	return func() ([]byte, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if m.GetHeader() != nil {
			return nil, errs.Invalid("the upload header may only be sent once")
		}
		return m.GetData(), nil
	}
}

// readBuffer is how much of a reader ImportReader takes at a time.
const readBuffer = 128 << 10

// readerParts returns what r yields, a buffer at a time; a buffer is reused
// once the next is asked for.
func readerParts(r io.Reader) func() ([]byte, error) {
	buf := make([]byte, readBuffer)
	var pending error
	return func() ([]byte, error) {
		if pending != nil {
			return nil, pending
		}
		for {
			n, err := r.Read(buf)
			if n > 0 {
				pending = err
				return buf[:n], nil
			}
			if err != nil {
				return nil, err
			}
		}
	}
}

// ImportReader receives r into a new run created with req, exactly as an
// upload of the file would be: stored under the run id, checked, and
// queued for import. The tenant, run id, profile, trigger and file name
// come from req; req.File.Size, when set, is checked against what r yields.
//
// The run is returned whenever it was created, also with an error: then r
// failed or the run could not be recorded, and the run has been failed.
// Without a run nothing was started and the error says why: errs.KindInvalid
// for a file that can never be taken (too large, a bad name).
func (a *API) ImportReader(ctx context.Context, req *ferryv1.RunCreateRequest, r io.Reader) (*ferryv1.Run, error) {
	return a.start(ctx, req, readerParts(r), nil)
}

// start creates the run of req and receives its file from next, which
// returns the file's data part by part and io.EOF at its end. created, when
// set, is called once the run exists and before its file is received.
func (a *API) start(ctx context.Context, req *ferryv1.RunCreateRequest, next func() ([]byte, error), created func(run *ferryv1.Run, tenant string) error) (*ferryv1.Run, error) {
	name := path.Base(strings.ReplaceAll(req.GetFile().GetName(), "\\", "/"))
	if len(name) > 255 || strings.ContainsAny(name, "\x00\r\n") {
		return nil, errs.Invalid("file name is longer than 255 bytes or has control characters")
	}
	size := req.GetFile().GetSize()
	if size > a.limits.MaxFileSize {
		return nil, errs.Invalid("file is %d bytes; the limit is %d", size, a.limits.MaxFileSize)
	}
	runID, tenant := req.GetRunId(), req.GetTenantId()
	req = proto.CloneOf(req)
	req.File = &ferryv1.RunFile{Name: name, Size: size}
	run, snap, err := a.runs.Create(ctx, req)
	if err != nil {
		return nil, err
	}
	if created != nil {
		if err := created(run, tenant); err != nil {
			_ = a.runs.Fail(context.WithoutCancel(ctx), snap, "preview could not watch the run: "+err.Error())
			return nil, errs.Unavailable(err, "watch run %s", runID)
		}
	}
	log := a.log.With("tenant", tenant, "run", runID)
	res, err := a.receive(ctx, next, snap)
	// Whatever happened to the client, the run's outcome is recorded.
	bg := context.WithoutCancel(ctx)
	failed := func(reason string) *ferryv1.Run {
		run.File = &ferryv1.RunFile{Name: name, Size: res.size}
		run.Status, run.Error = ferryv1.RunStatus_RUN_STATUS_FAILED, reason
		return run
	}
	if err != nil {
		_ = a.Files.Delete(bg, runID)
		log.WarnContext(ctx, "upload interrupted", "err", err)
		if ferr := a.runs.Fail(bg, snap, "upload interrupted: "+err.Error()); ferr != nil {
			log.ErrorContext(ctx, "record failed upload", "err", ferr)
		}
		return failed("upload interrupted: " + err.Error()), err
	}
	if res.refused {
		_ = a.Files.Delete(bg, runID)
	}
	if size > 0 && res.size != size && !res.refused {
		res.reason = fmt.Sprintf("upload has %d bytes; the header announced %d", res.size, size)
	}
	file := &ferryv1.RunFile{Name: name, Size: res.size, Sha256: res.sha256}
	if err := a.runs.Publish(bg, snap, "started", &ferryv1.Progress{Event: &ferryv1.Progress_Started{Started: &ferryv1.RunStarted{File: file}}}); err != nil {
		return run, errs.Unavailable(err, "record upload of run %s", runID)
	}
	if res.reason != "" {
		log.InfoContext(ctx, "file refused", "reason", res.reason)
		if err := a.runs.Fail(bg, snap, res.reason); err != nil {
			return run, errs.Unavailable(err, "record failure of run %s", runID)
		}
	} else {
		if !res.splitLater {
			if err := a.runs.Publish(bg, snap, "manifest", &ferryv1.Progress{Event: &ferryv1.Progress_Manifest{Manifest: &ferryv1.Manifest{Chunks: res.chunks, Rows: res.rows}}}); err != nil {
				return run, errs.Unavailable(err, "record manifest of run %s", runID)
			}
		}
		if err := bus.Publish(bg, a.runs.JS, bus.ImportCommandSubject(snap.GetTenantId()), "import/"+runID,
			&ferryv1.ImportCommand{Run: snap, Object: runID, ReportFile: res.splitLater}); err != nil {
			return run, errs.Unavailable(err, "queue import of run %s", runID)
		}
		log.InfoContext(ctx, "file received", "bytes", res.size, "chunks", res.chunks, "rows", res.rows)
	}
	run.File = file
	if res.reason != "" {
		run.Status, run.Error = ferryv1.RunStatus_RUN_STATUS_FAILED, res.reason
	}
	return run, nil
}

type received struct {
	size   int64
	sha256 string
	chunks int64
	rows   int64
	// reason, when not empty, says why the file cannot be imported.
	reason string
	// refused says the upload was cut short because of reason.
	refused bool
	// splitLater says only the header was checked (a workbook): ingest
	// counts the chunks and rows when it splits the file, and reports the
	// manifest then.
	splitLater bool
}

// errRefused ends the storing of a file that the check refused.
var errRefused = errors.New("the file was refused before its end")

// receive stores the file's bytes under the run id while checking them:
// text is checked as it streams; a workbook is spooled to a file and its
// header checked once complete. Its rows are read once, when ingest splits
// it: reading the sheet here too would double the time of an import, and a
// sheet that cannot be split fails the run before anything is applied all
// the same (apply waits for the manifest, which follows the last chunk).
func (a *API) receive(ctx context.Context, next func() ([]byte, error), snap *ferryv1.RunSnapshot) (received, error) {
	var res received
	storeR, storeW := io.Pipe()
	stored := make(chan error, 1)
	go func() {
		_, err := a.Files.Put(ctx, jetstream.ObjectMeta{Name: snap.GetRunId()}, storeR)
		storeR.CloseWithError(err) // unblock the writer if Put gave up early
		stored <- err
	}()
	hash := sha256.New()
	writers := []io.Writer{hash, storeW}

	workbook := source.IsWorkbook(snap.GetSpec())
	var (
		spool   *os.File
		checkW  *io.PipeWriter
		checked chan checkResult
	)
	if workbook {
		f, err := os.CreateTemp(a.limits.TempDir, "ferry-upload-*")
		if err != nil {
			storeW.CloseWithError(err)
			<-stored
			return res, fmt.Errorf("spool workbook: %w", err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		spool = f
		writers = append(writers, f)
	} else {
		var checkR *io.PipeReader
		checkR, checkW = io.Pipe()
		checked = make(chan checkResult, 1)
		go func() {
			defer func() { _, _ = io.Copy(io.Discard, checkR) }()
			src, err := source.OpenText(checkR, snap.GetSpec(), a.limits.Limits)
			if err != nil {
				checked <- checkResult{reason: err.Error()}
				return
			}
			checked <- check(src, snap, a.limits.Limits)
		}()
		writers = append(writers, checkW)
	}
	w := io.MultiWriter(writers...)
	var head []byte
	var err error
	for {
		var data []byte
		data, err = next()
		if err != nil {
			break
		}
		if res.size+int64(len(data)) > a.limits.MaxFileSize {
			err = errs.Invalid("file is larger than the %d-byte limit", a.limits.MaxFileSize)
			break
		}
		if len(head) < 64<<10 {
			head = append(head, data[:min(len(data), 64<<10-len(head))]...)
		}
		if !workbook && res.reason == "" && delimited.HasNUL(data) && !utf16(head, snap) {
			res.reason = binaryReason(head, res.size)
		}
		res.size += int64(len(data))
		if _, err = w.Write(data); err != nil {
			break
		}
		// A file the check has already refused is not read to its end.
		if checked != nil {
			select {
			case c := <-checked:
				if c.reason != "" {
					storeW.CloseWithError(errRefused)
					checkW.Close()
					<-stored
					if res.reason == "" {
						res.reason = c.reason
					}
					res.refused = true
					return res, nil
				}
				checked <- c
			default:
			}
		}
	}
	if !errors.Is(err, io.EOF) {
		storeW.CloseWithError(err)
		if checkW != nil {
			checkW.CloseWithError(err)
			<-checked
		}
		<-stored
		return res, err
	}
	storeW.Close()
	var c checkResult
	if checkW != nil {
		checkW.Close()
		c = <-checked
	}
	if err := <-stored; err != nil {
		return res, errs.Unavailable(err, "store file")
	}
	if workbook {
		c = checkWorkbook(spool, res.size, snap, a.limits.Limits)
		res.splitLater = true
	}
	res.sha256 = hex.EncodeToString(hash.Sum(nil))
	res.chunks, res.rows = c.chunks, c.rows
	if res.reason == "" && !workbook {
		if r := delimited.Sniff(head); r != "" && !utf16(head, snap) {
			res.reason = r
		}
	}
	if res.reason == "" {
		res.reason = c.reason
	}
	return res, nil
}

// utf16 reports whether the file is UTF-16 text, whose NUL bytes are text.
func utf16(head []byte, snap *ferryv1.RunSnapshot) bool {
	if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
		return true
	}
	enc := snap.GetSpec().GetCsv().GetEncoding()
	return enc == "utf-16le" || enc == "utf-16be"
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

func checkWorkbook(f *os.File, size int64, snap *ferryv1.RunSnapshot, l source.Limits) checkResult {
	src, err := source.OpenWorkbook(f, size, snap.GetSpec(), l)
	if err != nil {
		return checkResult{reason: err.Error()}
	}
	defer src.Close()
	return checkResult{reason: checkHeader(src, snap)}
}

// checkHeader reads the header of src and says why the profile cannot read
// the file with it, or "".
func checkHeader(src source.Source, snap *ferryv1.RunSnapshot) string {
	header, err := src.Header()
	if err != nil {
		return err.Error()
	}
	for i, h := range header {
		if off, bad := textenc.FindInvalid(h); bad {
			return fmt.Sprintf("the header's column %d has bytes that are not valid %s at byte offset %d of the file", i+1, src.Encoding(), off)
		}
	}
	if _, err := mapping.Resolve(snap.GetSpec(), snap.GetDataset(), header, nil); err != nil {
		return err.Error()
	}
	return ""
}

// check reads the file exactly as the importer will, to count chunks and to
// find a file that cannot be imported before anything is applied.
func check(src source.Source, snap *ferryv1.RunSnapshot, l source.Limits) (res checkResult) {
	if res.reason = checkHeader(src, snap); res.reason != "" {
		return res
	}
	failOnInvalid := snap.GetSpec().GetCsv().GetInvalidBytes() == ferryv1.InvalidBytes_INVALID_BYTES_FAIL_FILE
	for {
		c, err := src.Next()
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			res.reason = err.Error()
			return res
		}
		res.chunks++
		res.rows += c.Rows
		if failOnInvalid && bytes.IndexByte(c.Data, textenc.MarkerStart) >= 0 {
			res.reason = invalidRow(c, snap, src, l)
			return res
		}
	}
}

// invalidRow names the first row of c with invalid bytes.
func invalidRow(c delimited.Chunk, snap *ferryv1.RunSnapshot, src source.Source, l source.Limits) string {
	r := delimited.NewReader(c.Data, c.FirstRow, filespec.ChunkOptions(snap.GetSpec(), src.StandardCSV(), l))
	for {
		row, fields, err := r.Next()
		if errors.Is(err, io.EOF) {
			return "the file has bytes that are not valid " + src.Encoding()
		}
		for _, f := range fields {
			if off, bad := textenc.FindInvalid(f); bad {
				return fmt.Sprintf("row %d: bytes at byte offset %d of the file are not valid %s (the profile fails the file on invalid bytes)", row, off, src.Encoding())
			}
		}
	}
}

// Sniff proposes how to read a file from its first bytes.
func (a *API) Sniff(ctx context.Context, req *ferryv1.SniffRequest) (*ferryv1.SniffResponse, error) {
	if _, err := auth.FromContext(ctx); err != nil {
		return nil, err
	}
	return sniff.Sniff(req, a.limits.Limits, a.limits.TempDir)
}
