package xrefserve

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/libs/testkit"
	"github.com/ferrydata/ferry/libs/xref"
	"github.com/ferrydata/ferry/services/profile/internal/store"
)

// counting counts the pages the responder reads.
type counting struct {
	Pages
	n atomic.Int64
}

func (c *counting) FetchPage(ctx context.Context, tenantID, name, after string, limit int) (*ferryv1.CrossReference, bool, error) {
	c.n.Add(1)
	return c.Pages.FetchPage(ctx, tenantID, name, after, limit)
}

// setup returns a tenant with a case-insensitive table "ids" of n entries,
// and a connection to a NATS server of maxPayload bytes on which the
// responder runs.
func setup(t *testing.T, n int, maxPayload int32) (auth.Principal, *nats.Conn, *counting) {
	ctx := context.Background()
	pool := storetest.Open(t)
	p := storetest.Tenant(t, pool, "acme")
	xs := store.NewXRefs(pool)
	want := &ferryv1.CrossReference{Name: "ids", CaseInsensitive: true}
	for i := range n {
		want.Entries = append(want.Entries, &ferryv1.CrossReferenceEntry{External: fmt.Sprintf("Ext-%06d", i), Internal: fmt.Sprint(i)})
	}
	_, _, err := xs.Apply(ctx, p, want, false)
	require.NoError(t, err)

	ns, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: t.TempDir(), MaxPayload: maxPayload}, testkit.Log(t))
	require.NoError(t, err)
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := bus.Connect("", ns, "test", testkit.Log(t))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	pages := &counting{Pages: xs}
	srv := New(pages, testkit.Log(t))
	require.NoError(t, srv.Start(nc))
	t.Cleanup(func() { _ = srv.Stop() })
	return p, nc, pages
}

func TestFetchPagesThroughTheResponder(t *testing.T) {
	p, nc, pages := setup(t, 25_000, 8<<20)
	tbl, err := xref.Fetch(context.Background(), nc, p.TenantID.String(), "ids")
	require.NoError(t, err)
	require.Equal(t, 25_000, tbl.Len())
	require.Equal(t, "ids", tbl.Name)
	require.EqualValues(t, 1, tbl.Version)
	require.True(t, tbl.CaseInsensitive)
	require.EqualValues(t, 3, pages.n.Load(), "pages of 10 000")
	for _, v := range []string{"Ext-000000", " ext-012345 ", "EXT-024999"} {
		_, ok := tbl.Lookup(v)
		require.True(t, ok, v)
	}
	got, _ := tbl.Lookup("ext-012345")
	require.Equal(t, "12345", got)

	_, err = xref.Fetch(context.Background(), nc, p.TenantID.String(), "missing")
	require.True(t, errs.Is(err, errs.KindNotFound), "%v", err)
	require.EqualError(t, err, `cross-reference "missing" not found`)
	_, err = xref.Fetch(context.Background(), nc, uuid.NewString(), "ids")
	require.True(t, errs.Is(err, errs.KindNotFound), "another tenant does not see the table: %v", err)
}

func TestPagesFitTheServersMaxPayload(t *testing.T) {
	// 25 000 entries are about 600 KB; with 128 KiB messages they take
	// more pages than 10 000 entries each.
	p, nc, pages := setup(t, 25_000, 128<<10)
	tbl, err := xref.Fetch(context.Background(), nc, p.TenantID.String(), "ids")
	require.NoError(t, err)
	require.Equal(t, 25_000, tbl.Len())
	require.Greater(t, pages.n.Load(), int64(3))
}

func TestFetchRefusesAnotherTenantsSubject(t *testing.T) {
	p, nc, pages := setup(t, 3, 8<<20)
	data, err := proto.Marshal(&ferryv1.CrossReferenceFetchRequest{TenantId: p.TenantID.String(), Name: "ids"})
	require.NoError(t, err)
	m, err := nc.Request(bus.CrossReferenceFetchSubject(uuid.NewString()), data, 5*time.Second)
	require.NoError(t, err)
	var reply ferryv1.CrossReferenceFetchReply
	require.NoError(t, proto.Unmarshal(m.Data, &reply))
	require.EqualValues(t, codes.PermissionDenied, reply.GetCode())
	require.Equal(t, "the subject's tenant and the request's tenant differ", reply.GetMessage())
	require.Nil(t, reply.GetTable())
	require.Zero(t, pages.n.Load(), "the refused request never reached the store")

	m, err = nc.Request(bus.CrossReferenceFetchSubject(p.TenantID.String()), data, 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, proto.Unmarshal(m.Data, &reply))
	require.Zero(t, reply.GetCode())
	require.Len(t, reply.GetTable().GetEntries(), 3)
	require.False(t, reply.GetMore())
}
