// Package destinations is what the control plane, delivery and ingest share
// about destinations: which fields of a spec are credentials, how they are
// sealed at rest and opened again, what a valid spec is, and how an SFTP
// destination becomes a connection and a confined directory.
//
// Credentials never leave this package in a spec that is stored or
// returned: Split empties them, and Load fills them back only for the
// process that delivers.
package destinations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/sftpconn"
)

// Credential names, as listed in Destination.secrets_set.
const (
	Password   = "password"
	PrivateKey = "private_key"
	Passphrase = "passphrase"
	Secret     = "secret"
)

// Kind names the spec's kind: "sftp", "webhook", "nats" or "".
func Kind(spec *ferryv1.DestinationSpec) string {
	switch spec.GetKind().(type) {
	case *ferryv1.DestinationSpec_Sftp:
		return "sftp"
	case *ferryv1.DestinationSpec_Webhook:
		return "webhook"
	case *ferryv1.DestinationSpec_Nats:
		return "nats"
	}
	return ""
}

// Resource is the name sealed credentials are bound to, with the tenant.
func Resource(id uuid.UUID) string { return "destination/" + id.String() }

// Split returns a copy of spec without its credentials, and the credentials
// that were given (empty ones are left out).
func Split(spec *ferryv1.DestinationSpec) (*ferryv1.DestinationSpec, map[string]string) {
	pub := proto.Clone(spec).(*ferryv1.DestinationSpec)
	creds := map[string]string{}
	take := func(name string, v *string) {
		if *v != "" {
			creds[name] = *v
		}
		*v = ""
	}
	if s := pub.GetSftp(); s != nil {
		take(Password, &s.Password)
		take(PrivateKey, &s.PrivateKey)
		take(Passphrase, &s.Passphrase)
	}
	if w := pub.GetWebhook(); w != nil {
		take(Secret, &w.Secret)
	}
	return pub, creds
}

// Merge returns a copy of pub with the credentials filled in.
func Merge(pub *ferryv1.DestinationSpec, creds map[string]string) *ferryv1.DestinationSpec {
	spec := proto.Clone(pub).(*ferryv1.DestinationSpec)
	if s := spec.GetSftp(); s != nil {
		s.Password, s.PrivateKey, s.Passphrase = creds[Password], creds[PrivateKey], creds[Passphrase]
	}
	if w := spec.GetWebhook(); w != nil {
		w.Secret = creds[Secret]
	}
	return spec
}

// Names lists the credentials of creds in a stable order.
func Names(creds map[string]string) []string {
	var out []string
	for _, n := range []string{Password, PrivateKey, Passphrase, Secret} {
		if creds[n] != "" {
			out = append(out, n)
		}
	}
	return out
}

// Seal encrypts creds for the destination; nil when there are none.
func Seal(k *secrets.Keyring, tenant, id uuid.UUID, creds map[string]string) ([]byte, error) {
	if len(creds) == 0 {
		return nil, nil
	}
	if k == nil {
		return nil, secrets.ErrNoKey
	}
	b, err := json.Marshal(creds)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return k.Seal(b, tenant.String(), Resource(id))
}

// Open decrypts what Seal sealed.
func Open(k *secrets.Keyring, tenant, id uuid.UUID, sealed []byte) (map[string]string, error) {
	creds := map[string]string{}
	if len(sealed) == 0 {
		return creds, nil
	}
	if k == nil {
		return nil, secrets.ErrNoKey
	}
	b, err := k.Open(sealed, tenant.String(), Resource(id))
	if err != nil {
		return nil, err
	}
	defer clear(b)
	if err := json.Unmarshal(b, &creds); err != nil {
		return nil, fmt.Errorf("destination credentials: %w", err)
	}
	return creds, nil
}

var subjectRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// Unpinned says whether spec is an SFTP destination without a pinned host
// key: it can be tested, to see the key, but delivers nothing.
func Unpinned(spec *ferryv1.DestinationSpec) bool {
	s := spec.GetSftp()
	return s != nil && strings.TrimSpace(s.GetHostKey()) == ""
}

// Validate lists what is wrong with a spec whose credentials have been
// merged with the stored ones (an empty list: nothing).
func Validate(spec *ferryv1.DestinationSpec) []string {
	var p []string
	switch k := spec.GetKind().(type) {
	case *ferryv1.DestinationSpec_Sftp:
		s := k.Sftp
		if s.GetHost() == "" {
			p = append(p, "sftp.host is required")
		}
		if s.GetPort() < 0 || s.GetPort() > 65535 {
			p = append(p, fmt.Sprintf("sftp.port %d is not a port", s.GetPort()))
		}
		if s.GetUsername() == "" {
			p = append(p, "sftp.username is required")
		}
		if s.GetPassword() == "" && s.GetPrivateKey() == "" {
			p = append(p, "sftp needs a password or a private_key")
		}
		// An empty host_key is stored, unpinned: `ferry destinations test`
		// shows the key to pin, and nothing is delivered until it is.
		if strings.TrimSpace(s.GetHostKey()) != "" {
			if _, err := sftpconn.ParseHostKey(s.GetHostKey()); err != nil {
				p = append(p, "sftp.host_key: "+err.Error())
			}
		}
		if _, _, err := sftpconn.Confine(base(s), "", "x"); err != nil {
			p = append(p, "sftp.directory: "+err.Error())
		}
		if _, err := FillPath(s.GetPath(), PathValues{Profile: "p", Dataset: "d", Run: uuid.Nil.String(), Version: 1}); err != nil {
			p = append(p, "sftp.path: "+err.Error())
		}
		if s.GetTimeoutSeconds() < 0 {
			p = append(p, "sftp.timeout_seconds must not be negative")
		}
	case *ferryv1.DestinationSpec_Webhook:
		w := k.Webhook
		u, err := url.Parse(w.GetUrl())
		switch {
		case w.GetUrl() == "":
			p = append(p, "webhook.url is required")
		case err != nil:
			p = append(p, "webhook.url: "+err.Error())
		case u.Scheme != "https" && !(u.Scheme == "http" && spec.GetInternal()):
			p = append(p, fmt.Sprintf("webhook.url %q must be https (http only for an internal destination)", w.GetUrl()))
		case u.Hostname() == "":
			p = append(p, fmt.Sprintf("webhook.url %q has no host", w.GetUrl()))
		case u.User != nil:
			p = append(p, "webhook.url must not carry credentials; use secret")
		}
		if w.GetSecret() == "" {
			p = append(p, "webhook.secret is required: receivers check the signature with it")
		}
		if w.GetTimeoutSeconds() < 0 {
			p = append(p, "webhook.timeout_seconds must not be negative")
		}
	case *ferryv1.DestinationSpec_Nats:
		if !subjectRE.MatchString(k.Nats.GetSubject()) {
			p = append(p, fmt.Sprintf("nats.subject %q must be tokens of letters, digits, _ and - joined by dots", k.Nats.GetSubject()))
		}
		if k.Nats.GetRowsPerMessage() < 0 {
			p = append(p, "nats.rows_per_message must not be negative")
		}
	default:
		p = append(p, "a destination needs one of sftp, webhook or nats")
	}
	if r := spec.GetRetry(); r != nil && (r.GetMaxAttempts() < 0 || r.GetInitialBackoffSeconds() < 0 || r.GetMaxBackoffSeconds() < 0) {
		p = append(p, "retry values must not be negative")
	}
	return p
}

func base(s *ferryv1.SFTPDestination) string {
	if s.GetDirectory() == "" {
		return "."
	}
	return s.GetDirectory()
}

// PathValues fill a directory template.
type PathValues struct {
	Profile, Dataset, Run string
	Version               int64
	Time                  time.Time
}

var placeholderRE = regexp.MustCompile(`\{([a-z]+)(?::([^{}]*))?\}`)

// FillPath fills a directory template ({profile}, {dataset}, {run},
// {version}, {date:LAYOUT}, the date in UTC). Each substituted value is
// sanitised to stay inside one path segment; the result must be a relative
// path without "..", which Confine checks again against the base.
func FillPath(tmpl string, v PathValues) (string, error) {
	var bad error
	out := placeholderRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		p := placeholderRE.FindStringSubmatch(m)
		switch p[1] {
		case "profile":
			return sftpconn.Sanitize(v.Profile)
		case "dataset":
			return sftpconn.Sanitize(v.Dataset)
		case "run":
			return sftpconn.Sanitize(v.Run)
		case "version":
			return fmt.Sprint(v.Version)
		case "date":
			layout := p[2]
			if layout == "" {
				layout = "2006-01-02"
			}
			return sftpconn.Sanitize(v.Time.UTC().Format(layout))
		}
		bad = fmt.Errorf("path %q: unknown placeholder {%s} (want profile, dataset, run, version or date:LAYOUT)", tmpl, p[1])
		return m
	})
	if bad != nil {
		return "", bad
	}
	if _, _, err := sftpconn.Confine("/", out, "x"); err != nil {
		return "", fmt.Errorf("path %q: %w", tmpl, err)
	}
	return out, nil
}

// Dir is the confined directory an SFTP destination writes a run's files to.
func Dir(s *ferryv1.SFTPDestination, v PathValues) (string, error) {
	rel, err := FillPath(s.GetPath(), v)
	if err != nil {
		return "", err
	}
	dir, _, err := sftpconn.Confine(base(s), rel, "x")
	return dir, err
}

// SFTPConfig is the connection of an SFTP destination (credentials merged).
func SFTPConfig(s *ferryv1.SFTPDestination) sftpconn.Config {
	timeout := 30 * time.Second
	if s.GetTimeoutSeconds() > 0 {
		timeout = time.Duration(s.GetTimeoutSeconds()) * time.Second
	}
	return sftpconn.Config{
		Host: s.GetHost(), Port: int(s.GetPort()), User: s.GetUsername(),
		Password: s.GetPassword(), PrivateKey: []byte(s.GetPrivateKey()), Passphrase: []byte(s.GetPassphrase()),
		HostKey: s.GetHostKey(), Timeout: timeout,
	}
}

// Loaded is a stored destination.
type Loaded struct {
	ID       uuid.UUID
	TenantID uuid.UUID
	Name     string
	Kind     string
	// Public is the spec without credentials.
	Public     *ferryv1.DestinationSpec
	SecretsSet []string
	Sealed     []byte
	Created    time.Time
	Updated    time.Time
}

// Queryer is a pool, a connection or a transaction.
type Queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// ErrNotFound says no destination has the name.
var ErrNotFound = errors.New("destination not found")

const cols = `id, tenant_id, name, kind, spec::text, secrets, secrets_set, created_at, updated_at`

func scan(row pgx.Row) (*Loaded, error) {
	var l Loaded
	var spec string
	if err := row.Scan(&l.ID, &l.TenantID, &l.Name, &l.Kind, &spec, &l.Sealed, &l.SecretsSet, &l.Created, &l.Updated); err != nil {
		return nil, err
	}
	l.Public = &ferryv1.DestinationSpec{}
	if err := protojson.Unmarshal([]byte(spec), l.Public); err != nil {
		return nil, fmt.Errorf("destination %s: stored spec: %w", l.Name, err)
	}
	return &l, nil
}

// Get reads a tenant's destination by name.
func Get(ctx context.Context, q Queryer, tenant uuid.UUID, name string) (*Loaded, error) {
	l, err := scan(q.QueryRow(ctx, `SELECT `+cols+` FROM ferry.destinations WHERE tenant_id = $1 AND name = $2`, tenant, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return l, err
}

// GetByID reads a destination by id.
func GetByID(ctx context.Context, q Queryer, id uuid.UUID) (*Loaded, error) {
	l, err := scan(q.QueryRow(ctx, `SELECT `+cols+` FROM ferry.destinations WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: id %s", ErrNotFound, id)
	}
	return l, err
}

// List reads a tenant's destinations by name.
func List(ctx context.Context, q Queryer, tenant uuid.UUID) ([]*Loaded, error) {
	rows, err := q.Query(ctx, `SELECT `+cols+` FROM ferry.destinations WHERE tenant_id = $1 ORDER BY name`, tenant)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Loaded, error) { return scan(r) })
}

// Spec returns the full spec, credentials opened with k.
func (l *Loaded) Spec(k *secrets.Keyring) (*ferryv1.DestinationSpec, error) {
	creds, err := Open(k, l.TenantID, l.ID, l.Sealed)
	if err != nil {
		return nil, fmt.Errorf("destination %s: credentials: %w", l.Name, err)
	}
	return Merge(l.Public, creds), nil
}

// Rewrap seals every destination's credentials with the primary key of k
// where another key sealed them, for key rotation. It returns how many it
// re-wrapped. Safe to run from several processes at once.
func Rewrap(ctx context.Context, q Queryer, k *secrets.Keyring) (int, error) {
	if k == nil {
		return 0, nil
	}
	rows, err := q.Query(ctx, `SELECT id, tenant_id, secrets FROM ferry.destinations WHERE secrets IS NOT NULL`)
	if err != nil {
		return 0, err
	}
	type sealed struct {
		id, tenant uuid.UUID
		blob       []byte
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealed, error) {
		var s sealed
		return s, r.Scan(&s.id, &s.tenant, &s.blob)
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range all {
		out, changed, err := k.Rewrap(s.blob, s.tenant.String(), Resource(s.id))
		if err != nil {
			return n, fmt.Errorf("re-wrap destination %s: %w", s.id, err)
		}
		if !changed {
			continue
		}
		// Only if nobody changed it meanwhile.
		tag, err := q.Exec(ctx, `UPDATE ferry.destinations SET secrets = $2 WHERE id = $1 AND secrets = $3`, s.id, out, s.blob)
		if err != nil {
			return n, err
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}

// Retry is a destination's retry policy with its defaults filled in.
type Retry struct {
	MaxAttempts int
	Initial     time.Duration
	Max         time.Duration
}

// RetryOf fills in the defaults: 10 attempts, 30 s doubling to 30 min
// (about two hours in all).
func RetryOf(spec *ferryv1.DestinationSpec) Retry {
	r := Retry{MaxAttempts: 10, Initial: 30 * time.Second, Max: 30 * time.Minute}
	p := spec.GetRetry()
	if p.GetMaxAttempts() > 0 {
		r.MaxAttempts = int(p.GetMaxAttempts())
	}
	if p.GetInitialBackoffSeconds() > 0 {
		r.Initial = time.Duration(p.GetInitialBackoffSeconds()) * time.Second
	}
	if p.GetMaxBackoffSeconds() > 0 {
		r.Max = time.Duration(p.GetMaxBackoffSeconds()) * time.Second
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	return r
}
