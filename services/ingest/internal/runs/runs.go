// Package runs is ingest's client of the profile service's run coordination:
// it creates runs and publishes their progress events.
package runs

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/errs"
)

// Client creates runs and reports on them.
type Client struct {
	NC *nats.Conn
	JS jetstream.JetStream
}

// Create asks the profile service for a new run.
func (c *Client) Create(ctx context.Context, req *ferryv1.RunCreateRequest) (*ferryv1.Run, *ferryv1.RunSnapshot, error) {
	data, err := proto.Marshal(req)
	if err != nil {
		return nil, nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	msg := &nats.Msg{Subject: bus.RunCreateSubject(req.GetTenantId()), Data: data, Header: nats.Header{}}
	// The run is created in, and keeps, the caller's trace.
	bus.InjectTrace(ctx, msg.Header)
	m, err := c.NC.RequestMsgWithContext(rctx, msg)
	if err != nil {
		return nil, nil, errs.Unavailable(err, "create run: profile service did not answer")
	}
	var reply ferryv1.RunCreateReply
	if err := proto.Unmarshal(m.Data, &reply); err != nil {
		return nil, nil, fmt.Errorf("decode run create reply: %w", err)
	}
	if reply.GetCode() != 0 {
		return nil, nil, errs.FromCode(codes.Code(reply.GetCode()), reply.GetMessage())
	}
	return reply.GetRun(), reply.GetSnapshot(), nil
}

// Publish publishes a progress event of a run. id makes it idempotent.
func (c *Client) Publish(ctx context.Context, snap *ferryv1.RunSnapshot, id string, p *ferryv1.Progress) error {
	return bus.PublishProgress(ctx, c.JS, snap.GetTenantId(), snap.GetRunId(), id, p)
}

// Fail ends a run as failed with reason.
func (c *Client) Fail(ctx context.Context, snap *ferryv1.RunSnapshot, reason string) error {
	return bus.PublishFailed(ctx, c.JS, snap.GetTenantId(), snap.GetRunId(), reason)
}
