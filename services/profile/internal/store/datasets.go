// Package store keeps the control plane in PostgreSQL: datasets and their
// tables, import profiles and their versions, and runs. Every query is scoped
// by the caller's tenant.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/mapping"
	libstore "github.com/ferrydata/ferry/libs/store"
	"github.com/ferrydata/ferry/services/profile/internal/catalog"
)

// Store is the control plane's repository.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// definition is what is stored of a dataset besides its name and version.
func definition(d *ferryv1.Dataset) ([]byte, error) {
	return protojson.Marshal(&ferryv1.Dataset{Fields: d.GetFields(), Key: d.GetKey(), References: d.GetReferences()})
}

const datasetCols = `name, version, definition, table_name, created_at, updated_at`

func scanDataset(row pgx.Row) (*ferryv1.Dataset, error) {
	var (
		d        ferryv1.Dataset
		def      []byte
		table    string
		cre, upd time.Time
	)
	if err := row.Scan(&d.Name, &d.Version, &def, &table, &cre, &upd); err != nil {
		return nil, err
	}
	var stored ferryv1.Dataset
	if err := protojson.Unmarshal(def, &stored); err != nil {
		return nil, fmt.Errorf("decode dataset %s: %w", d.Name, err)
	}
	d.Fields, d.Key, d.References, d.Table = stored.Fields, stored.Key, stored.References, table
	d.CreateTime, d.UpdateTime = timestamppb.New(cre), timestamppb.New(upd)
	return &d, nil
}

// GetDataset returns a dataset of the caller's tenant.
func (s *Store) GetDataset(ctx context.Context, p auth.Principal, name string) (*ferryv1.Dataset, error) {
	return getDataset(ctx, s.pool, p, name, false)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getDataset(ctx context.Context, q querier, p auth.Principal, name string, lock bool) (*ferryv1.Dataset, error) {
	sql := `SELECT ` + datasetCols + ` FROM ferry.datasets WHERE tenant_id = $1 AND name = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	d, err := scanDataset(q.QueryRow(ctx, sql, p.TenantID, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.NotFound("dataset %q not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get dataset %s: %w", name, err)
	}
	return d, nil
}

// ListDatasets lists the tenant's datasets by name.
func (s *Store) ListDatasets(ctx context.Context, p auth.Principal) ([]*ferryv1.Dataset, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+datasetCols+` FROM ferry.datasets WHERE tenant_id = $1 ORDER BY name`, p.TenantID)
	if err != nil {
		return nil, fmt.Errorf("list datasets: %w", err)
	}
	defer rows.Close()
	var out []*ferryv1.Dataset
	for rows.Next() {
		d, err := scanDataset(rows)
		if err != nil {
			return nil, fmt.Errorf("list datasets: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// CreateDataset creates a dataset and its table; AlreadyExists when the name is taken.
func (s *Store) CreateDataset(ctx context.Context, p auth.Principal, want *ferryv1.Dataset) (*ferryv1.Dataset, error) {
	if err := catalog.ValidateDataset(want); err != nil {
		return nil, err
	}
	var out *ferryv1.Dataset
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = createDataset(ctx, tx, p, want)
		return err
	})
	if isUnique(err) {
		return nil, errs.Conflict("dataset %q already exists", want.GetName())
	}
	return out, err
}

// checkReferences checks a dataset's references against the datasets they name.
func checkReferences(ctx context.Context, tx pgx.Tx, p auth.Principal, want *ferryv1.Dataset) error {
	for _, r := range want.GetReferences() {
		target := want
		if r.GetDataset() != want.GetName() {
			var err error
			if target, err = getDataset(ctx, tx, p, r.GetDataset(), false); errs.Is(err, errs.KindNotFound) {
				return errs.Invalid("dataset %q references dataset %q, which does not exist", want.GetName(), r.GetDataset())
			} else if err != nil {
				return err
			}
		}
		if err := catalog.ValidateReference(want, r, target); err != nil {
			return err
		}
	}
	return nil
}

func createDataset(ctx context.Context, tx pgx.Tx, p auth.Principal, want *ferryv1.Dataset) (*ferryv1.Dataset, error) {
	if err := checkReferences(ctx, tx, p, want); err != nil {
		return nil, err
	}
	def, err := definition(want)
	if err != nil {
		return nil, err
	}
	table := p.Schema + "." + want.GetName()
	if _, err := tx.Exec(ctx, `INSERT INTO ferry.datasets (id, tenant_id, name, version, definition, table_name) VALUES ($1, $2, $3, 1, $4, $5)`,
		uuid.New(), p.TenantID, want.GetName(), def, table); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, createTableSQL(p.Schema, want)); err != nil {
		return nil, fmt.Errorf("create table %s: %w", table, err)
	}
	return getDataset(ctx, tx, p, want.GetName(), false)
}

// createTableSQL is the DDL of a dataset's table. Names were validated, and
// are quoted all the same.
func createTableSQL(schema string, d *ferryv1.Dataset) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n", libstore.Ident(schema, d.GetName()))
	inKey := map[string]bool{}
	for _, k := range d.GetKey() {
		inKey[k] = true
	}
	for _, f := range d.GetFields() {
		fmt.Fprintf(&b, "  %s %s", libstore.Ident(f.GetName()), mapping.ColumnType(f.GetType()))
		if inKey[f.GetName()] {
			b.WriteString(" NOT NULL")
		}
		b.WriteString(",\n")
	}
	b.WriteString(`  _ferry_created_at timestamptz NOT NULL DEFAULT now(),
  _ferry_updated_at timestamptz NOT NULL DEFAULT now(),
  _ferry_run uuid NOT NULL,
  _ferry_run_seq bigint NOT NULL,
  _ferry_row bigint NOT NULL,
  _ferry_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  _ferry_deleted_at timestamptz,
  _ferry_created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  _ferry_version bigint,
`)
	keys := make([]string, len(d.GetKey()))
	for i, k := range d.GetKey() {
		keys[i] = libstore.Ident(k)
	}
	fmt.Fprintf(&b, "  PRIMARY KEY (%s)\n)", strings.Join(keys, ", "))
	return b.String()
}

// ApplyDataset creates the dataset or brings it to the wanted definition.
func (s *Store) ApplyDataset(ctx context.Context, p auth.Principal, want *ferryv1.Dataset) (*ferryv1.Dataset, string, error) {
	if err := catalog.ValidateDataset(want); err != nil {
		return nil, "", err
	}
	var (
		out     *ferryv1.Dataset
		outcome string
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialise appliers of the same name so that two creating at once
		// do not race on the table.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, p.TenantID.String()+"/dataset/"+want.GetName()); err != nil {
			return err
		}
		stored, err := getDataset(ctx, tx, p, want.GetName(), true)
		if errs.Is(err, errs.KindNotFound) {
			out, err = createDataset(ctx, tx, p, want)
			outcome = "created"
			return err
		}
		if err != nil {
			return err
		}
		change, err := catalog.DiffDataset(stored, want)
		if err != nil {
			return err
		}
		if !change.Changed {
			out, outcome = stored, "unchanged"
			return nil
		}
		out, err = alterDataset(ctx, tx, p, stored, want, change)
		outcome = "updated"
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, outcome, nil
}

// AddFields adds nullable fields to a dataset.
func (s *Store) AddFields(ctx context.Context, p auth.Principal, name string, fields []*ferryv1.Field) (*ferryv1.Dataset, error) {
	if len(fields) == 0 {
		return nil, errs.Invalid("no fields to add")
	}
	var out *ferryv1.Dataset
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		stored, err := getDataset(ctx, tx, p, name, true)
		if err != nil {
			return err
		}
		want := &ferryv1.Dataset{Name: name, Key: stored.Key, References: stored.References,
			Fields: append(append([]*ferryv1.Field{}, stored.Fields...), fields...)}
		if err := catalog.ValidateDataset(want); err != nil {
			return err
		}
		change, err := catalog.DiffDataset(stored, want)
		if err != nil {
			return err
		}
		out, err = alterDataset(ctx, tx, p, stored, want, change)
		return err
	})
	return out, err
}

func alterDataset(ctx context.Context, tx pgx.Tx, p auth.Principal, stored, want *ferryv1.Dataset, c catalog.DatasetChange) (*ferryv1.Dataset, error) {
	if err := checkReferences(ctx, tx, p, want); err != nil {
		return nil, err
	}
	for _, f := range c.Added {
		sql := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", libstore.Ident(p.Schema, stored.GetName()), libstore.Ident(f.GetName()), mapping.ColumnType(f.GetType()))
		if _, err := tx.Exec(ctx, sql); err != nil {
			return nil, fmt.Errorf("add field %s to %s: %w", f.GetName(), stored.GetName(), err)
		}
	}
	def, err := definition(want)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE ferry.datasets SET definition = $3, version = version + 1, updated_at = now() WHERE tenant_id = $1 AND name = $2`,
		p.TenantID, stored.GetName(), def); err != nil {
		return nil, fmt.Errorf("update dataset %s: %w", stored.GetName(), err)
	}
	return getDataset(ctx, tx, p, stored.GetName(), false)
}
