package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// HashShareToken is what ferry.share_links stores of a token.
func HashShareToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// InsertShareLink makes a new random token for a link to a run's file
// (run set) or to a profile's latest file (profile set), valid for ttl,
// stores its hash and returns the token, which is never stored.
func InsertShareLink(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, tenant uuid.UUID, run, profile *uuid.UUID, output string, ttl time.Duration) (string, time.Time, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, err
	}
	token := "fys_" + base64.RawURLEncoding.EncodeToString(raw)
	var expires time.Time
	err := q.QueryRow(ctx, `INSERT INTO ferry.share_links (token_hash, tenant_id, run_id, export_profile_id, output, expires_at)
		VALUES ($1, $2, $3, $4, $5, now() + $6::interval) RETURNING expires_at`,
		HashShareToken(token), tenant, run, profile, output, fmt.Sprintf("%d seconds", int64(ttl.Seconds()))).Scan(&expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("create share link: %w", err)
	}
	return token, expires, nil
}
