package api

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// xrefClient serves the CrossReferenceService on the real store over
// loopback gRPC, as a tenant's principal, with the server's error mapping.
func xrefClient(t *testing.T) ferryv1.CrossReferenceServiceClient {
	pool := storetest.Open(t)
	p := storetest.Tenant(t, pool, "acme")

	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(auth.WithPrincipal(ctx, p), req)
		return resp, errs.ToStatus(err)
	}))
	ferryv1.RegisterCrossReferenceServiceServer(gs, NewCrossReferences(store.NewXRefs(pool)))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return ferryv1.NewCrossReferenceServiceClient(conn)
}

func requireCode(t *testing.T, code codes.Code, msg string, err error) {
	t.Helper()
	st, ok := status.FromError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, code, st.Code(), st.Message())
	require.Contains(t, st.Message(), msg)
}

func TestCrossReferenceService(t *testing.T) {
	c := xrefClient(t)
	ctx := context.Background()

	applied, err := c.ApplyCrossReference(ctx, &ferryv1.ApplyCrossReferenceRequest{CrossReference: &ferryv1.CrossReference{
		Name: "grades", CaseInsensitive: true,
		Entries: []*ferryv1.CrossReferenceEntry{{External: "Gr 9", Internal: "9"}, {External: "Grade 9", Internal: "9", Primary: true}},
	}})
	require.NoError(t, err)
	require.Equal(t, "created", applied.GetOutcome())
	require.EqualValues(t, 2, applied.GetCrossReference().GetEntryCount())

	put, err := c.PutCrossReferenceEntries(ctx, &ferryv1.PutCrossReferenceEntriesRequest{Name: "grades",
		Entries: []*ferryv1.CrossReferenceEntry{{External: "gr 9", Internal: "09"}, {External: "Gr 10", Internal: "10"}}})
	require.NoError(t, err)
	require.EqualValues(t, 1, put.GetAdded())
	require.EqualValues(t, 1, put.GetChanged())
	require.EqualValues(t, 2, put.GetCrossReference().GetVersion())

	look, err := c.LookupCrossReference(ctx, &ferryv1.LookupCrossReferenceRequest{Name: "grades",
		Direction: ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_INTERNAL, Values: []string{" GR 10"}})
	require.NoError(t, err)
	require.Equal(t, "10", look.GetResults()[0].GetResult())

	del, err := c.DeleteCrossReferenceEntries(ctx, &ferryv1.DeleteCrossReferenceEntriesRequest{Name: "grades", Externals: []string{"GR 10"}})
	require.NoError(t, err)
	require.EqualValues(t, 1, del.GetRemoved())

	list, err := c.ListCrossReferences(ctx, &ferryv1.ListCrossReferencesRequest{})
	require.NoError(t, err)
	require.Len(t, list.GetCrossReferences(), 1)
	require.EqualValues(t, 2, list.GetCrossReferences()[0].GetEntryCount())
	require.EqualValues(t, 3, list.GetCrossReferences()[0].GetVersion())

	_, err = c.PutCrossReferenceEntries(ctx, &ferryv1.PutCrossReferenceEntriesRequest{Name: "grades",
		Entries: []*ferryv1.CrossReferenceEntry{{External: "Gr 11", Internal: "11"}, {External: " gr 11 ", Internal: "11"}}})
	requireCode(t, codes.InvalidArgument, `external values "Gr 11" and " gr 11 " are the same value in a case-insensitive table`, err)
	_, err = c.PutCrossReferenceEntries(ctx, &ferryv1.PutCrossReferenceEntriesRequest{Name: "grades",
		Entries: []*ferryv1.CrossReferenceEntry{{External: "Ninth", Internal: "9", Primary: true}}})
	requireCode(t, codes.InvalidArgument, `internal value "9" would have 2 primary external values ("Grade 9", "Ninth")`, err)
	_, err = c.GetCrossReference(ctx, &ferryv1.GetCrossReferenceRequest{Name: "missing"})
	requireCode(t, codes.NotFound, `cross-reference "missing" not found`, err)
	_, err = c.GetCrossReference(ctx, &ferryv1.GetCrossReferenceRequest{})
	requireCode(t, codes.InvalidArgument, "name a cross-reference table", err)
	_, err = c.ApplyCrossReference(ctx, &ferryv1.ApplyCrossReferenceRequest{})
	requireCode(t, codes.InvalidArgument, "no cross_reference to apply", err)
	_, err = c.LookupCrossReference(ctx, &ferryv1.LookupCrossReferenceRequest{Name: "grades", Values: []string{"x"}})
	requireCode(t, codes.InvalidArgument, "want to_internal or to_external", err)
}
