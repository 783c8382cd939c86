package xref

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/errs"
)

const (
	// PageSize is how many entries Fetch asks for at once and the most the
	// profile service sends; it sends fewer when a page would not fit in a
	// NATS message.
	PageSize = 10_000
	// requestTimeout bounds each page request when ctx has no deadline.
	requestTimeout = 15 * time.Second
	// fetchAttempts is how often Fetch starts over when the table changes
	// while it is read.
	fetchAttempts = 3
)

// errChanged says that the table's version changed between two pages.
var errChanged = errors.New("the table changed while it was read")

// Fetch reads a whole table of a tenant from the profile service, page by
// page. Every page carries the table's version; when it changes part-way,
// Fetch starts over, so the table it returns is one version of it. A table
// that does not exist is an error of kind errs.KindNotFound.
func Fetch(ctx context.Context, nc *nats.Conn, tenantID, name string) (*Table, error) {
	var err error
	for range fetchAttempts {
		var t *Table
		t, err = fetchOnce(ctx, nc, tenantID, name)
		if !errors.Is(err, errChanged) {
			return t, err
		}
	}
	return nil, errs.Unavailable(err, "fetch cross-reference %q: it changed during %d attempts to read it", name, fetchAttempts)
}

func fetchOnce(ctx context.Context, nc *nats.Conn, tenantID, name string) (*Table, error) {
	var t *Table
	req := &ferryv1.CrossReferenceFetchRequest{TenantId: tenantID, Name: name, Limit: PageSize}
	for {
		reply, err := fetchPage(ctx, nc, req)
		if err != nil {
			return nil, err
		}
		x := reply.GetTable()
		if t == nil {
			t = &Table{Name: x.GetName(), Version: x.GetVersion(), CaseInsensitive: x.GetCaseInsensitive(), internal: make(map[string]string, len(x.GetEntries())),
				external: map[string]string{}, primaries: map[string]bool{}}
		} else if x.GetVersion() != t.Version || x.GetCaseInsensitive() != t.CaseInsensitive {
			return nil, errChanged
		}
		t.add(x.GetEntries())
		if !reply.GetMore() {
			return t, nil
		}
		if len(x.GetEntries()) == 0 {
			return nil, fmt.Errorf("fetch cross-reference %q: a page after %q has no entries but says there are more", name, req.GetAfter())
		}
		req.After = x.GetEntries()[len(x.GetEntries())-1].GetExternal()
	}
}

// fetchPage asks for one page and turns an error reply into an error of its kind.
func fetchPage(ctx context.Context, nc *nats.Conn, req *ferryv1.CrossReferenceFetchRequest) (*ferryv1.CrossReferenceFetchReply, error) {
	data, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	m, err := nc.RequestWithContext(ctx, bus.CrossReferenceFetchSubject(req.GetTenantId()), data)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err()
		}
		return nil, errs.Unavailable(err, "fetch cross-reference %q: profile service did not answer", req.GetName())
	}
	var reply ferryv1.CrossReferenceFetchReply
	if err := proto.Unmarshal(m.Data, &reply); err != nil {
		return nil, fmt.Errorf("decode cross-reference fetch reply: %w", err)
	}
	switch c := codes.Code(reply.GetCode()); c {
	case codes.OK:
		return &reply, nil
	case codes.NotFound:
		return nil, errs.NotFound("%s", reply.GetMessage())
	default:
		return nil, errs.FromCode(c, reply.GetMessage())
	}
}
