package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/destinations"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/sftpconn"
	"github.com/ferrydata/ferry/libs/webhook"
)

// DestinationStore is what the destination API needs of the store.
type DestinationStore interface {
	ApplyDestination(ctx context.Context, p auth.Principal, name string, spec *ferryv1.DestinationSpec, k *secrets.Keyring) (*ferryv1.Destination, string, error)
	GetDestination(ctx context.Context, p auth.Principal, name string) (*ferryv1.Destination, error)
	ListDestinations(ctx context.Context, p auth.Principal) ([]*ferryv1.Destination, error)
	LoadDestination(ctx context.Context, p auth.Principal, name string) (*destinations.Loaded, error)
}

// Redeliverer starts another round of deliveries of an ended export run.
type Redeliverer interface {
	RedeliverRun(ctx context.Context, p auth.Principal, id, destination string) (*ferryv1.Run, error)
}

// Destinations implements the DestinationService.
type Destinations struct {
	ferryv1.UnimplementedDestinationServiceServer
	store   DestinationStore
	keyring *secrets.Keyring
	log     *slog.Logger
}

// NewDestinations returns the destination API. k seals and opens
// credentials; it may be nil, and then only destinations without
// credentials can be applied and tested.
func NewDestinations(s DestinationStore, k *secrets.Keyring, log *slog.Logger) *Destinations {
	return &Destinations{store: s, keyring: k, log: log}
}

// ApplyDestination creates or updates a destination.
func (d *Destinations) ApplyDestination(ctx context.Context, req *ferryv1.ApplyDestinationRequest) (*ferryv1.ApplyDestinationResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	dest, outcome, err := d.store.ApplyDestination(ctx, p, req.GetName(), req.GetSpec(), d.keyring)
	if err != nil {
		return nil, err
	}
	return &ferryv1.ApplyDestinationResponse{Destination: dest, Outcome: outcome}, nil
}

// GetDestination returns a destination without its credentials.
func (d *Destinations) GetDestination(ctx context.Context, req *ferryv1.GetDestinationRequest) (*ferryv1.GetDestinationResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	dest, err := d.store.GetDestination(ctx, p, req.GetName())
	if err != nil {
		return nil, err
	}
	return &ferryv1.GetDestinationResponse{Destination: dest}, nil
}

// ListDestinations lists destinations without their credentials.
func (d *Destinations) ListDestinations(ctx context.Context, _ *ferryv1.ListDestinationsRequest) (*ferryv1.ListDestinationsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	list, err := d.store.ListDestinations(ctx, p)
	if err != nil {
		return nil, err
	}
	return &ferryv1.ListDestinationsResponse{Destinations: list}, nil
}

// TestDestination connects to a destination without delivering anything.
// What the test finds, good or bad, is the response; an error means the
// destination could not be tested at all (it does not exist, or its
// credentials do not open).
func (d *Destinations) TestDestination(ctx context.Context, req *ferryv1.TestDestinationRequest) (*ferryv1.TestDestinationResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	l, err := d.store.LoadDestination(ctx, p, req.GetName())
	if err != nil {
		return nil, err
	}
	spec, err := l.Spec(d.keyring)
	switch {
	case errors.Is(err, secrets.ErrNoKey):
		return nil, errs.FailedPrecondition("destination %q has credentials and the server has no key to open them: start the server with %s or %s set",
			l.Name, secrets.EnvKey, secrets.EnvKeyFile)
	case err != nil:
		return nil, errs.FailedPrecondition("destination %q: its credentials do not open with the server's keys (was the key that sealed them removed?); apply it again with every credential", l.Name)
	}
	var resp *ferryv1.TestDestinationResponse
	switch k := spec.GetKind().(type) {
	case *ferryv1.DestinationSpec_Sftp:
		resp = testSFTP(ctx, k.Sftp)
	case *ferryv1.DestinationSpec_Webhook:
		resp = testWebhook(ctx, l.Name, spec)
	case *ferryv1.DestinationSpec_Nats:
		resp = testNATS(p.TenantName, k.Nats)
	default:
		return nil, errs.FailedPrecondition("destination %q has no kind (sftp, webhook or nats)", l.Name)
	}
	d.log.Info("destination tested", "tenant", p.TenantID, "destination", l.Name, "kind", l.Kind, "ok", resp.GetOk())
	return resp, nil
}

// baseDir is the directory of an SFTP destination that every run's files go under.
func baseDir(s *ferryv1.SFTPDestination) string {
	if s.GetDirectory() == "" {
		return "."
	}
	return s.GetDirectory()
}

// knownHostsLine is a key in authorized-key form ("ssh-ed25519 AAAA…")
// as the known_hosts line of the destination's host, "host key" on port 22
// and "[host]:port key" on others, as ssh-keyscan prints it.
// sftpconn.ParseHostKey accepts it as a pin.
func knownHostsLine(s *ferryv1.SFTPDestination, keyLine string) string {
	host := s.GetHost()
	if p := s.GetPort(); p != 0 && p != 22 {
		host = "[" + host + "]:" + strconv.Itoa(int(p))
	}
	return host + " " + keyLine
}

// testSFTP shows the server's host key and checks that the base directory
// is writable. With a pin that does not match, Probe stops before logging
// in, so no credentials go to the wrong server.
func testSFTP(ctx context.Context, s *ferryv1.SFTPDestination) *ferryv1.TestDestinationResponse {
	dir := baseDir(s)
	cfg := destinations.SFTPConfig(s)
	unpinned := destinations.Unpinned(&ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Sftp{Sftp: s}})
	if unpinned {
		// A pin that matches no key: Probe shows the server's key and stops
		// before logging in, so no credentials go to an unverified server.
		cfg.HostKey = "SHA256:" + strings.Repeat("A", 43)
	}
	res, err := sftpconn.Probe(ctx, cfg, dir)
	out := &ferryv1.TestDestinationResponse{HostKeyFingerprint: res.Fingerprint, HostKeyMatches: res.PinMatches, Writable: res.Writable}
	if res.KeyLine != "" {
		out.HostKeyLine = knownHostsLine(s, res.KeyLine)
	}
	port := int(s.GetPort())
	if port == 0 {
		port = 22
	}
	addr := net.JoinHostPort(s.GetHost(), strconv.Itoa(port))
	pinned := "the pin"
	if pin, perr := sftpconn.ParseHostKey(s.GetHostKey()); perr == nil {
		pinned = pin.String()
	}
	switch {
	case unpinned && res.Fingerprint != "":
		out.HostKeyMatches = false
		out.Message = fmt.Sprintf("no host key is pinned; %s presented %s, and Ferry stopped before logging in. "+
			"If that is the server's key (check with its operator), pin it: %s", addr, res.Fingerprint, out.HostKeyLine)
	case res.Fingerprint != "" && !res.PinMatches:
		out.Message = fmt.Sprintf("host key mismatch: %s presented %s, but the pin is %s; Ferry stopped before logging in, so no credentials were sent. "+
			"If the server's key changed on purpose (ask its operator), pin the new one: %s", addr, res.Fingerprint, pinned, out.HostKeyLine)
	case errors.Is(err, sftpconn.ErrAuth):
		out.Message = fmt.Sprintf("host key %s matches the pin, but %s refused the credentials of user %q", res.Fingerprint, addr, s.GetUsername())
	case err != nil && res.Fingerprint != "":
		out.Message = fmt.Sprintf("host key %s matches the pin, but the test failed: %v", res.Fingerprint, err)
	case err != nil:
		out.Message = fmt.Sprintf("cannot reach %s: %v", addr, err)
	case res.Writable && res.WriteError != "":
		out.Message = fmt.Sprintf("host key %s matches the pin; %s is writable, but: %s", res.Fingerprint, dir, res.WriteError)
	case res.Writable:
		out.Message = fmt.Sprintf("host key %s matches the pin; %s is writable", res.Fingerprint, dir)
	default:
		out.Message = fmt.Sprintf("host key %s matches the pin, but %s is not writable: %s", res.Fingerprint, dir, res.WriteError)
	}
	out.Ok = err == nil && !unpinned && res.PinMatches && res.Writable
	return out
}

// testNATS says where a NATS destination publishes; Ferry's own NATS is
// up when the API answers.
func testNATS(tenant string, n *ferryv1.NATSDestination) *ferryv1.TestDestinationResponse {
	subject := "ferry.out." + tenant + "." + n.GetSubject()
	what := "each run's rows as JSON lines"
	if n.GetMode() == ferryv1.NATSMode_NATS_MODE_NOTICE {
		what = "a JSON notice naming each run's files"
	} else if per := n.GetRowsPerMessage(); per > 0 {
		what += fmt.Sprintf(", %d rows per message", per)
	} else {
		what += ", 1000 rows per message"
	}
	return &ferryv1.TestDestinationResponse{Ok: true, Message: fmt.Sprintf("publishes %s on %s of Ferry's NATS", what, subject)}
}

// testWebhook posts a signed test notice, {"type":"ferry.test",
// "destination":NAME}, and reports the HTTP status: 2xx is ok.
func testWebhook(ctx context.Context, name string, spec *ferryv1.DestinationSpec) *ferryv1.TestDestinationResponse {
	w := spec.GetWebhook()
	fail := func(format string, args ...any) *ferryv1.TestDestinationResponse {
		return &ferryv1.TestDestinationResponse{Message: fmt.Sprintf(format, args...)}
	}
	client, err := webhook.NewClient(time.Duration(w.GetTimeoutSeconds())*time.Second, w.GetCaCert(), spec.GetInternal())
	if err != nil {
		return fail("%v", err)
	}
	body, err := json.Marshal(map[string]string{"type": "ferry.test", "destination": name})
	if err != nil {
		return fail("%v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.GetUrl(), bytes.NewReader(body))
	if err != nil {
		return fail("webhook url %s: %v", redactURL(w.GetUrl()), err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ferry")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign([]byte(w.GetSecret()), time.Now(), body))
	resp, err := client.Do(req)
	if err != nil {
		return fail("POST %s: %v", redactURL(w.GetUrl()), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	msg := fmt.Sprintf("POST %s answered %s", redactURL(w.GetUrl()), resp.Status)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail("%s; a delivery needs a 2xx answer", msg)
	}
	return &ferryv1.TestDestinationResponse{Ok: true, Message: msg + " to a signed test notice"}
}

// redactURL drops a URL's query, which may carry a token, from messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the webhook url"
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.User, u.Fragment = nil, ""
	return u.String()
}

// RedeliverRun delivers the files of an ended export run again, to every
// destination of the run or to one.
func (a *API) RedeliverRun(ctx context.Context, req *ferryv1.RedeliverRunRequest) (*ferryv1.RedeliverRunResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	run, err := a.catalog.RedeliverRun(ctx, p, req.GetId(), req.GetDestination())
	if err != nil {
		return nil, err
	}
	return &ferryv1.RedeliverRunResponse{Run: run}, nil
}
