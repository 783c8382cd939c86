package api

import (
	"context"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// XRefStore is what the cross-reference handlers need of the store.
type XRefStore interface {
	Apply(ctx context.Context, p auth.Principal, x *ferryv1.CrossReference, keepEntries bool) (*ferryv1.CrossReference, string, error)
	Get(ctx context.Context, p auth.Principal, name string) (*ferryv1.CrossReference, error)
	List(ctx context.Context, p auth.Principal) ([]*ferryv1.CrossReference, error)
	PutEntries(ctx context.Context, p auth.Principal, name string, entries []*ferryv1.CrossReferenceEntry, replace bool) (*ferryv1.CrossReference, store.EntryCounts, error)
	DeleteEntries(ctx context.Context, p auth.Principal, name string, externals []string) (int64, error)
	Lookup(ctx context.Context, p auth.Principal, name string, dir ferryv1.LookupDirection, values []string) ([]*ferryv1.LookupResult, error)
}

// CrossReferences implements the CrossReferenceService.
type CrossReferences struct {
	ferryv1.UnimplementedCrossReferenceServiceServer

	store XRefStore
}

// NewCrossReferences returns the CrossReferenceService on s.
func NewCrossReferences(s XRefStore) *CrossReferences { return &CrossReferences{store: s} }

// needName refuses a request that names no table.
func needName(name string) error {
	if name == "" {
		return errs.Invalid("name a cross-reference table")
	}
	return nil
}

// ApplyCrossReference creates or updates a table.
func (c *CrossReferences) ApplyCrossReference(ctx context.Context, req *ferryv1.ApplyCrossReferenceRequest) (*ferryv1.ApplyCrossReferenceResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetCrossReference() == nil {
		return nil, errs.Invalid("no cross_reference to apply")
	}
	x, outcome, err := c.store.Apply(ctx, p, req.GetCrossReference(), req.GetKeepEntries())
	return &ferryv1.ApplyCrossReferenceResponse{CrossReference: x, Outcome: outcome}, err
}

// GetCrossReference returns a table with its entries.
func (c *CrossReferences) GetCrossReference(ctx context.Context, req *ferryv1.GetCrossReferenceRequest) (*ferryv1.GetCrossReferenceResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := needName(req.GetName()); err != nil {
		return nil, err
	}
	x, err := c.store.Get(ctx, p, req.GetName())
	return &ferryv1.GetCrossReferenceResponse{CrossReference: x}, err
}

// ListCrossReferences lists tables without entries.
func (c *CrossReferences) ListCrossReferences(ctx context.Context, _ *ferryv1.ListCrossReferencesRequest) (*ferryv1.ListCrossReferencesResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	xs, err := c.store.List(ctx, p)
	return &ferryv1.ListCrossReferencesResponse{CrossReferences: xs}, err
}

// PutCrossReferenceEntries loads entries into a table.
func (c *CrossReferences) PutCrossReferenceEntries(ctx context.Context, req *ferryv1.PutCrossReferenceEntriesRequest) (*ferryv1.PutCrossReferenceEntriesResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := needName(req.GetName()); err != nil {
		return nil, err
	}
	x, n, err := c.store.PutEntries(ctx, p, req.GetName(), req.GetEntries(), req.GetReplace())
	return &ferryv1.PutCrossReferenceEntriesResponse{CrossReference: x, Added: n.Added, Changed: n.Changed, Removed: n.Removed}, err
}

// DeleteCrossReferenceEntries removes entries by external value.
func (c *CrossReferences) DeleteCrossReferenceEntries(ctx context.Context, req *ferryv1.DeleteCrossReferenceEntriesRequest) (*ferryv1.DeleteCrossReferenceEntriesResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := needName(req.GetName()); err != nil {
		return nil, err
	}
	n, err := c.store.DeleteEntries(ctx, p, req.GetName(), req.GetExternals())
	return &ferryv1.DeleteCrossReferenceEntriesResponse{Removed: n}, err
}

// LookupCrossReference translates values in either direction.
func (c *CrossReferences) LookupCrossReference(ctx context.Context, req *ferryv1.LookupCrossReferenceRequest) (*ferryv1.LookupCrossReferenceResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := needName(req.GetName()); err != nil {
		return nil, err
	}
	res, err := c.store.Lookup(ctx, p, req.GetName(), req.GetDirection(), req.GetValues())
	return &ferryv1.LookupCrossReferenceResponse{Results: res}, err
}
