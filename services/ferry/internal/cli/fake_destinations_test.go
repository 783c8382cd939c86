package cli

import (
	"context"
	"maps"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// fakeDestinations is an in-memory DestinationService that keeps
// credentials as the server does: write-only, an empty one keeps the stored
// one, another kind drops them.
type fakeDestinations struct {
	ferryv1.UnimplementedDestinationServiceServer

	mu      sync.Mutex
	applied []*ferryv1.ApplyDestinationRequest
	stored  map[string]*ferryv1.Destination
	// creds are the stored credentials by destination.
	creds map[string]map[string]string
	// tests are what TestDestination answers, by destination.
	tests map[string]*ferryv1.TestDestinationResponse
}

// splitCredentials returns the spec without its credentials and the
// credentials that were given.
func splitCredentials(spec *ferryv1.DestinationSpec) (*ferryv1.DestinationSpec, map[string]string) {
	pub := proto.CloneOf(spec)
	creds := map[string]string{}
	take := func(name string, v *string) {
		if *v != "" {
			creds[name] = *v
		}
		*v = ""
	}
	if s := pub.GetSftp(); s != nil {
		take("password", &s.Password)
		take("private_key", &s.PrivateKey)
		take("passphrase", &s.Passphrase)
	}
	if w := pub.GetWebhook(); w != nil {
		take("secret", &w.Secret)
	}
	return pub, creds
}

func (f *fakeDestinations) ApplyDestination(_ context.Context, req *ferryv1.ApplyDestinationRequest) (*ferryv1.ApplyDestinationResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, proto.CloneOf(req))
	pub, given := splitCredentials(req.GetSpec())
	creds := map[string]string{}
	cur, exists := f.stored[req.GetName()]
	if exists && destinationKind(cur.GetSpec()) == destinationKind(pub) {
		maps.Copy(creds, f.creds[req.GetName()])
	}
	maps.Copy(creds, given)
	if exists && proto.Equal(cur.GetSpec(), pub) && maps.Equal(creds, f.creds[req.GetName()]) {
		return &ferryv1.ApplyDestinationResponse{Destination: cur, Outcome: "unchanged"}, nil
	}
	outcome := "created"
	if exists {
		outcome = "updated"
	}
	d := &ferryv1.Destination{Name: req.GetName(), Spec: pub, CreateTime: fixedTime, UpdateTime: fixedTime}
	for _, n := range []string{"password", "private_key", "passphrase", "secret"} {
		if creds[n] != "" {
			d.SecretsSet = append(d.SecretsSet, n)
		}
	}
	f.stored[req.GetName()], f.creds[req.GetName()] = d, creds
	return &ferryv1.ApplyDestinationResponse{Destination: d, Outcome: outcome}, nil
}

func (f *fakeDestinations) GetDestination(_ context.Context, req *ferryv1.GetDestinationRequest) (*ferryv1.GetDestinationResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.stored[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "destination %q not found", req.GetName())
	}
	return &ferryv1.GetDestinationResponse{Destination: d}, nil
}

func (f *fakeDestinations) ListDestinations(context.Context, *ferryv1.ListDestinationsRequest) (*ferryv1.ListDestinationsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &ferryv1.ListDestinationsResponse{}
	for _, name := range sortedNames(f.stored) {
		resp.Destinations = append(resp.Destinations, f.stored[name])
	}
	return resp, nil
}

func (f *fakeDestinations) TestDestination(_ context.Context, req *ferryv1.TestDestinationRequest) (*ferryv1.TestDestinationResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp, ok := f.tests[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "destination %q not found", req.GetName())
	}
	return resp, nil
}

func (f *fakeRuns) RedeliverRun(_ context.Context, req *ferryv1.RedeliverRunRequest) (*ferryv1.RedeliverRunResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redelivered = append(f.redelivered, proto.CloneOf(req))
	r, ok := f.runs[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "run %q not found", req.GetId())
	}
	if r.GetStatus() == ferryv1.RunStatus_RUN_STATUS_RUNNING {
		return nil, status.Errorf(codes.FailedPrecondition, "run %s is running; only a succeeded or failed export run can be delivered again", req.GetId())
	}
	r = proto.CloneOf(r)
	r.Status, r.Note = ferryv1.RunStatus_RUN_STATUS_RUNNING, "redelivering"
	return &ferryv1.RedeliverRunResponse{Run: r}, nil
}
