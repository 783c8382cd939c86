// Package export reads datasets for export runs. In this release it joins the
// process and declares the bus it will use; export profiles and runs are
// not served yet.
package export

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ferrydata/ferry/libs/bus"
)

// Deps are what the service is built with.
type Deps struct {
	JS  jetstream.JetStream
	Log *slog.Logger
}

// Service is the running export service.
type Service struct{ deps Deps }

// New builds the service.
func New(d Deps) *Service { return &Service{deps: d} }

// Starting declares the streams.
func (s *Service) Starting(ctx context.Context) error { return bus.EnsureStreams(ctx, s.deps.JS) }

// Running waits until ctx ends.
func (s *Service) Running(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Stopping has nothing to drain.
func (s *Service) Stopping(context.Context) error { return nil }
