package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// session is one invocation of the CLI: its streams, the global flags and
// the connection, dialled on first use.
type session struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	addr    string
	apiKey  string
	timeout time.Duration
	tls     bool

	conn *grpc.ClientConn
}

// dial returns the connection to the server, creating it on first use.
func (s *session) dial() (*grpc.ClientConn, error) {
	if s.conn != nil {
		return s.conn, nil
	}
	creds := insecure.NewCredentials()
	if s.tls {
		// A nil RootCAs means the system's roots.
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient(s.addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("ferry-cli"),
		// A no-op unless the process installed OpenTelemetry providers.
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithUnaryInterceptor(s.unary),
		grpc.WithStreamInterceptor(s.stream),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", s.addr, err)
	}
	s.conn = conn
	return conn, nil
}

func (s *session) close() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

// unary authenticates every request, bounds it by --timeout and turns its
// error into an *rpcError.
func (s *session) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.apiKey)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	return fromRPC(invoker(ctx, method, req, reply, cc, opts...))
}

// stream authenticates every stream. Streams (uploads and watches) have no
// time limit: they last as long as the file or the run.
func (s *session) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.apiKey)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, fromRPC(err)
	}
	return &clientStream{ClientStream: cs}, nil
}

// clientStream turns the errors of a stream into *rpcError values.
type clientStream struct {
	grpc.ClientStream
}

func (c *clientStream) SendMsg(m any) error { return fromRPC(c.ClientStream.SendMsg(m)) }
func (c *clientStream) RecvMsg(m any) error { return fromRPC(c.ClientStream.RecvMsg(m)) }
func (c *clientStream) CloseSend() error    { return fromRPC(c.ClientStream.CloseSend()) }

// clients bundles the API's service clients.
type clients struct {
	tenants  ferryv1.TenantServiceClient
	datasets ferryv1.DatasetServiceClient
	profiles ferryv1.ImportProfileServiceClient
	runs     ferryv1.RunServiceClient
	ingest   ferryv1.IngestServiceClient
	xrefs    ferryv1.CrossReferenceServiceClient
	exports  ferryv1.ExportServiceClient
	// destinations is the DestinationService.
	destinations ferryv1.DestinationServiceClient
}

// clients returns the service clients over the session's connection.
func (s *session) clients() (*clients, error) {
	conn, err := s.dial()
	if err != nil {
		return nil, err
	}
	return &clients{
		tenants:  ferryv1.NewTenantServiceClient(conn),
		datasets: ferryv1.NewDatasetServiceClient(conn),
		profiles: ferryv1.NewImportProfileServiceClient(conn),
		runs:     ferryv1.NewRunServiceClient(conn),
		ingest:   ferryv1.NewIngestServiceClient(conn),
		xrefs:    ferryv1.NewCrossReferenceServiceClient(conn),
		exports:  ferryv1.NewExportServiceClient(conn),

		destinations: ferryv1.NewDestinationServiceClient(conn),
	}, nil
}
