package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/services/profile/internal/catalog"
)

const profileSelect = `SELECT p.id, p.name, v.version, v.spec, p.created_at, v.created_at,
	coalesce(c.applied, 0), coalesce(c.rejected, 0), coalesce(c.ignored, 0)
	FROM ferry.import_profiles p LEFT JOIN ferry.event_import_counts c ON c.profile_id = p.id JOIN ferry.import_profile_versions v ON v.profile_id = p.id`

func scanProfile(row pgx.Row) (uuid.UUID, *ferryv1.ImportProfile, error) {
	var (
		id       uuid.UUID
		p        ferryv1.ImportProfile
		spec     []byte
		cre, upd time.Time
	)
	if err := row.Scan(&id, &p.Name, &p.Version, &spec, &cre, &upd, &p.EventsApplied, &p.EventsRejected, &p.EventsIgnored); err != nil {
		return id, nil, err
	}
	p.Spec = &ferryv1.ImportProfileSpec{}
	if err := protojson.Unmarshal(spec, p.Spec); err != nil {
		return id, nil, fmt.Errorf("decode profile %s: %w", p.Name, err)
	}
	p.CreateTime, p.UpdateTime = timestamppb.New(cre), timestamppb.New(upd)
	p.NextFireTimes = nextFireTimes(p.Spec.GetStatus(), p.Spec.GetTriggers())
	return id, &p, nil
}

// GetProfile returns a version of a profile; version 0 is the current one.
func (s *Store) GetProfile(ctx context.Context, p auth.Principal, name string, version int64) (*ferryv1.ImportProfile, error) {
	_, prof, err := getProfile(ctx, s.pool, p, name, version)
	return prof, err
}

func getProfile(ctx context.Context, q querier, p auth.Principal, name string, version int64) (uuid.UUID, *ferryv1.ImportProfile, error) {
	var row pgx.Row
	if version == 0 {
		row = q.QueryRow(ctx, profileSelect+` AND v.version = p.current_version WHERE p.tenant_id = $1 AND p.name = $2`, p.TenantID, name)
	} else {
		row = q.QueryRow(ctx, profileSelect+` WHERE p.tenant_id = $1 AND p.name = $2 AND v.version = $3`, p.TenantID, name, version)
	}
	id, prof, err := scanProfile(row)
	if errors.Is(err, pgx.ErrNoRows) {
		if version != 0 {
			return id, nil, errs.NotFound("import profile %q version %d not found", name, version)
		}
		return id, nil, errs.NotFound("import profile %q not found", name)
	}
	if err != nil {
		return id, nil, fmt.Errorf("get import profile %s: %w", name, err)
	}
	return id, prof, nil
}

// ListProfiles lists the current version of the tenant's profiles by name.
func (s *Store) ListProfiles(ctx context.Context, p auth.Principal) ([]*ferryv1.ImportProfile, error) {
	rows, err := s.pool.Query(ctx, profileSelect+` AND v.version = p.current_version WHERE p.tenant_id = $1 ORDER BY p.name`, p.TenantID)
	if err != nil {
		return nil, fmt.Errorf("list import profiles: %w", err)
	}
	defer rows.Close()
	var out []*ferryv1.ImportProfile
	for rows.Next() {
		_, prof, err := scanProfile(rows)
		if err != nil {
			return nil, fmt.Errorf("list import profiles: %w", err)
		}
		out = append(out, prof)
	}
	return out, rows.Err()
}

// validateProfile checks a spec against its dataset and the tenant's
// cross-reference tables and returns it with defaults filled in.
func (s *Store) validateProfile(ctx context.Context, p auth.Principal, name string, spec *ferryv1.ImportProfileSpec) (*ferryv1.ImportProfileSpec, error) {
	ds, err := s.GetDataset(ctx, p, spec.GetDataset())
	if errs.Is(err, errs.KindNotFound) {
		return nil, errs.Invalid("import profile %q: dataset %q not found", name, spec.GetDataset())
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT name FROM ferry.cross_references WHERE tenant_id = $1`, p.TenantID)
	if err != nil {
		return nil, fmt.Errorf("list cross-reference tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list cross-reference tables: %w", err)
	}
	if tables == nil {
		tables = []string{}
	}
	spec, err = catalog.ValidateProfile(name, spec, ds, tables)
	if err != nil {
		return nil, err
	}
	if err := s.checkEvents(ctx, p, name, spec); err != nil {
		return nil, err
	}
	if err := s.checkSFTPSource(ctx, p, name, spec); err != nil {
		return nil, err
	}
	return spec, nil
}

// ValidateProfile checks a spec as ApplyProfile does and says what applying
// it would do, without saving it.
func (s *Store) ValidateProfile(ctx context.Context, p auth.Principal, name string, spec *ferryv1.ImportProfileSpec) (string, error) {
	spec, err := s.validateProfile(ctx, p, name, spec)
	if err != nil {
		return "", err
	}
	_, cur, err := getProfile(ctx, s.pool, p, name, 0)
	switch {
	case errs.Is(err, errs.KindNotFound):
		return "created", nil
	case err != nil:
		return "", err
	case proto.Equal(cur.GetSpec(), spec):
		return "unchanged", nil
	}
	return "updated", nil
}

// ListProfileVersions lists every version of a profile, newest first.
func (s *Store) ListProfileVersions(ctx context.Context, p auth.Principal, name string) ([]*ferryv1.ImportProfile, error) {
	_, cur, err := getProfile(ctx, s.pool, p, name, 0)
	if err != nil {
		return nil, err
	}
	out := []*ferryv1.ImportProfile{cur}
	for v := cur.GetVersion() - 1; v >= 1; v-- {
		_, old, err := getProfile(ctx, s.pool, p, name, v)
		if err != nil {
			return nil, err
		}
		out = append(out, old)
	}
	return out, nil
}

// ApplyProfile stores spec as the profile's new version when it differs
// from the current one.
func (s *Store) ApplyProfile(ctx context.Context, p auth.Principal, name string, spec *ferryv1.ImportProfileSpec) (*ferryv1.ImportProfile, string, error) {
	spec, err := s.validateProfile(ctx, p, name, spec)
	if err != nil {
		return nil, "", err
	}
	unlock, err := s.checkTriggerCycle(ctx, p, ferryv1.RunKind_RUN_KIND_IMPORT, name, spec.GetTriggers().GetAfter())
	if err != nil {
		return nil, "", err
	}
	defer unlock()
	specJSON, err := protojson.Marshal(spec)
	if err != nil {
		return nil, "", err
	}
	var (
		out     *ferryv1.ImportProfile
		outcome string
	)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, p.TenantID.String()+"/profile/"+name); err != nil {
			return err
		}
		id, cur, err := getProfile(ctx, tx, p, name, 0)
		switch {
		case errs.Is(err, errs.KindNotFound):
			id = uuid.New()
			if _, err := tx.Exec(ctx, `INSERT INTO ferry.import_profiles (id, tenant_id, name, current_version) VALUES ($1, $2, $3, 1)`, id, p.TenantID, name); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO ferry.import_profile_versions (tenant_id, profile_id, version, spec) VALUES ($1, $2, 1, $3)`, p.TenantID, id, specJSON); err != nil {
				return err
			}
			outcome = "created"
		case err != nil:
			return err
		case proto.Equal(cur.GetSpec(), spec):
			out, outcome = cur, "unchanged"
			return nil
		default:
			next := cur.GetVersion() + 1
			if _, err := tx.Exec(ctx, `INSERT INTO ferry.import_profile_versions (tenant_id, profile_id, version, spec) VALUES ($1, $2, $3, $4)`, p.TenantID, id, next, specJSON); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE ferry.import_profiles SET current_version = $2, updated_at = now() WHERE id = $1`, id, next); err != nil {
				return err
			}
			outcome = "updated"
		}
		// Created or updated (unchanged returned above).
		if err := notifyProfiles(ctx, tx); err != nil {
			return err
		}
		_, out, err = getProfile(ctx, tx, p, name, 0)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("apply import profile %s: %w", name, err)
	}
	return out, outcome, nil
}
