package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// fakeExports is an in-memory ExportService. An export profile is valid
// when its dataset and template are stored.
type fakeExports struct {
	ferryv1.UnimplementedExportServiceServer
	datasets *fakeDatasets

	mu               sync.Mutex
	templates        map[string]*ferryv1.Template
	profiles         map[string]*ferryv1.ExportProfile
	appliedTemplates []*ferryv1.ApplyTemplateRequest
	appliedProfiles  []*ferryv1.ApplyExportProfileRequest
	started          []string
	// outputs are the files DownloadOutput streams, by run.
	outputs      map[string][]fakeOutput
	downloadReqs []*ferryv1.DownloadOutputRequest
	shareReqs    []*ferryv1.CreateShareLinkRequest
	// links are the share tokens made and not revoked.
	links   map[string]bool
	revoked []string
}

// fakeOutput is one file of an export run, streamed one part per message.
type fakeOutput struct {
	name  string
	parts []string
	// sent, when set, is closed once the first part is sent; the stream
	// then waits for release to be closed.
	sent, release chan struct{}
	// fail ends the stream with an error after the first part.
	fail bool
}

func (f *fakeExports) ApplyTemplate(_ context.Context, req *ferryv1.ApplyTemplateRequest) (*ferryv1.ApplyTemplateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appliedTemplates = append(f.appliedTemplates, proto.CloneOf(req))
	outcome, version := "created", int64(1)
	if cur, ok := f.templates[req.GetName()]; ok {
		if proto.Equal(cur.GetSpec(), req.GetSpec()) {
			return &ferryv1.ApplyTemplateResponse{Template: cur, Outcome: "unchanged"}, nil
		}
		outcome, version = "updated", cur.GetVersion()+1
	}
	t := &ferryv1.Template{Name: req.GetName(), Version: version, Spec: proto.CloneOf(req.GetSpec()), CreateTime: fixedTime, UpdateTime: fixedTime}
	f.templates[req.GetName()] = t
	return &ferryv1.ApplyTemplateResponse{Template: t, Outcome: outcome}, nil
}

func (f *fakeExports) GetTemplate(_ context.Context, req *ferryv1.GetTemplateRequest) (*ferryv1.GetTemplateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.templates[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "template %s not found", req.GetName())
	}
	return &ferryv1.GetTemplateResponse{Template: t}, nil
}

func (f *fakeExports) ListTemplates(context.Context, *ferryv1.ListTemplatesRequest) (*ferryv1.ListTemplatesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &ferryv1.ListTemplatesResponse{}
	for _, name := range sortedNames(f.templates) {
		resp.Templates = append(resp.Templates, f.templates[name])
	}
	return resp, nil
}

func (f *fakeExports) ApplyExportProfile(_ context.Context, req *ferryv1.ApplyExportProfileRequest) (*ferryv1.ApplyExportProfileResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appliedProfiles = append(f.appliedProfiles, proto.CloneOf(req))
	var problems []string
	f.datasets.mu.Lock()
	if _, ok := f.datasets.stored[req.GetSpec().GetDataset()]; !ok {
		problems = append(problems, fmt.Sprintf("dataset %s does not exist", req.GetSpec().GetDataset()))
	}
	f.datasets.mu.Unlock()
	if t := req.GetSpec().GetTemplate(); t != "" && f.templates[t] == nil {
		problems = append(problems, fmt.Sprintf("template %s does not exist", t))
	}
	outcome, version := "created", int64(1)
	if cur, ok := f.profiles[req.GetName()]; ok {
		if proto.Equal(cur.GetSpec(), req.GetSpec()) {
			return &ferryv1.ApplyExportProfileResponse{Profile: cur, Outcome: "unchanged"}, nil
		}
		outcome, version = "updated", cur.GetVersion()+1
	}
	p := &ferryv1.ExportProfile{Name: req.GetName(), Version: version, Spec: proto.CloneOf(req.GetSpec()),
		Valid: len(problems) == 0, Problems: problems, CreateTime: fixedTime, UpdateTime: fixedTime}
	f.profiles[req.GetName()] = p
	return &ferryv1.ApplyExportProfileResponse{Profile: p, Outcome: outcome}, nil
}

func (f *fakeExports) GetExportProfile(_ context.Context, req *ferryv1.GetExportProfileRequest) (*ferryv1.GetExportProfileResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.profiles[req.GetName()]
	if !ok || (req.GetVersion() != 0 && req.GetVersion() != p.GetVersion()) {
		return nil, status.Errorf(codes.NotFound, "export profile %s not found", req.GetName())
	}
	return &ferryv1.GetExportProfileResponse{Profile: p}, nil
}

func (f *fakeExports) ListExportProfiles(context.Context, *ferryv1.ListExportProfilesRequest) (*ferryv1.ListExportProfilesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &ferryv1.ListExportProfilesResponse{}
	for _, name := range sortedNames(f.profiles) {
		resp.Profiles = append(resp.Profiles, f.profiles[name])
	}
	return resp, nil
}

// StartExport starts run "exp-1" of a valid profile.
func (f *fakeExports) StartExport(_ context.Context, req *ferryv1.StartExportRequest) (*ferryv1.StartExportResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, req.GetName())
	p, ok := f.profiles[req.GetName()]
	switch {
	case !ok:
		return nil, status.Errorf(codes.NotFound, "export profile %s not found", req.GetName())
	case !p.GetValid():
		return nil, status.Errorf(codes.FailedPrecondition, "export profile %s is invalid: %s", req.GetName(), strings.Join(p.GetProblems(), "; "))
	}
	return &ferryv1.StartExportResponse{Run: &ferryv1.Run{Id: "exp-1", Profile: req.GetName(), Kind: ferryv1.RunKind_RUN_KIND_EXPORT,
		Trigger: ferryv1.RunTrigger_RUN_TRIGGER_MANUAL, Status: ferryv1.RunStatus_RUN_STATUS_QUEUED}}, nil
}

func (f *fakeExports) DownloadOutput(req *ferryv1.DownloadOutputRequest, stream ferryv1.ExportService_DownloadOutputServer) error {
	f.mu.Lock()
	f.downloadReqs = append(f.downloadReqs, proto.CloneOf(req))
	outputs := f.outputs[req.GetRun()]
	f.mu.Unlock()
	if len(outputs) == 0 {
		return status.Errorf(codes.NotFound, "run %s has no files", req.GetRun())
	}
	var out *fakeOutput
	for i := range outputs {
		if req.GetOutput() == "" || outputs[i].name == req.GetOutput() {
			out = &outputs[i]
			break
		}
	}
	if out == nil {
		return status.Errorf(codes.NotFound, "run %s has no file %s", req.GetRun(), req.GetOutput())
	}
	size := 0
	for _, p := range out.parts {
		size += len(p)
	}
	for i, p := range out.parts {
		msg := &ferryv1.DownloadOutputResponse{Data: []byte(p)}
		if i == 0 {
			msg.FileName, msg.ContentType, msg.Size = out.name, "text/csv", int64(size)
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		if i == 0 && out.fail {
			return status.Error(codes.Internal, "read output: unexpected EOF")
		}
		if i == 0 && out.sent != nil {
			close(out.sent)
			<-out.release
		}
	}
	return nil
}

func (f *fakeExports) CreateShareLink(_ context.Context, req *ferryv1.CreateShareLinkRequest) (*ferryv1.CreateShareLinkResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shareReqs = append(f.shareReqs, proto.CloneOf(req))
	if req.GetRun() != "" && len(f.outputs[req.GetRun()]) == 0 {
		return nil, status.Errorf(codes.NotFound, "run %s has no files", req.GetRun())
	}
	ttl := time.Duration(req.GetTtlSeconds()) * time.Second
	if ttl == 0 {
		ttl = 7 * 24 * time.Hour
	}
	token := fmt.Sprintf("tok%d", len(f.shareReqs))
	f.links[token] = true
	return &ferryv1.CreateShareLinkResponse{Token: token, Path: "/v1/downloads/" + token, ExpireTime: timestamppb.New(fixedTime.AsTime().Add(ttl))}, nil
}

func (f *fakeExports) RevokeShareLink(_ context.Context, req *ferryv1.RevokeShareLinkRequest) (*ferryv1.RevokeShareLinkResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.links[req.GetToken()] {
		return nil, status.Error(codes.NotFound, "share link not found")
	}
	delete(f.links, req.GetToken())
	f.revoked = append(f.revoked, req.GetToken())
	return &ferryv1.RevokeShareLinkResponse{}, nil
}
