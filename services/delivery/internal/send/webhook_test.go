package send_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/webhook"
	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
	"github.com/ferrydata/ferry/services/delivery/internal/send"
)

const (
	hookSecret = "whsec_Very-Secret-Value-123"
	urlToken   = "tok-in-query-456"
)

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
	sigErr error
}

// receiver is a webhook endpoint over TLS that checks signatures and
// answers status (200 when 0).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status atomic.Int32
	reply  atomic.Value // string
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		require.NoError(t, err)
		sigErr := webhook.Verify([]byte(hookSecret), req.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute)
		r.mu.Lock()
		r.got = append(r.got, received{header: req.Header.Clone(), body: body, sigErr: sigErr})
		r.mu.Unlock()
		if s := r.status.Load(); s != 0 {
			if s >= 300 && s < 400 {
				w.Header().Set("Location", "https://elsewhere.example/")
			}
			w.WriteHeader(int(s))
			if msg, ok := r.reply.Load().(string); ok {
				_, _ = io.WriteString(w, msg)
			}
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw}))
}

func hookSpec(r *receiver, mod func(*ferryv1.DestinationSpec, *ferryv1.WebhookDestination)) *ferryv1.DestinationSpec {
	w := &ferryv1.WebhookDestination{
		Url: r.srv.URL + "/hook?token=" + urlToken, Secret: hookSecret, TimeoutSeconds: 5, CaCert: r.caPEM(),
	}
	spec := &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Webhook{Webhook: w}, Internal: true}
	if mod != nil {
		mod(spec, w)
	}
	return spec
}

// requireNoSecret checks that an error shows neither the secret nor the
// URL's token.
func requireNoSecret(t *testing.T, err error) {
	t.Helper()
	require.NotContains(t, err.Error(), hookSecret)
	require.NotContains(t, err.Error(), urlToken)
}

func TestWebhookFileMode(t *testing.T) {
	r := startReceiver(t)
	a := memFile("orders.csv", "csv", "id,total\n1,9.50\n")
	big, _ := bigFile("big.csv", 2<<20)
	var opens atomic.Int32
	open := big.Open
	big.Open = func(ctx context.Context) (io.ReadCloser, error) {
		opens.Add(1)
		return open(ctx)
	}
	job := testJob(a, big)
	job.Attempt = 4

	locs, err := send.Webhook{}.Send(context.Background(), "hook", hookSpec(r, nil), job)
	require.NoError(t, err)
	require.Equal(t, []string{r.srv.URL + "/hook"}, locs)
	require.EqualValues(t, 2, opens.Load(), "read once to sign, once to send")

	got := r.requests()
	require.Len(t, got, 2)
	for i, f := range []send.File{a, big} {
		req := got[i]
		require.NoError(t, req.sigErr, f.Name)
		rc, err := f.Open(context.Background())
		require.NoError(t, err)
		want, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.Equal(t, want, req.body, f.Name)
		h := req.header
		require.Equal(t, f.ContentType, h.Get("Content-Type"))
		require.Equal(t, strconv.FormatInt(f.Size, 10), h.Get("Content-Length"))
		require.Equal(t, f.Name, h.Get("X-Ferry-File"))
		require.Equal(t, f.SHA256, h.Get("X-Ferry-Sha256"))
		require.Equal(t, job.Run, h.Get("X-Ferry-Run"))
		require.Equal(t, "orders", h.Get("X-Ferry-Profile"))
		require.Equal(t, "4", h.Get("X-Ferry-Delivery-Attempt"))
		require.Equal(t, job.Run+"/"+f.Name, h.Get("Idempotency-Key"))
	}

	// A redelivery is a new round: new keys, the same within the round.
	job.Round, job.Attempt = 2, 1
	_, err = send.Webhook{}.Send(context.Background(), "hook", hookSpec(r, nil), job)
	require.NoError(t, err)
	got = r.requests()
	require.Len(t, got, 4)
	require.Equal(t, job.Run+"/r2/orders.csv", got[2].header.Get("Idempotency-Key"))
	require.Equal(t, job.Run+"/r2/big.csv", got[3].header.Get("Idempotency-Key"))
}

func TestWebhookNoticeMode(t *testing.T) {
	r := startReceiver(t)
	job := testJob(memFile("orders.csv", "csv", "id\n1\n2\n"), memFile("orders-deleted.csv", "csv", "id\n"))
	for _, tt := range []struct {
		ttlSeconds int64
		want       string
	}{{0, "168h0m0s"}, {3600, "1h0m0s"}} {
		spec := hookSpec(r, func(_ *ferryv1.DestinationSpec, w *ferryv1.WebhookDestination) {
			w.Mode = ferryv1.WebhookMode_WEBHOOK_MODE_NOTICE
			w.LinkTtlSeconds = tt.ttlSeconds
		})
		locs, err := send.Webhook{}.Send(context.Background(), "hook", spec, job)
		require.NoError(t, err)
		require.Equal(t, []string{r.srv.URL + "/hook"}, locs)
		got := r.requests()
		req := got[len(got)-1]
		require.NoError(t, req.sigErr)
		require.Equal(t, "application/json", req.header.Get("Content-Type"))
		require.Equal(t, job.Run, req.header.Get("Idempotency-Key"))
		require.Equal(t, job.Run, req.header.Get("X-Ferry-Run"))
		require.Empty(t, req.header.Get("X-Ferry-File"))

		var n map[string]any
		require.NoError(t, json.Unmarshal(req.body, &n))
		require.Equal(t, "ferry.export.ready", n["type"])
		require.Equal(t, "acme", n["tenant"])
		require.Equal(t, job.Run, n["run"])
		require.Equal(t, "orders", n["profile"])
		require.EqualValues(t, 3, n["version"])
		require.Equal(t, "order", n["dataset"])
		files := n["files"].([]any)
		require.Len(t, files, 2)
		f0 := files[0].(map[string]any)
		require.Equal(t, "orders.csv", f0["name"])
		require.EqualValues(t, 7, f0["size"])
		require.EqualValues(t, 3, f0["rows"])
		require.Equal(t, job.Files[0].SHA256, f0["sha256"])
		require.Equal(t, "text/csv", f0["content_type"])
		require.Equal(t, "https://files.example/orders.csv?ttl="+tt.want, f0["url"])
	}
	require.Len(t, r.requests(), 2)
}

func TestWebhookResponses(t *testing.T) {
	r := startReceiver(t)
	job := testJob(memFile("a.csv", "csv", "id\n1\n"))
	for _, tt := range []struct {
		status int
		want   send.Class
	}{
		{http.StatusAccepted, ""},
		{http.StatusNoContent, ""},
		{http.StatusServiceUnavailable, send.Transient},
		{http.StatusInternalServerError, send.Transient},
		{http.StatusTooManyRequests, send.Transient},
		{http.StatusRequestTimeout, send.Transient},
		{http.StatusTooEarly, send.Transient},
		{http.StatusUnauthorized, send.Permanent},
		{http.StatusNotFound, send.Permanent},
		{http.StatusUnprocessableEntity, send.Permanent},
		{http.StatusFound, send.Permanent},
		{http.StatusPermanentRedirect, send.Permanent},
	} {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			r.status.Store(int32(tt.status))
			r.reply.Store("bad signature for key " + strings.Repeat("x", 300))
			_, err := send.Webhook{}.Send(context.Background(), "hook", hookSpec(r, nil), job)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			requireClass(t, tt.want, err)
			require.ErrorContains(t, err, strconv.Itoa(tt.status))
			require.ErrorContains(t, err, "bad signature for key xxx")
			require.NotContains(t, err.Error(), strings.Repeat("x", 200), "at most 200 bytes of the body")
			requireNoSecret(t, err)
		})
	}
}

func TestWebhookRefusesInternalTarget(t *testing.T) {
	r := startReceiver(t)
	spec := hookSpec(r, func(s *ferryv1.DestinationSpec, _ *ferryv1.WebhookDestination) { s.Internal = false })
	_, err := send.Webhook{}.Send(context.Background(), "hook", spec, testJob(memFile("a.csv", "csv", "id\n1\n")))
	requireClass(t, send.Permanent, err)
	require.ErrorIs(t, err, webhook.ErrForbiddenAddress)
	require.ErrorContains(t, err, "loopback")
	require.ErrorContains(t, err, "internal")
	requireNoSecret(t, err)
	require.Empty(t, r.requests(), "no request reached the server")

	// "localhost" resolves to loopback.
	spec = hookSpec(r, func(s *ferryv1.DestinationSpec, w *ferryv1.WebhookDestination) {
		s.Internal = false
		w.Url = strings.Replace(w.Url, "127.0.0.1", "localhost", 1)
	})
	_, err = send.Webhook{}.Send(context.Background(), "hook", spec, testJob(memFile("a.csv", "csv", "id\n1\n")))
	requireClass(t, send.Permanent, err)
	require.ErrorIs(t, err, webhook.ErrForbiddenAddress)
	require.Empty(t, r.requests())

	// Marked internal, it is delivered.
	_, err = send.Webhook{}.Send(context.Background(), "hook", hookSpec(r, nil), testJob(memFile("a.csv", "csv", "id\n1\n")))
	require.NoError(t, err)
	require.Len(t, r.requests(), 1)
}

func TestWebhookPermanentSetup(t *testing.T) {
	r := startReceiver(t)
	job := testJob(memFile("a.csv", "csv", "id\n1\n"))
	for name, mod := range map[string]func(*ferryv1.DestinationSpec, *ferryv1.WebhookDestination){
		"no secret": func(_ *ferryv1.DestinationSpec, w *ferryv1.WebhookDestination) { w.Secret = "" },
		"http not internal": func(s *ferryv1.DestinationSpec, w *ferryv1.WebhookDestination) {
			s.Internal = false
			w.Url = strings.Replace(w.Url, "https:", "http:", 1)
		},
		"untrusted certificate": func(_ *ferryv1.DestinationSpec, w *ferryv1.WebhookDestination) { w.CaCert = "" },
		"bad ca_cert":           func(_ *ferryv1.DestinationSpec, w *ferryv1.WebhookDestination) { w.CaCert = "junk" },
		"credentials in url": func(_ *ferryv1.DestinationSpec, w *ferryv1.WebhookDestination) {
			w.Url = strings.Replace(w.Url, "https://", "https://user:"+hookSecret+"@", 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := send.Webhook{}.Send(context.Background(), "hook", hookSpec(r, mod), job)
			requireClass(t, send.Permanent, err)
			requireNoSecret(t, err)
		})
	}
	require.Empty(t, r.requests())

	// A file that is not what the run recorded.
	f := memFile("a.csv", "csv", "id\n1\n")
	f.SHA256 = strings.Repeat("0", 64)
	_, err := send.Webhook{}.Send(context.Background(), "hook", hookSpec(r, nil), testJob(f))
	requireClass(t, send.Permanent, err)
	require.Empty(t, r.requests())
}

func TestWebhookTransientNetwork(t *testing.T) {
	job := testJob(memFile("a.csv", "csv", "id\n1\n"))

	// Too slow.
	release := make(chan struct{})
	slow := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	r := &receiver{srv: slow}
	spec := hookSpec(r, func(_ *ferryv1.DestinationSpec, w *ferryv1.WebhookDestination) { w.TimeoutSeconds = 1 })
	start := time.Now()
	_, err := send.Webhook{}.Send(context.Background(), "hook", spec, job)
	requireClass(t, send.Transient, err)
	requireNoSecret(t, err)
	require.Less(t, time.Since(start), 5*time.Second)

	// Nobody listening.
	down := startReceiver(t)
	spec = hookSpec(down, nil)
	down.srv.Close()
	_, err = send.Webhook{}.Send(context.Background(), "hook", spec, job)
	requireClass(t, send.Transient, err)
	requireNoSecret(t, err)

	// No such host.
	spec = hookSpec(down, func(_ *ferryv1.DestinationSpec, w *ferryv1.WebhookDestination) {
		w.Url = "https://no-such-host.invalid/hook?token=" + urlToken
	})
	_, err = send.Webhook{}.Send(context.Background(), "hook", spec, job)
	requireClass(t, send.Transient, err)
	requireNoSecret(t, err)
}
