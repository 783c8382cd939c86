package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// ExportStore is what the export API needs of the store.
type ExportStore interface {
	ApplyTemplate(ctx context.Context, p auth.Principal, name string, spec *ferryv1.TemplateSpec) (*ferryv1.Template, string, error)
	GetTemplate(ctx context.Context, p auth.Principal, name string) (*ferryv1.Template, error)
	ListTemplates(ctx context.Context, p auth.Principal) ([]*ferryv1.Template, error)
	ApplyExportProfile(ctx context.Context, p auth.Principal, name string, spec *ferryv1.ExportProfileSpec) (*ferryv1.ExportProfile, string, error)
	GetExportProfile(ctx context.Context, p auth.Principal, name string, version int64) (*ferryv1.ExportProfile, error)
	ListExportProfiles(ctx context.Context, p auth.Principal) ([]*ferryv1.ExportProfile, error)
	CreateExportRun(ctx context.Context, p auth.Principal, name string, trigger ferryv1.RunTrigger) (*ferryv1.Run, *ferryv1.ExportSnapshot, error)
	CreateExportRunKeyed(ctx context.Context, p auth.Principal, name string, trigger ferryv1.RunTrigger, key string) (*ferryv1.Run, *ferryv1.ExportSnapshot, bool, error)
	MarkFailed(ctx context.Context, runID, reason string) (*store.RunRow, error)
	RunOutput(ctx context.Context, p auth.Principal, runID, output string) (*store.Download, error)
	CreateShareLink(ctx context.Context, p auth.Principal, runID, profile, output string, ttl time.Duration) (string, time.Time, error)
	RevokeShareLink(ctx context.Context, p auth.Principal, token string) error
	ResolveShareLink(ctx context.Context, token string) (*store.Download, error)
}

// ExportBus is what the export API needs of the bus.
type ExportBus interface {
	// StartExport asks the export service to run an export.
	StartExport(ctx context.Context, snap *ferryv1.ExportSnapshot) error
	// OpenFile reads a stored file.
	OpenFile(ctx context.Context, name string) (io.ReadCloser, error)
}

// Exports implements the ExportService.
type Exports struct {
	ferryv1.UnimplementedExportServiceServer
	store ExportStore
	bus   ExportBus
	log   *slog.Logger
}

// NewExports returns the export API.
func NewExports(s ExportStore, b ExportBus, log *slog.Logger) *Exports {
	return &Exports{store: s, bus: b, log: log}
}

// ApplyTemplate creates or updates a template.
func (e *Exports) ApplyTemplate(ctx context.Context, req *ferryv1.ApplyTemplateRequest) (*ferryv1.ApplyTemplateResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	t, outcome, err := e.store.ApplyTemplate(ctx, p, req.GetName(), req.GetSpec())
	if err != nil {
		return nil, err
	}
	return &ferryv1.ApplyTemplateResponse{Template: t, Outcome: outcome}, nil
}

// GetTemplate returns a template.
func (e *Exports) GetTemplate(ctx context.Context, req *ferryv1.GetTemplateRequest) (*ferryv1.GetTemplateResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	t, err := e.store.GetTemplate(ctx, p, req.GetName())
	if err != nil {
		return nil, err
	}
	return &ferryv1.GetTemplateResponse{Template: t}, nil
}

// ListTemplates lists templates.
func (e *Exports) ListTemplates(ctx context.Context, _ *ferryv1.ListTemplatesRequest) (*ferryv1.ListTemplatesResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	t, err := e.store.ListTemplates(ctx, p)
	if err != nil {
		return nil, err
	}
	return &ferryv1.ListTemplatesResponse{Templates: t}, nil
}

// ApplyExportProfile creates or updates an export profile.
func (e *Exports) ApplyExportProfile(ctx context.Context, req *ferryv1.ApplyExportProfileRequest) (*ferryv1.ApplyExportProfileResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	ep, outcome, err := e.store.ApplyExportProfile(ctx, p, req.GetName(), req.GetSpec())
	if err != nil {
		return nil, err
	}
	return &ferryv1.ApplyExportProfileResponse{Profile: ep, Outcome: outcome}, nil
}

// GetExportProfile returns an export profile with its validity.
func (e *Exports) GetExportProfile(ctx context.Context, req *ferryv1.GetExportProfileRequest) (*ferryv1.GetExportProfileResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	ep, err := e.store.GetExportProfile(ctx, p, req.GetName(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	return &ferryv1.GetExportProfileResponse{Profile: ep}, nil
}

// ListExportProfiles lists export profiles with their validity.
func (e *Exports) ListExportProfiles(ctx context.Context, _ *ferryv1.ListExportProfilesRequest) (*ferryv1.ListExportProfilesResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	eps, err := e.store.ListExportProfiles(ctx, p)
	if err != nil {
		return nil, err
	}
	return &ferryv1.ListExportProfilesResponse{Profiles: eps}, nil
}

// StartExport starts a run of an export profile (drafts too: by hand).
func (e *Exports) StartExport(ctx context.Context, req *ferryv1.StartExportRequest) (*ferryv1.StartExportResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	run, err := e.start(ctx, p, req.GetName(), req.GetIdempotencyKey())
	if err != nil {
		return nil, err
	}
	return &ferryv1.StartExportResponse{Run: run}, nil
}

// start creates a run of an export profile by hand and queues it; a known
// idempotency key returns the run it started, queued already.
func (e *Exports) start(ctx context.Context, p auth.Principal, name, key string) (*ferryv1.Run, error) {
	run, snap, created, err := e.store.CreateExportRunKeyed(ctx, p, name, ferryv1.RunTrigger_RUN_TRIGGER_MANUAL, key)
	if err != nil || !created {
		return run, err
	}
	if err := e.bus.StartExport(ctx, snap); err != nil {
		_, _ = e.store.MarkFailed(context.WithoutCancel(ctx), run.GetId(), "the export could not be queued: "+err.Error())
		return nil, errs.Unavailable(err, "queue export run %s", run.GetId())
	}
	return run, nil
}

// downloadPart is the size of the messages of a download stream.
const downloadPart = 256 << 10

// DownloadOutput streams a file of an export run.
func (e *Exports) DownloadOutput(req *ferryv1.DownloadOutputRequest, stream ferryv1.ExportService_DownloadOutputServer) error {
	ctx := stream.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	d, err := e.store.RunOutput(ctx, p, req.GetRun(), req.GetOutput())
	if err != nil {
		return err
	}
	f, err := e.bus.OpenFile(ctx, d.Object)
	if err != nil {
		return errs.Unavailable(err, "open file %s of run %s", d.Output.GetName(), d.RunID)
	}
	defer f.Close()
	buf := make([]byte, downloadPart)
	first := true
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 || first {
			msg := &ferryv1.DownloadOutputResponse{Data: buf[:n]}
			if first {
				msg.FileName, msg.ContentType, msg.Size = d.Output.GetName(), d.Output.GetContentType(), d.Output.GetSize()
				first = false
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return nil
		}
		if rerr != nil {
			return errs.Unavailable(rerr, "read file %s of run %s", d.Output.GetName(), d.RunID)
		}
	}
}

// CreateShareLink makes a share link.
func (e *Exports) CreateShareLink(ctx context.Context, req *ferryv1.CreateShareLinkRequest) (*ferryv1.CreateShareLinkResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	token, expires, err := e.store.CreateShareLink(ctx, p, req.GetRun(), req.GetProfile(), req.GetOutput(), time.Duration(req.GetTtlSeconds())*time.Second)
	if err != nil {
		return nil, err
	}
	return &ferryv1.CreateShareLinkResponse{Token: token, Path: "/v1/downloads/" + token, ExpireTime: timestamppb.New(expires)}, nil
}

// RevokeShareLink ends a share link.
func (e *Exports) RevokeShareLink(ctx context.Context, req *ferryv1.RevokeShareLinkRequest) (*ferryv1.RevokeShareLinkResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := e.store.RevokeShareLink(ctx, p, req.GetToken()); err != nil {
		return nil, err
	}
	return &ferryv1.RevokeShareLinkResponse{}, nil
}

// ServeDownload serves GET /v1/downloads/{token}: the token is the
// credential, bound to its tenant and to a run or a profile's latest file.
func (e *Exports) ServeDownload(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	d, err := e.store.ResolveShareLink(r.Context(), r.PathValue("token"))
	switch {
	case errors.Is(err, store.ErrLinkGone):
		http.Error(w, err.Error(), http.StatusGone)
		return
	case errors.Is(err, store.ErrFilesDeleted):
		http.Error(w, "the file was deleted after its retention period", http.StatusGone)
		return
	case errs.Is(err, errs.KindNotFound) || errs.Is(err, errs.KindFailedPrecondition):
		http.Error(w, "not found", http.StatusNotFound)
		return
	case err != nil:
		e.log.Error("resolve share link", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	f, err := e.bus.OpenFile(r.Context(), d.Object)
	if err != nil {
		e.log.Error("open shared file", "run", d.RunID, "err", err)
		http.Error(w, "file unavailable", http.StatusServiceUnavailable)
		return
	}
	defer f.Close()
	ct := d.Output.GetContentType()
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.Output.GetName()}))
	h.Set("Content-Length", fmt.Sprint(d.Output.GetSize()))
	if _, err := io.Copy(w, f); err != nil {
		e.log.Warn("shared download cut", "run", d.RunID, "err", err)
	}
}
