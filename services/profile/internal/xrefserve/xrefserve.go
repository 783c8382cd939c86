// Package xrefserve answers transform's requests for cross-reference tables
// over NATS request-reply (bus.CrossReferenceFetchSubjects), a page of
// entries per request.
package xrefserve

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/errs"
)

// Pages is what the responder needs of the store.
type Pages interface {
	FetchPage(ctx context.Context, tenantID, name, after string, limit int) (*ferryv1.CrossReference, bool, error)
}

const (
	// queue spreads requests over the profile replicas.
	queue = "profile"
	// queryTimeout bounds the database work of one request.
	queryTimeout = 30 * time.Second
	// replyOverhead is room left in a NATS message for the reply's other
	// fields and the protocol's headers.
	replyOverhead = 16 << 10
)

// Server is the responder.
type Server struct {
	pages Pages
	log   *slog.Logger
	nc    *nats.Conn
	sub   *nats.Subscription
}

// New returns a responder that reads pages from pages.
func New(pages Pages, log *slog.Logger) *Server {
	return &Server{pages: pages, log: log}
}

// Start subscribes on nc.
func (s *Server) Start(nc *nats.Conn) error {
	sub, err := nc.QueueSubscribe(bus.CrossReferenceFetchSubjects, queue, s.handle)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", bus.CrossReferenceFetchSubjects, err)
	}
	s.nc, s.sub = nc, sub
	return nil
}

// Stop stops answering, finishing the requests in hand.
func (s *Server) Stop() error {
	if s.sub == nil {
		return nil
	}
	return s.sub.Drain()
}

func (s *Server) handle(m *nats.Msg) {
	var req ferryv1.CrossReferenceFetchRequest
	reply := &ferryv1.CrossReferenceFetchReply{}
	if err := proto.Unmarshal(m.Data, &req); err != nil {
		reply.Code, reply.Message = int32(errs.Code(errs.Invalid("bad request"))), "bad cross-reference fetch request"
	} else if m.Subject != bus.CrossReferenceFetchSubject(req.GetTenantId()) {
		s.log.Warn("cross-reference fetch refused: subject and payload name different tenants", "subject", m.Subject, "tenant", req.GetTenantId())
		reply.Code, reply.Message = int32(errs.Code(errs.Permission("denied"))), "the subject's tenant and the request's tenant differ"
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
		x, more, err := s.pages.FetchPage(ctx, req.GetTenantId(), req.GetName(), req.GetAfter(), int(req.GetLimit()))
		cancel()
		if err != nil {
			reply.Code, reply.Message = int32(errs.Code(err)), err.Error()
			if errs.KindOf(err) == errs.KindUnknown {
				s.log.Error("cross-reference fetch failed", "tenant", req.GetTenantId(), "xref", req.GetName(), "err", err)
				reply.Message = "internal error"
			}
		} else {
			reply.Table, reply.More = x, more
			s.fit(reply)
		}
	}
	data, err := proto.Marshal(reply)
	if err == nil {
		err = m.Respond(data)
	}
	if err != nil {
		s.log.Warn("cross-reference fetch reply failed", "tenant", req.GetTenantId(), "xref", req.GetName(), "err", err)
	}
}

// fit shortens a page that would not fit in one NATS message; the client
// asks for the rest.
func (s *Server) fit(reply *ferryv1.CrossReferenceFetchReply) {
	budget := int(s.nc.MaxPayload()) - replyOverhead
	x := reply.GetTable()
	size := 0
	for i, e := range x.GetEntries() {
		// An entry costs its size plus a tag and a length prefix.
		size += proto.Size(e) + 6
		if size > budget && i > 0 {
			x.Entries, reply.More = x.Entries[:i], true
			return
		}
	}
}
