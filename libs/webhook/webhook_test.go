package webhook_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/webhook"
)

func TestSignVerify(t *testing.T) {
	secret := []byte("whsec-test")
	body := []byte(`{"type":"ferry.export.ready"}`)
	at := time.Unix(1_700_000_000, 0)
	h := webhook.Sign(secret, at, body)
	require.True(t, strings.HasPrefix(h, "t=1700000000,v1="), h)
	require.Len(t, strings.TrimPrefix(h, "t=1700000000,v1="), 64)

	require.NoError(t, webhook.Verify(secret, h, body, at.Add(time.Minute), 5*time.Minute))

	// Streaming in pieces gives the same signature.
	s := webhook.NewSignature(secret, at)
	_, _ = s.Write(body[:5])
	_, _ = s.Write(body[5:])
	require.Equal(t, h, s.Header())

	tampered := append([]byte{}, body...)
	tampered[3] ^= 1
	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"body changed", secret, h, tampered, at, webhook.ErrSignatureMismatch},
		{"other secret", []byte("other"), h, body, at, webhook.ErrSignatureMismatch},
		{"time changed", secret, strings.Replace(h, "t=1700000000", "t=1700000001", 1), body, at, webhook.ErrSignatureMismatch},
		{"stale", secret, h, body, at.Add(6 * time.Minute), webhook.ErrStaleSignature},
		{"future", secret, h, body, at.Add(-6 * time.Minute), webhook.ErrStaleSignature},
		{"empty", secret, "", body, at, webhook.ErrMalformedSignature},
		{"no v1", secret, "t=1700000000", body, at, webhook.ErrMalformedSignature},
		{"bad hex", secret, "t=1700000000,v1=zz", body, at, webhook.ErrMalformedSignature},
		{"bad time", secret, "t=soon,v1=" + strings.Repeat("0", 64), body, at, webhook.ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(tt.secret, tt.header, tt.body, tt.now, 5*time.Minute)
			require.ErrorIs(t, err, tt.want)
		})
	}

	// One of several v1 values may match (a receiver rotating secrets).
	other := webhook.Sign([]byte("other"), at, body)
	multi := other + ",v1=" + strings.SplitN(h, "v1=", 2)[1]
	require.NoError(t, webhook.Verify(secret, multi, body, at, 0))
}

func TestInternalKind(t *testing.T) {
	tests := []struct {
		ip   string
		want string
	}{
		{"127.0.0.1", "loopback"},
		{"127.8.9.10", "loopback"},
		{"::1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"192.168.1.1", "private"},
		{"fd00::1", "private"},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"0.1.2.3", `"this network"`},
		{"100.64.0.1", "carrier-grade NAT"},
		{"224.0.0.1", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:10.0.0.1", "private"},
		{"64:ff9b::7f00:1", "loopback (in NAT64)"},
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"2606:4700:4700::1111", ""},
		{"::ffff:8.8.8.8", ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, webhook.InternalKind(netip.MustParseAddr(tt.ip)), tt.ip)
	}
}

// caPEM is the test server's certificate as PEM, for NewClient.
func caPEM(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

func TestClientRefusesInternalAddresses(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
	}))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	c, err := webhook.NewClient(5*time.Second, caPEM(srv), false)
	require.NoError(t, err)
	for _, host := range []string{
		"127.0.0.1", "[::1]", "10.0.0.1", "192.168.1.1", "169.254.169.254",
		"localhost", "[::ffff:127.0.0.1]", "0.0.0.0", "100.64.0.1",
	} {
		t.Run(host, func(t *testing.T) {
			url := "https://" + host + ":" + port + "/hook"
			if host == "169.254.169.254" {
				url = "http://" + host + "/latest/meta-data/"
			}
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader("x"))
			require.NoError(t, err)
			resp, err := c.Do(req)
			if resp != nil {
				_ = resp.Body.Close()
			}
			require.ErrorIs(t, err, webhook.ErrForbiddenAddress)
		})
	}
	require.Zero(t, hits.Load(), "no request may reach the server")
}

func TestClientInternalAllowed(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)

	c, err := webhook.NewClient(5*time.Second, caPEM(srv), true)
	require.NoError(t, err)
	resp, err := c.Post(srv.URL+"/hook", "text/plain", strings.NewReader("hello"))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, "hello", got.Load())

	// Without the CA the server's certificate is not trusted.
	c, err = webhook.NewClient(5*time.Second, "", true)
	require.NoError(t, err)
	_, err = c.Post(srv.URL+"/hook", "text/plain", strings.NewReader("hello"))
	require.Error(t, err)
	require.NotErrorIs(t, err, webhook.ErrForbiddenAddress)

	_, err = webhook.NewClient(time.Second, "not a certificate", true)
	require.Error(t, err)
}

func TestClientVerifiesHostName(t *testing.T) {
	// The certificate of httptest names 127.0.0.1 and example.com; "localhost"
	// resolves to 127.0.0.1 but is not in it, so TLS must fail although the
	// connection goes to the right address.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c, err := webhook.NewClient(5*time.Second, caPEM(srv), true)
	require.NoError(t, err)
	_, err = c.Get("https://localhost:" + port + "/")
	require.ErrorContains(t, err, "certificate")
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/next" {
			followed.Store(true)
			return
		}
		http.Redirect(w, r, "/next", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	c, err := webhook.NewClient(5*time.Second, caPEM(srv), true)
	require.NoError(t, err)
	resp, err := c.Post(srv.URL+"/hook", "text/plain", strings.NewReader("x"))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	require.False(t, followed.Load())
}

func TestClientIgnoresProxyEnvironment(t *testing.T) {
	var proxied atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { proxied.Store(true) }))
	t.Cleanup(proxy.Close)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("HTTP_PROXY", proxy.URL)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	c, err := webhook.NewClient(5*time.Second, caPEM(srv), true)
	require.NoError(t, err)
	resp, err := c.Get(srv.URL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.False(t, proxied.Load(), fmt.Sprintf("request went through %s", proxy.URL))
}
