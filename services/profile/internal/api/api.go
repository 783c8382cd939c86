// Package api holds the profile service's gRPC handlers: thin adapters from
// requests to the store and back.
package api

import (
	"context"
	"io"
	"time"

	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/telemetry"
)

// Catalog is what the handlers need of the control-plane store.
type Catalog interface {
	GetDataset(ctx context.Context, p auth.Principal, name string) (*ferryv1.Dataset, error)
	ListDatasets(ctx context.Context, p auth.Principal) ([]*ferryv1.Dataset, error)
	CreateDataset(ctx context.Context, p auth.Principal, d *ferryv1.Dataset) (*ferryv1.Dataset, error)
	ApplyDataset(ctx context.Context, p auth.Principal, d *ferryv1.Dataset) (*ferryv1.Dataset, string, error)
	AddFields(ctx context.Context, p auth.Principal, name string, f []*ferryv1.Field) (*ferryv1.Dataset, error)
	GetProfile(ctx context.Context, p auth.Principal, name string, version int64) (*ferryv1.ImportProfile, error)
	ListProfiles(ctx context.Context, p auth.Principal) ([]*ferryv1.ImportProfile, error)
	ApplyProfile(ctx context.Context, p auth.Principal, name string, s *ferryv1.ImportProfileSpec) (*ferryv1.ImportProfile, string, error)
	GetRun(ctx context.Context, p auth.Principal, id string) (*ferryv1.Run, error)
	ListRuns(ctx context.Context, p auth.Principal, profile string, status ferryv1.RunStatus, size int32, token string) ([]*ferryv1.Run, string, error)
	CancelRun(ctx context.Context, p auth.Principal, id string) (*ferryv1.Run, error)
	ListRejects(ctx context.Context, p auth.Principal, id string, size int32, token string) ([]*ferryv1.Reject, string, error)
	RunActions
	Redeliverer
}

// Notifier tells a watcher that a run may have changed.
type Notifier interface {
	// Watch returns a channel that receives when the run may have changed,
	// and a function that ends the watch.
	Watch(tenantID, runID, profile string) (<-chan struct{}, func(), error)
	// Canceled tells the run's workers to stop.
	Canceled(ctx context.Context, tenantID, runID string) error
	// Approved asks delivery to apply an approved run.
	Approved(ctx context.Context, snap *ferryv1.RunSnapshot) error
	// StartImport stores a file and asks ingest to import it as the run.
	StartImport(ctx context.Context, snap *ferryv1.RunSnapshot, file io.Reader) error
}

// API implements the profile service's gRPC services.
type API struct {
	ferryv1.UnimplementedTenantServiceServer
	ferryv1.UnimplementedDatasetServiceServer
	ferryv1.UnimplementedImportProfileServiceServer
	ferryv1.UnimplementedRunServiceServer

	catalog  Catalog
	tenants  TenantStore
	notifier Notifier
	// exports starts export runs for StartRun (nil: StartRun is unavailable).
	exports *Exports
	// poll bounds how long a watch waits without a notification.
	poll time.Duration
}

// TenantStore is the tenant store as libs/auth implements it.
type TenantStore interface {
	CreateTenant(ctx context.Context, name string) (auth.Tenant, auth.Key, string, error)
	CreateKeyFor(ctx context.Context, p auth.Principal, name string, admin bool) (auth.Key, string, error)
}

// New returns the API.
func New(c Catalog, t TenantStore, n Notifier) *API {
	return &API{catalog: c, tenants: t, notifier: n, poll: time.Second}
}

func principal(ctx context.Context) (auth.Principal, error) { return auth.FromContext(ctx) }

// WhoAmI returns the caller.
func (a *API) WhoAmI(ctx context.Context, _ *ferryv1.WhoAmIRequest) (*ferryv1.WhoAmIResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	return &ferryv1.WhoAmIResponse{
		Tenant: &ferryv1.Tenant{Id: p.TenantID.String(), Name: p.TenantName},
		Key:    &ferryv1.APIKey{Id: p.KeyID.String(), Name: p.KeyName, Admin: p.Admin},
	}, nil
}

// CreateTenant creates a tenant; admin keys of the default tenant only.
func (a *API) CreateTenant(ctx context.Context, req *ferryv1.CreateTenantRequest) (*ferryv1.CreateTenantResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !p.Admin || p.TenantName != auth.DefaultTenant {
		return nil, errs.Permission("creating tenants needs an admin key of the %q tenant", auth.DefaultTenant)
	}
	t, k, secret, err := a.tenants.CreateTenant(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return &ferryv1.CreateTenantResponse{
		Tenant: &ferryv1.Tenant{Id: t.ID.String(), Name: t.Name},
		Key:    &ferryv1.APIKey{Id: k.ID.String(), Name: k.Name, Admin: k.Admin},
		Secret: secret,
	}, nil
}

// CreateAPIKey creates a key of the caller's tenant; admin keys only.
func (a *API) CreateAPIKey(ctx context.Context, req *ferryv1.CreateAPIKeyRequest) (*ferryv1.CreateAPIKeyResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !p.Admin {
		return nil, errs.Permission("creating keys needs an admin key")
	}
	k, secret, err := a.tenants.CreateKeyFor(ctx, p, req.GetName(), req.GetAdmin())
	if err != nil {
		return nil, err
	}
	return &ferryv1.CreateAPIKeyResponse{Key: &ferryv1.APIKey{Id: k.ID.String(), Name: k.Name, Admin: k.Admin}, Secret: secret}, nil
}

// CreateDataset creates a dataset.
func (a *API) CreateDataset(ctx context.Context, req *ferryv1.CreateDatasetRequest) (*ferryv1.CreateDatasetResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	d, err := a.catalog.CreateDataset(ctx, p, req.GetDataset())
	return &ferryv1.CreateDatasetResponse{Dataset: d}, err
}

// ApplyDataset creates or updates a dataset.
func (a *API) ApplyDataset(ctx context.Context, req *ferryv1.ApplyDatasetRequest) (*ferryv1.ApplyDatasetResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	d, outcome, err := a.catalog.ApplyDataset(ctx, p, req.GetDataset())
	return &ferryv1.ApplyDatasetResponse{Dataset: d, Outcome: outcome}, err
}

// GetDataset returns a dataset.
func (a *API) GetDataset(ctx context.Context, req *ferryv1.GetDatasetRequest) (*ferryv1.GetDatasetResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	d, err := a.catalog.GetDataset(ctx, p, req.GetName())
	return &ferryv1.GetDatasetResponse{Dataset: d}, err
}

// ListDatasets lists datasets.
func (a *API) ListDatasets(ctx context.Context, _ *ferryv1.ListDatasetsRequest) (*ferryv1.ListDatasetsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	ds, err := a.catalog.ListDatasets(ctx, p)
	return &ferryv1.ListDatasetsResponse{Datasets: ds}, err
}

// AddFields adds fields to a dataset.
func (a *API) AddFields(ctx context.Context, req *ferryv1.AddFieldsRequest) (*ferryv1.AddFieldsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	d, err := a.catalog.AddFields(ctx, p, req.GetName(), req.GetFields())
	return &ferryv1.AddFieldsResponse{Dataset: d}, err
}

// ApplyImportProfile creates or versions a profile.
func (a *API) ApplyImportProfile(ctx context.Context, req *ferryv1.ApplyImportProfileRequest) (*ferryv1.ApplyImportProfileResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	spec := req.GetSpec()
	if spec == nil {
		return nil, errs.Invalid("import profile %q has no spec", req.GetName())
	}
	prof, outcome, err := a.catalog.ApplyProfile(ctx, p, req.GetName(), spec)
	return &ferryv1.ApplyImportProfileResponse{Profile: prof, Outcome: outcome}, err
}

// GetImportProfile returns a profile.
func (a *API) GetImportProfile(ctx context.Context, req *ferryv1.GetImportProfileRequest) (*ferryv1.GetImportProfileResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	prof, err := a.catalog.GetProfile(ctx, p, req.GetName(), req.GetVersion())
	return &ferryv1.GetImportProfileResponse{Profile: prof}, err
}

// ListImportProfiles lists profiles.
func (a *API) ListImportProfiles(ctx context.Context, _ *ferryv1.ListImportProfilesRequest) (*ferryv1.ListImportProfilesResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	profs, err := a.catalog.ListProfiles(ctx, p)
	return &ferryv1.ListImportProfilesResponse{Profiles: profs}, err
}

// GetRun returns a run.
func (a *API) GetRun(ctx context.Context, req *ferryv1.GetRunRequest) (*ferryv1.GetRunResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	r, err := a.catalog.GetRun(ctx, p, req.GetId())
	return &ferryv1.GetRunResponse{Run: r}, err
}

// ListRuns lists runs.
func (a *API) ListRuns(ctx context.Context, req *ferryv1.ListRunsRequest) (*ferryv1.ListRunsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	runs, next, err := a.catalog.ListRuns(ctx, p, req.GetProfile(), req.GetStatus(), req.GetPageSize(), req.GetPageToken())
	return &ferryv1.ListRunsResponse{Runs: runs, NextPageToken: next}, err
}

// CancelRun cancels a run and tells its workers.
func (a *API) CancelRun(ctx context.Context, req *ferryv1.CancelRunRequest) (*ferryv1.CancelRunResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	r, err := a.catalog.CancelRun(ctx, p, req.GetId())
	if err != nil {
		return nil, err
	}
	telemetry.RunFinished(ctx, r)
	if err := a.notifier.Canceled(ctx, p.TenantID.String(), r.GetId()); err != nil {
		return nil, errs.Unavailable(err, "tell workers run %s is canceled", r.GetId())
	}
	return &ferryv1.CancelRunResponse{Run: r}, nil
}

// ListRunRejects lists a run's rejects.
func (a *API) ListRunRejects(ctx context.Context, req *ferryv1.ListRunRejectsRequest) (*ferryv1.ListRunRejectsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	rej, next, err := a.catalog.ListRejects(ctx, p, req.GetId(), req.GetPageSize(), req.GetPageToken())
	return &ferryv1.ListRunRejectsResponse{Rejects: rej, NextPageToken: next}, err
}

// Ended reports whether a run status is final.
func Ended(s ferryv1.RunStatus) bool {
	switch s {
	case ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS,
		ferryv1.RunStatus_RUN_STATUS_FAILED, ferryv1.RunStatus_RUN_STATUS_CANCELED:
		return true
	}
	return false
}

// WatchRun sends the run whenever it changes, until it has ended or waits
// for approval.
func (a *API) WatchRun(req *ferryv1.WatchRunRequest, stream ferryv1.RunService_WatchRunServer) error {
	ctx := stream.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	run, err := a.catalog.GetRun(ctx, p, req.GetId())
	if err != nil {
		return err
	}
	changed, stop, err := a.notifier.Watch(p.TenantID.String(), run.GetId(), run.GetProfile())
	if err != nil {
		return errs.Unavailable(err, "watch run %s", run.GetId())
	}
	defer stop()
	var last *ferryv1.Run
	t := time.NewTicker(a.poll)
	defer t.Stop()
	for {
		if !proto.Equal(last, run) {
			if err := stream.Send(&ferryv1.WatchRunResponse{Run: run}); err != nil {
				return err
			}
			last = run
		}
		if Ended(run.GetStatus()) || run.GetStatus() == ferryv1.RunStatus_RUN_STATUS_AWAITING_APPROVAL {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-t.C:
		}
		if run, err = a.catalog.GetRun(ctx, p, req.GetId()); err != nil {
			return err
		}
	}
}
