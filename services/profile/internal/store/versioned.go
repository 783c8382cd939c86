package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
)

// versioned is a kind of named resource whose spec is kept in versions: a
// table of names and a table of versions (templates, export profiles).
type versioned struct {
	kind     string // in messages: "template"
	table    string // ferry.templates
	versions string // ferry.template_versions
	fk       string // the versions table's reference to table
	profiles bool   // a new version is announced on ProfilesChannel
}

var (
	templatesKind      = versioned{kind: "template", table: "ferry.templates", versions: "ferry.template_versions", fk: "template_id"}
	exportProfilesKind = versioned{kind: "export profile", table: "ferry.export_profiles", versions: "ferry.export_profile_versions", fk: "profile_id", profiles: true}
)

// ProfilesChannel is the PostgreSQL notification channel on which a
// transaction that creates a version of an import or export profile
// notifies, at its commit, whoever caches profiles (the scheduler).
const ProfilesChannel = "ferry_profiles"

// notifyProfiles announces, at commit, that a profile has a new version.
func notifyProfiles(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, ProfilesChannel)
	return err
}

// version is one stored version of a resource.
type version struct {
	ID        uuid.UUID
	Name      string
	Version   int64
	Spec      []byte // protojson
	Created   time.Time
	Updated   time.Time
	Watermark *string // export profiles only
}

func (v versioned) selectSQL() string {
	extra := "NULL::text"
	if v.table == exportProfilesKind.table {
		extra = "r.watermark"
	}
	return fmt.Sprintf(`SELECT r.id, r.name, s.version, s.spec, r.created_at, s.created_at, %s FROM %s r JOIN %s s ON s.%s = r.id`,
		extra, v.table, v.versions, v.fk)
}

func scanVersion(row pgx.Row) (version, error) {
	var out version
	err := row.Scan(&out.ID, &out.Name, &out.Version, &out.Spec, &out.Created, &out.Updated, &out.Watermark)
	return out, err
}

// get returns a version of a resource; 0 is the current one.
func (v versioned) get(ctx context.Context, q querier, p auth.Principal, name string, n int64) (version, error) {
	var row pgx.Row
	if n == 0 {
		row = q.QueryRow(ctx, v.selectSQL()+` AND s.version = r.current_version WHERE r.tenant_id = $1 AND r.name = $2`, p.TenantID, name)
	} else {
		row = q.QueryRow(ctx, v.selectSQL()+` WHERE r.tenant_id = $1 AND r.name = $2 AND s.version = $3`, p.TenantID, name, n)
	}
	out, err := scanVersion(row)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && n != 0:
		return out, errs.NotFound("%s %q version %d not found", v.kind, name, n)
	case errors.Is(err, pgx.ErrNoRows):
		return out, errs.NotFound("%s %q not found", v.kind, name)
	case err != nil:
		return out, fmt.Errorf("get %s %s: %w", v.kind, name, err)
	}
	return out, nil
}

// list returns the current version of every resource of the tenant by name.
func (v versioned) list(ctx context.Context, q *pgxpool.Pool, p auth.Principal) ([]version, error) {
	rows, err := q.Query(ctx, v.selectSQL()+` AND s.version = r.current_version WHERE r.tenant_id = $1 ORDER BY r.name`, p.TenantID)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", v.kind, err)
	}
	defer rows.Close()
	var out []version
	for rows.Next() {
		row, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// apply stores spec as the resource's first version, or as a new version
// when it differs from the current one (decoded into a message like spec).
func (v versioned) apply(ctx context.Context, pool *pgxpool.Pool, p auth.Principal, name string, spec proto.Message) (version, string, error) {
	specJSON, err := protojson.Marshal(spec)
	if err != nil {
		return version{}, "", err
	}
	var (
		out     version
		outcome string
	)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, p.TenantID.String()+"/"+v.table+"/"+name); err != nil {
			return err
		}
		cur, err := v.get(ctx, tx, p, name, 0)
		switch {
		case errs.Is(err, errs.KindNotFound):
			id := uuid.New()
			if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id, tenant_id, name, current_version) VALUES ($1, $2, $3, 1)`, v.table), id, p.TenantID, name); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (tenant_id, %s, version, spec) VALUES ($1, $2, 1, $3)`, v.versions, v.fk), p.TenantID, id, specJSON); err != nil {
				return err
			}
			outcome = "created"
		case err != nil:
			return err
		default:
			old := spec.ProtoReflect().New().Interface()
			if err := protojson.Unmarshal(cur.Spec, old); err != nil {
				return fmt.Errorf("decode %s %s: %w", v.kind, name, err)
			}
			if proto.Equal(old, spec) {
				out, outcome = cur, "unchanged"
				return nil
			}
			next := cur.Version + 1
			if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (tenant_id, %s, version, spec) VALUES ($1, $2, $3, $4)`, v.versions, v.fk), p.TenantID, cur.ID, next, specJSON); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET current_version = $2, updated_at = now() WHERE id = $1`, v.table), cur.ID, next); err != nil {
				return err
			}
			outcome = "updated"
		}
		// Created or updated (unchanged returned above).
		if v.profiles {
			if err := notifyProfiles(ctx, tx); err != nil {
				return err
			}
		}
		out, err = v.get(ctx, tx, p, name, 0)
		return err
	})
	if err != nil {
		return version{}, "", fmt.Errorf("apply %s %s: %w", v.kind, name, err)
	}
	return out, outcome, nil
}
