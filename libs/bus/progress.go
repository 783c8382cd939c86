package bus

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// PublishProgress publishes an event of a run on its progress subject. The
// message id is id/run, so the same event published twice counts once.
func PublishProgress(ctx context.Context, js jetstream.JetStream, tenant, run, id string, p *ferryv1.Progress) error {
	p.TenantId, p.RunId = tenant, run
	return Publish(ctx, js, ProgressSubject(tenant, run), id+"/"+run, p)
}

// PublishFailed ends a run as failed with reason.
func PublishFailed(ctx context.Context, js jetstream.JetStream, tenant, run, reason string) error {
	return PublishProgress(ctx, js, tenant, run, "failed", &ferryv1.Progress{Event: &ferryv1.Progress_Failed{Failed: &ferryv1.RunFailed{Reason: reason}}})
}
