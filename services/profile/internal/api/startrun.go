package api

import (
	"context"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/errs"
)

// WithExports lets StartRun start runs of export profiles through e.
func (a *API) WithExports(e *Exports) *API {
	a.exports = e
	return a
}

// StartRun starts a run of a profile by hand. An export profile runs (a
// draft too); an import profile needs a file, so it is refused. The same
// idempotency key returns the run it first started.
func (a *API) StartRun(ctx context.Context, req *ferryv1.StartRunRequest) (*ferryv1.StartRunResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetProfile() == "" {
		return nil, errs.Invalid("profile: empty: name an export profile")
	}
	if a.exports == nil {
		return nil, errs.Unavailable(nil, "start run: exports are not served here")
	}
	run, err := a.exports.start(ctx, p, req.GetProfile(), req.GetIdempotencyKey())
	if errs.Is(err, errs.KindNotFound) {
		if _, ierr := a.catalog.GetProfile(ctx, p, req.GetProfile(), 0); ierr == nil {
			return nil, errs.FailedPrecondition("%q is an import profile: an import run needs a file: upload it (ferry import PROFILE FILE)", req.GetProfile())
		}
		return nil, errs.NotFound("profile %q not found", req.GetProfile())
	}
	if err != nil {
		return nil, err
	}
	return &ferryv1.StartRunResponse{Run: run}, nil
}
