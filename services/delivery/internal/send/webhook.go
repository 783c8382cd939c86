package send

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ferrydata/ferry/libs/webhook"
	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// Headers of a webhook request besides webhook.SignatureHeader.
const (
	HeaderRun     = "X-Ferry-Run"
	HeaderProfile = "X-Ferry-Profile"
	HeaderFile    = "X-Ferry-File"
	HeaderSHA256  = "X-Ferry-Sha256"
	HeaderAttempt = "X-Ferry-Delivery-Attempt"
	HeaderIdemKey = "Idempotency-Key"
)

const (
	webhookAgent   = "ferry-webhook/1"
	defaultTimeout = 30 * time.Second
)

// Webhook posts a run to an HTTPS endpoint: each file as a request body
// (mode FILE), or one JSON Notice with download links (mode NOTICE). Every
// request is signed with the destination's secret (see libs/webhook) and
// carries an Idempotency-Key that stays the same across the attempts of a
// round, so that a receiver can drop a repeated delivery; a redelivery (a
// new round) has keys of its own.
type Webhook struct {
	// Now is the clock of signatures; time.Now when nil.
	Now func() time.Time
}

var _ Sender = Webhook{}

// Send makes the requests of one attempt. It returns the URL, without its
// query string. 2xx is success; 408, 425, 429 and 5xx, and failures to
// connect, are transient; redirects (which are not followed) and other
// responses are permanent, as are an internal address for a destination
// not marked internal and a certificate the client does not trust.
func (w Webhook) Send(ctx context.Context, dest string, spec *ferryv1.DestinationSpec, job Job) ([]string, error) {
	wh := spec.GetWebhook()
	if wh == nil {
		return nil, Fail(fmt.Errorf("destination %s is not a webhook destination", dest))
	}
	if wh.GetSecret() == "" {
		return nil, Fail(fmt.Errorf("webhook destination %s has no secret to sign with", dest))
	}
	u, err := url.Parse(wh.GetUrl())
	if err != nil {
		// url's errors quote the URL, which may carry a token.
		return nil, Fail(fmt.Errorf("webhook destination %s: the url does not parse", dest))
	}
	loc := redact(u)
	switch {
	case u.Scheme != "https" && !(u.Scheme == "http" && spec.GetInternal()):
		return nil, Fail(fmt.Errorf("webhook %s: the url must be https (http only for an internal destination)", loc))
	case u.Hostname() == "":
		return nil, Fail(fmt.Errorf("webhook %s: the url has no host", loc))
	case u.User != nil:
		return nil, Fail(fmt.Errorf("webhook %s: the url must not carry credentials", loc))
	}
	timeout := defaultTimeout
	if wh.GetTimeoutSeconds() > 0 {
		timeout = time.Duration(wh.GetTimeoutSeconds()) * time.Second
	}
	client, err := webhook.NewClient(timeout, wh.GetCaCert(), spec.GetInternal())
	if err != nil {
		return nil, Fail(fmt.Errorf("webhook destination %s: %w", dest, err))
	}
	defer client.CloseIdleConnections()
	c := &hook{w: w, client: client, url: u.String(), loc: loc, secret: []byte(wh.GetSecret()), job: job}

	if wh.GetMode() == ferryv1.WebhookMode_WEBHOOK_MODE_NOTICE {
		ttl := DefaultLinkTTL
		if wh.GetLinkTtlSeconds() > 0 {
			ttl = time.Duration(wh.GetLinkTtlSeconds()) * time.Second
		}
		n, err := notice(ctx, job, ttl)
		if err != nil {
			return nil, err
		}
		if err := c.postNotice(ctx, n); err != nil {
			return nil, err
		}
		return []string{loc}, nil
	}
	for _, f := range job.Files {
		if err := c.postFile(ctx, f); err != nil {
			return nil, err
		}
	}
	return []string{loc}, nil
}

// redact is the URL to show: without user, query and fragment, which may
// carry tokens.
func redact(u *url.URL) string {
	r := *u
	r.User, r.RawQuery, r.ForceQuery, r.Fragment, r.RawFragment = nil, "", false, "", ""
	return r.String()
}

// hook is one attempt's requests to one endpoint.
type hook struct {
	w      Webhook
	client *http.Client
	url    string
	loc    string
	secret []byte
	job    Job
}

func (h *hook) now() time.Time {
	if h.w.Now != nil {
		return h.w.Now()
	}
	return time.Now()
}

func (h *hook) postNotice(ctx context.Context, n Notice) error {
	body, err := json.Marshal(n)
	if err != nil {
		return Fail(fmt.Errorf("encode notice: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return Fail(fmt.Errorf("webhook %s: build request: %s", h.loc, h.scrub(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(h.secret, h.now(), body))
	req.Header.Set(HeaderIdemKey, h.job.RoundKey())
	h.common(req)
	return h.do(req, "notice")
}

// postFile posts one file as the body. The signature covers the body, so
// the file is read twice, once to sign and once to send, rather than held
// in memory.
func (h *hook) postFile(ctx context.Context, f File) error {
	sig := webhook.NewSignature(h.secret, h.now())
	sum := sha256.New()
	r, err := open(ctx, f)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.MultiWriter(sig, sum), r)
	_ = r.Close()
	if err != nil {
		return keep(fmt.Errorf("read file %s: %w", f.Name, err))
	}
	digest := hex.EncodeToString(sum.Sum(nil))
	if (f.SHA256 != "" && !strings.EqualFold(f.SHA256, digest)) || (f.Size > 0 && f.Size != n) {
		return Fail(fmt.Errorf("file %s reads as %d bytes with sha256 %s, but the run recorded %d bytes with sha256 %s", f.Name, n, digest, f.Size, f.SHA256))
	}

	body, err := open(ctx, f)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, body)
	if err != nil {
		_ = body.Close()
		return Fail(fmt.Errorf("webhook %s: build request: %s", h.loc, h.scrub(err)))
	}
	req.ContentLength = n
	if n == 0 {
		_ = body.Close()
		req.Body = http.NoBody
	}
	// With GetBody and an Idempotency-Key the transport may send the request
	// again on a fresh connection when a reused one turned out to be closed.
	req.GetBody = func() (io.ReadCloser, error) { return f.Open(ctx) }
	ct := f.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set(webhook.SignatureHeader, sig.Header())
	req.Header.Set(HeaderFile, f.Name)
	req.Header.Set(HeaderSHA256, digest)
	req.Header.Set(HeaderIdemKey, h.job.RoundKey()+"/"+f.Name)
	h.common(req)
	return h.do(req, "file "+f.Name)
}

func (h *hook) common(req *http.Request) {
	req.Header.Set("User-Agent", webhookAgent)
	req.Header.Set(HeaderRun, h.job.Run)
	req.Header.Set(HeaderProfile, h.job.Profile)
	req.Header.Set(HeaderAttempt, strconv.Itoa(h.job.Attempt))
}

// do sends req and classifies the outcome.
func (h *hook) do(req *http.Request, what string) error {
	resp, err := h.client.Do(req)
	if err != nil {
		return h.requestError(what, err)
	}
	defer resp.Body.Close()
	snippet := readSnippet(resp.Body)
	// Let the connection be reused: read a little more of the body, not all
	// of it, whatever its size.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := resp.StatusCode
	status := resp.Status
	if status == "" {
		status = strconv.Itoa(code)
	}
	msg := fmt.Sprintf("webhook %s answered %s to %s", h.loc, status, what)
	if snippet != "" {
		msg += ": " + snippet
	}
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			msg += " (Retry-After " + sanitize(ra, 40) + ")"
		}
		return Retry(errors.New(msg))
	case code >= 300 && code < 400:
		return Fail(fmt.Errorf("%s; redirects are not followed, point the destination at the final URL", msg))
	}
	return Fail(errors.New(msg))
}

// requestError classifies a request that got no response. The url.Error
// of net/http names the whole URL, query string included, so only what it
// wraps is shown, after the redacted URL.
func (h *hook) requestError(what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := fmt.Sprintf("webhook %s, %s: %s", h.loc, what, h.scrub(err))
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, webhook.ErrForbiddenAddress):
		return Fail(&shown{msg + "; webhooks may not reach loopback, private or link-local addresses unless an admin marks the destination internal", err})
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid):
		return Fail(&shown{msg + "; the server's certificate is not trusted (set ca_cert if a private CA issued it)", err})
	}
	return Retry(&shown{msg, err})
}

// shown is an error with a message of its own (without secrets) that
// still unwraps to its cause.
type shown struct {
	msg string
	err error
}

func (e *shown) Error() string { return e.msg }
func (e *shown) Unwrap() error { return e.err }

// scrub is err's message with the full URL (which may carry a token in
// its query) replaced by the redacted one.
func (h *hook) scrub(err error) string {
	s := err.Error()
	if h.url != h.loc {
		s = strings.ReplaceAll(s, h.url, h.loc)
	}
	return s
}

// readSnippet reads up to 200 bytes of a response body, made printable.
func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 201))
	s := sanitize(string(b), 200)
	if len(b) > 200 {
		s += "…"
	}
	return s
}

// sanitize keeps printable characters of s, at most max bytes, on one line.
func sanitize(s string, max int) string {
	var b strings.Builder
	for i, r := range s {
		if i >= max {
			break
		}
		switch {
		case r == utf8.RuneError:
			// A rune cut by the byte limit, or invalid UTF-8.
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		case unicode.IsPrint(r):
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
