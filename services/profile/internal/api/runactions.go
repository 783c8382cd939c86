package api

import (
	"context"
	"fmt"
	"io"
	"strconv"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/formats/delimited"
	"github.com/ferrydata/ferry/libs/formats/filespec"
	"github.com/ferrydata/ferry/libs/formats/outfile"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// RunActions is what approvals, held rows, reject reports and profile
// checks need of the store.
type RunActions interface {
	ApproveRun(ctx context.Context, p auth.Principal, id string) (*ferryv1.Run, *ferryv1.RunSnapshot, error)
	ListHeld(ctx context.Context, p auth.Principal, id string, size int32, token string) ([]*ferryv1.HeldRow, string, error)
	CreateReapplyRun(ctx context.Context, p auth.Principal, id string) (*ferryv1.Run, *ferryv1.RunSnapshot, []string, error)
	HeldRecords(ctx context.Context, child string, fn func(record []string) error) error
	ReleaseHeld(ctx context.Context, runID string) error
	MarkFailed(ctx context.Context, runID, reason string) (*store.RunRow, error)
	RejectReportSource(ctx context.Context, p auth.Principal, id string) (*store.ReportSource, error)
	ValidateProfile(ctx context.Context, p auth.Principal, name string, s *ferryv1.ImportProfileSpec) (string, error)
	ListProfileVersions(ctx context.Context, p auth.Principal, name string) ([]*ferryv1.ImportProfile, error)
}

// ValidateImportProfile checks a spec without saving it.
func (a *API) ValidateImportProfile(ctx context.Context, req *ferryv1.ValidateImportProfileRequest) (*ferryv1.ValidateImportProfileResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	outcome, err := a.catalog.ValidateProfile(ctx, p, req.GetName(), req.GetSpec())
	if err != nil {
		return nil, err
	}
	return &ferryv1.ValidateImportProfileResponse{Outcome: outcome}, nil
}

// ListImportProfileVersions lists a profile's versions, newest first.
func (a *API) ListImportProfileVersions(ctx context.Context, req *ferryv1.ListImportProfileVersionsRequest) (*ferryv1.ListImportProfileVersionsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	v, err := a.catalog.ListProfileVersions(ctx, p, req.GetName())
	if err != nil {
		return nil, err
	}
	return &ferryv1.ListImportProfileVersionsResponse{Versions: v}, nil
}

// ApproveRun applies a run held by the mirror guard.
func (a *API) ApproveRun(ctx context.Context, req *ferryv1.ApproveRunRequest) (*ferryv1.ApproveRunResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	run, snap, err := a.catalog.ApproveRun(ctx, p, req.GetId())
	if err != nil {
		return nil, err
	}
	if err := a.notifier.Approved(ctx, snap); err != nil {
		return nil, errs.Unavailable(err, "run %s is approved, but the apply command could not be sent; approve it again", run.GetId())
	}
	return &ferryv1.ApproveRunResponse{Run: run}, nil
}

// ListHeldRows lists a run's rows held for a cross-reference entry.
func (a *API) ListHeldRows(ctx context.Context, req *ferryv1.ListHeldRowsRequest) (*ferryv1.ListHeldRowsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	rows, next, err := a.catalog.ListHeld(ctx, p, req.GetId(), req.GetPageSize(), req.GetPageToken())
	return &ferryv1.ListHeldRowsResponse{Rows: rows, NextPageToken: next}, err
}

// ReapplyHeldRows starts a run of a run's held rows.
func (a *API) ReapplyHeldRows(ctx context.Context, req *ferryv1.ReapplyHeldRowsRequest) (*ferryv1.ReapplyHeldRowsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	run, snap, header, err := a.catalog.CreateReapplyRun(ctx, p, req.GetId())
	if err != nil {
		return nil, err
	}
	// The held rows stream from the database through a CSV writer into the
	// object store: memory does not grow with their number.
	pr, pw := io.Pipe()
	go func() {
		w := delimited.NewWriter(pw, delimited.Options{})
		var err error
		if header != nil {
			err = w.Write(header)
		}
		if err == nil {
			err = a.catalog.HeldRecords(ctx, run.GetId(), w.Write)
		}
		if err == nil {
			err = w.Flush()
		}
		pw.CloseWithError(err)
	}()
	err = a.notifier.StartImport(ctx, snap, pr)
	pr.CloseWithError(err)
	if err != nil {
		_, _ = a.catalog.MarkFailed(ctx, run.GetId(), "the held rows could not be handed to ingest: "+err.Error())
		_ = a.catalog.ReleaseHeld(ctx, run.GetId())
		return nil, errs.Unavailable(err, "start the run of held rows")
	}
	return &ferryv1.ReapplyHeldRowsResponse{Run: run}, nil
}

// reportPart is the size of the parts of a streamed reject report.
const reportPart = 64 << 10

// DownloadRejects streams a run's reject report in the dialect of its
// profile, so that the fixed file can be imported again as it is.
func (a *API) DownloadRejects(req *ferryv1.DownloadRejectsRequest, stream ferryv1.RunService_DownloadRejectsServer) error {
	ctx := stream.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	src, err := a.catalog.RejectReportSource(ctx, p, req.GetId())
	if err != nil {
		return err
	}
	spec := src.Spec
	workbook := spec.GetFormat() == ferryv1.FileFormat_FILE_FORMAT_XLSX || spec.GetFormat() == ferryv1.FileFormat_FILE_FORMAT_XLS
	name := fmt.Sprintf("rejects-%s.csv", src.Run.GetId())
	if workbook {
		name = fmt.Sprintf("rejects-%s.xlsx", src.Run.GetId())
	}
	out := &partWriter{send: func(b []byte, first bool) error {
		resp := &ferryv1.DownloadRejectsResponse{Data: b}
		if first {
			resp.FileName = name
		}
		return stream.Send(resp)
	}}
	var rw reportWriter
	if workbook {
		sp := spec.GetSpreadsheet()
		xw, err := outfile.NewTextSheet(out, sp.GetSheet(), int(sp.GetSheetIndex()))
		if err != nil {
			return err
		}
		rw = &xlsxReport{w: xw, out: out}
		rw.preamble(max(int(sp.GetHeaderRow()), 1)-1, sp.GetNoHeader())
	} else {
		opts := filespec.CSVOptions(spec, filespec.Limits{})
		// A byte-order mark wins over the profile's encoding when the report
		// is read again, so UTF-8 carries every value exactly.
		out.Write([]byte("\xEF\xBB\xBF"))
		rw = &csvReport{w: delimited.NewWriter(out, opts), out: out}
		rw.preamble(max(opts.HeaderRow, 1)-1, opts.NoHeader)
	}
	width := len(src.Header)
	if !rw.noHeader() {
		if err := rw.row(append(append([]string{}, src.Header...), "_row", "_column", "_value", "_error")); err != nil {
			return err
		}
	}
	token := ""
	for {
		rejects, next, err := a.catalog.ListRejects(ctx, p, req.GetId(), 10000, token)
		if err != nil {
			return err
		}
		for _, r := range rejects {
			rec := make([]string, max(width, len(r.GetRecord())))
			copy(rec, r.GetRecord())
			if err := rw.row(append(rec, strconv.FormatInt(r.GetRow(), 10), r.GetColumn(), r.GetValue(), r.GetReason())); err != nil {
				return err
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	return rw.close()
}

// reportWriter writes a reject report as the profile reads files.
type reportWriter interface {
	preamble(rows int, noHeader bool)
	noHeader() bool
	row(cells []string) error
	close() error
}

// csvReport writes the report in the profile's CSV dialect.
type csvReport struct {
	w    *delimited.Writer
	out  *partWriter
	skip int
	bare bool
}

func (c *csvReport) preamble(rows int, noHeader bool) { c.skip, c.bare = rows, noHeader }
func (c *csvReport) noHeader() bool                   { return c.bare }

func (c *csvReport) row(cells []string) error {
	// The rows before the header row are skipped when the file is read.
	for ; c.skip > 0; c.skip-- {
		if err := c.w.Write([]string{"(ferry reject report)"}); err != nil {
			return err
		}
	}
	return c.w.Write(cells)
}

func (c *csvReport) close() error {
	if err := c.w.Flush(); err != nil {
		return err
	}
	return c.out.Close()
}

// xlsxReport writes the report as a workbook with the profile's sheet at
// the profile's position and header row.
type xlsxReport struct {
	w    *outfile.TextSheet
	out  *partWriter
	bare bool
}

func (x *xlsxReport) preamble(rows int, noHeader bool) { x.w.Skip(rows); x.bare = noHeader }
func (x *xlsxReport) noHeader() bool                   { return x.bare }
func (x *xlsxReport) row(cells []string) error         { return x.w.WriteRow(cells) }

func (x *xlsxReport) close() error {
	if err := x.w.Close(); err != nil {
		return err
	}
	return x.out.Close()
}

// partWriter sends what is written in parts of reportPart bytes.
type partWriter struct {
	buf  []byte
	sent bool
	send func(b []byte, first bool) error
	err  error
}

func (w *partWriter) Write(b []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, b...)
	for len(w.buf) >= reportPart && w.err == nil {
		w.err = w.send(w.buf[:reportPart], !w.sent)
		w.sent = true
		w.buf = append(w.buf[:0:0], w.buf[reportPart:]...)
	}
	return len(b), w.err
}

// Close sends the rest, and at least one part.
func (w *partWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 || !w.sent {
		w.err = w.send(w.buf, !w.sent)
		w.sent = true
	}
	return w.err
}
