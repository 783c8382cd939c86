// Package webhook is how Ferry calls a tenant's HTTPS endpoint: requests
// are signed with the endpoint's secret, and the HTTP client refuses to
// connect to loopback, private, link-local and other internal addresses
// unless the destination is marked internal, so that a tenant cannot use a
// webhook to reach Ferry's own network.
//
// A receiver checks a request with Verify:
//
//	body, _ := io.ReadAll(r.Body)
//	err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute)
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SignatureHeader carries a request's signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>".
const SignatureHeader = "X-Ferry-Signature"

// DefaultTolerance is how far a signature's time may be from the receiver's
// clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Signature computes the signature of a body written to it, in pieces if
// need be, so that a large body need not be held in memory.
type Signature struct {
	t   int64
	mac hash.Hash
}

// NewSignature starts the signature of a request sent at t.
func NewSignature(secret []byte, t time.Time) *Signature {
	s := &Signature{t: t.Unix(), mac: hmac.New(sha256.New, secret)}
	_, _ = s.mac.Write([]byte(strconv.FormatInt(s.t, 10) + "."))
	return s
}

// Write adds p to the signed body; it never fails.
func (s *Signature) Write(p []byte) (int, error) { return s.mac.Write(p) }

// Header is the SignatureHeader value for the body written so far.
func (s *Signature) Header() string {
	return "t=" + strconv.FormatInt(s.t, 10) + ",v1=" + hex.EncodeToString(s.mac.Sum(nil))
}

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	s := NewSignature(secret, t)
	_, _ = s.Write(body)
	return s.Header()
}

// Errors of Verify, wrapped with details.
var (
	// ErrMalformedSignature says the header is missing or not of the form
	// "t=<unix seconds>,v1=<hex>".
	ErrMalformedSignature = errors.New("malformed webhook signature")
	// ErrStaleSignature says the signature's time is further from now than
	// the tolerance: a replayed or delayed request, or a skewed clock.
	ErrStaleSignature = errors.New("webhook signature time outside tolerance")
	// ErrSignatureMismatch says no signature in the header matches the body.
	ErrSignatureMismatch = errors.New("webhook signature does not match")
)

// Verify checks a SignatureHeader value against body and secret, for
// receivers and tests. The header's time must be within tolerance of now,
// in either direction (DefaultTolerance when tolerance <= 0), which stops
// replays of old requests. Several v1 values are allowed; one must match.
// Signatures are compared in constant time.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var (
		ts    int64
		hasTS bool
		sigs  [][]byte
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: part %q is not key=value", ErrMalformedSignature, part)
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || hasTS {
				return fmt.Errorf("%w: t=%q is not one unix time in seconds", ErrMalformedSignature, v)
			}
			ts, hasTS = n, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return fmt.Errorf("%w: v1 is not a hex HMAC-SHA256", ErrMalformedSignature)
			}
			sigs = append(sigs, b)
		}
	}
	if !hasTS || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix seconds>,v1=<hex>", ErrMalformedSignature)
	}
	sent := time.Unix(ts, 0)
	if d := now.Sub(sent); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now (tolerance %s)", ErrStaleSignature, sent.UTC().Format(time.RFC3339), d.Round(time.Second), tolerance)
	}
	mac := hmac.New(sha256.New, secret)
	_, _ = mac.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	_, _ = mac.Write(body)
	want := mac.Sum(nil)
	ok := false
	for _, s := range sigs {
		// Check every value, so the time taken does not tell which matched.
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignatureMismatch
	}
	return nil
}

// ErrForbiddenAddress says a webhook's host is, or resolves to, an address
// Ferry does not call for tenants: loopback, private, link-local (cloud
// metadata among them), CGNAT, multicast, unspecified or reserved. An admin
// can mark the destination internal to allow it.
var ErrForbiddenAddress = errors.New("forbidden webhook address")

var forbiddenPrefixes = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\""},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
}

// nat64 embeds an IPv4 address in its last 32 bits; a NAT64 gateway
// forwards to that address, so it is checked as well.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// InternalKind says what kind of internal address ip is ("loopback",
// "private", "link-local", ...), or "" when it is a public unicast address.
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) and NAT64 addresses
// (64:ff9b::a.b.c.d) are judged by the IPv4 address they carry.
func InternalKind(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		if k := InternalKind(netip.AddrFrom4([4]byte(b[12:]))); k != "" {
			return k + " (in NAT64)"
		}
	}
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, p := range forbiddenPrefixes {
		if p.prefix.Contains(ip) {
			return p.kind
		}
	}
	return ""
}

// guard resolves a host once, refuses internal addresses and connects to
// an address it checked, so that a second lookup (DNS rebinding) cannot
// swap in another one.
type guard struct {
	allowInternal bool
	resolver      *net.Resolver
	dialer        *net.Dialer
}

func (g *guard) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	ip, err := netip.ParseAddr(host)
	literal := err == nil
	if literal {
		ips = []netip.Addr{ip.Unmap()}
	} else {
		ips, err = g.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		for i := range ips {
			ips[i] = ips[i].Unmap()
		}
		if len(ips) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	if !g.allowInternal {
		// One internal address among public ones is refused too: which one
		// gets used must not decide whether the call is allowed.
		for _, ip := range ips {
			if k := InternalKind(ip); k != "" {
				if literal {
					return nil, fmt.Errorf("%w: %s is a %s address", ErrForbiddenAddress, host, k)
				}
				return nil, fmt.Errorf("%w: %s resolves to %s, a %s address", ErrForbiddenAddress, host, ip, k)
			}
		}
	}
	var errs []error
	for _, ip := range ips {
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// control checks the address the socket is about to connect to, whatever
// path led there.
func (g *guard) control(_, address string, _ syscall.RawConn) error {
	if g.allowInternal {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrForbiddenAddress, address)
	}
	if k := InternalKind(ap.Addr()); k != "" {
		return fmt.Errorf("%w: %s is a %s address", ErrForbiddenAddress, ap.Addr(), k)
	}
	return nil
}

// NewClient returns an HTTP client for webhooks. Its requests time out
// after timeout (30 s when <= 0), whole, body included. Before connecting
// it resolves the host once and refuses, with ErrForbiddenAddress, any
// address InternalKind names, unless allowInternal; it then connects to
// the address it checked. TLS still verifies the host name, against the
// system roots and caPEM (PEM certificates) when given. It uses no proxy
// and follows no redirect: a 3xx is returned as the response.
func NewClient(timeout time.Duration, caPEM string, allowInternal bool) (*http.Client, error) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if strings.TrimSpace(caPEM) != "" && !roots.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, errors.New("webhook ca_cert: no PEM certificate found")
	}
	g := &guard{allowInternal: allowInternal, resolver: net.DefaultResolver}
	g.dialer = &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.dial,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}
