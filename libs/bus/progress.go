package bus

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// PublishProgress publishes an event of a run on its progress subject. The
// message id is id/run, so the same event published twice counts once.
func PublishProgress(ctx context.Context, js jetstream.JetStream, tenant, run, id string, p *ferryv1.Progress) error {
	p.TenantId, p.RunId = tenant, run
	return Publish(ctx, js, ProgressSubject(tenant, run), id+"/"+run, p)
}

// PublishFailed ends a run as failed with reason. A reason that is not valid
// UTF-8 (an error quoting raw bytes, or cut inside a character) has its bad
// bytes replaced: a protobuf string must be UTF-8, and a failure that cannot
// be reported would leave the run waiting.
func PublishFailed(ctx context.Context, js jetstream.JetStream, tenant, run, reason string) error {
	reason = strings.ToValidUTF8(reason, "\uFFFD")
	return PublishProgress(ctx, js, tenant, run, "failed", &ferryv1.Progress{Event: &ferryv1.Progress_Failed{Failed: &ferryv1.RunFailed{Reason: reason}}})
}
