// Package auth holds tenants and API keys: key generation, hashed storage,
// verification, the bootstrap of the default tenant, and the principal that
// travels in a request's context.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ferrydata/ferry/libs/errs"
)

// DefaultTenant is the tenant created on first start.
const DefaultTenant = "default"

// keyPrefix marks Ferry secrets so that secret scanners can find leaked ones.
const keyPrefix = "fy_"

// Principal is who a call is made by: a key of one tenant.
type Principal struct {
	TenantID   uuid.UUID
	TenantName string
	// Schema is the tenant's PostgreSQL schema for dataset tables.
	Schema  string
	KeyID   uuid.UUID
	KeyName string
	Admin   bool
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal of the call. Handlers behind the auth
// interceptor always have one; the error is for code paths that are not.
func FromContext(ctx context.Context) (Principal, error) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	if !ok {
		return Principal{}, errs.Unauthenticated("no credential")
	}
	return p, nil
}

var tenantName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// ValidTenantName checks a tenant name: lowercase letters, digits and
// underscores, starting with a letter, at most 40 characters.
func ValidTenantName(name string) error {
	if !tenantName.MatchString(name) {
		return errs.Invalid("tenant name %q: want lowercase letters, digits and underscores, starting with a letter, at most 40 characters", name)
	}
	return nil
}

// SchemaFor returns the PostgreSQL schema of a tenant's dataset tables.
func SchemaFor(tenant string) string { return "tenant_" + tenant }

// NewSecret returns a new random API key secret.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Store keeps tenants and keys in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Verify returns the principal of a bearer secret.
func (s *Store) Verify(ctx context.Context, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, keyPrefix) {
		return Principal{}, errs.Unauthenticated("invalid API key")
	}
	var p Principal
	err := s.pool.QueryRow(ctx, `
		SELECT t.id, t.name, t.schema_name, k.id, k.name, k.admin
		FROM ferry.api_keys k JOIN ferry.tenants t ON t.id = k.tenant_id
		WHERE k.secret_hash = $1 AND k.revoked_at IS NULL`, hashSecret(secret)).
		Scan(&p.TenantID, &p.TenantName, &p.Schema, &p.KeyID, &p.KeyName, &p.Admin)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, errs.Unauthenticated("invalid API key")
	}
	if err != nil {
		return Principal{}, errs.Unavailable(err, "verify API key")
	}
	return p, nil
}

// Tenant is a stored tenant.
type Tenant struct {
	ID     uuid.UUID
	Name   string
	Schema string
}

// Key is a stored key, without its secret.
type Key struct {
	ID    uuid.UUID
	Name  string
	Admin bool
}

// CreateTenant creates a tenant with its schema and a first admin key, and
// returns the key's secret. The tenant's schema exists when it returns.
func (s *Store) CreateTenant(ctx context.Context, name string) (Tenant, Key, string, error) {
	if err := ValidTenantName(name); err != nil {
		return Tenant{}, Key{}, "", err
	}
	return s.createTenant(ctx, name, "")
}

func (s *Store) createTenant(ctx context.Context, name, secret string) (Tenant, Key, string, error) {
	t := Tenant{ID: uuid.New(), Name: name, Schema: SchemaFor(name)}
	k := Key{ID: uuid.New(), Name: "admin", Admin: true}
	if secret == "" {
		secret = NewSecret()
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO ferry.tenants (id, name, schema_name) VALUES ($1, $2, $3)`,
			t.ID, t.Name, t.Schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{t.Schema}.Sanitize()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO ferry.api_keys (id, tenant_id, name, admin, secret_hash) VALUES ($1, $2, $3, $4, $5)`,
			k.ID, t.ID, k.Name, k.Admin, hashSecret(secret))
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Tenant{}, Key{}, "", errs.Conflict("tenant %q already exists", name)
	}
	if err != nil {
		return Tenant{}, Key{}, "", fmt.Errorf("create tenant %s: %w", name, err)
	}
	return t, k, secret, nil
}

// CreateKey creates a further key of a tenant and returns its secret.
func (s *Store) CreateKey(ctx context.Context, tenantID uuid.UUID, name string, admin bool) (Key, string, error) {
	if strings.TrimSpace(name) == "" {
		return Key{}, "", errs.Invalid("key name is empty")
	}
	k := Key{ID: uuid.New(), Name: name, Admin: admin}
	secret := NewSecret()
	_, err := s.pool.Exec(ctx, `INSERT INTO ferry.api_keys (id, tenant_id, name, admin, secret_hash) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, tenantID, k.Name, k.Admin, hashSecret(secret))
	if err != nil {
		return Key{}, "", fmt.Errorf("create key %s: %w", name, err)
	}
	return k, secret, nil
}

// Bootstrap creates the default tenant and its admin key when no tenant exists
// yet. It returns the secret when it created one and "" otherwise. When secret
// is given (FERRY_BOOTSTRAP_KEY) it becomes the admin key instead of a random one.
// Replicas starting together serialise on an advisory lock.
func (s *Store) Bootstrap(ctx context.Context, secret string) (string, error) {
	if secret != "" && (!strings.HasPrefix(secret, keyPrefix) || len(secret) < len(keyPrefix)+24) {
		return "", errs.Invalid("bootstrap key must start with %q and have at least 24 more characters", keyPrefix)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	defer conn.Release()
	const lock = 7_461_000_001
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lock); err != nil {
		return "", fmt.Errorf("bootstrap lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lock) //nolint:errcheck
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM ferry.tenants`).Scan(&n); err != nil {
		return "", fmt.Errorf("bootstrap: count tenants: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	_, _, secret, err = s.createTenant(ctx, DefaultTenant, secret)
	return secret, err
}

// CreateKeyFor creates a further key of the principal's tenant.
func (s *Store) CreateKeyFor(ctx context.Context, p Principal, name string, admin bool) (Key, string, error) {
	return s.CreateKey(ctx, p.TenantID, name, admin)
}
