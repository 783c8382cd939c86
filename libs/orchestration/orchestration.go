// Package orchestration is what the writers of datasets share with the
// triggers and the change feed: recording that a dataset changed, and
// writing the change feed's outbox, both inside the transaction that changes
// the rows, so that a rolled-back change leaves neither.
package orchestration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	libstore "github.com/ferrydata/ferry/libs/store"
)

// OutboxChannel is the PostgreSQL notification channel a transaction that
// wrote the outbox notifies (on commit), to wake the relay.
const OutboxChannel = "ferry_change_outbox"

// Ops of the change feed.
const (
	OpInsert = "insert"
	OpUpdate = "update"
	OpDelete = "delete"
)

// RecordChange records that the transaction changed rows of a dataset; the
// profile service's debouncer starts the export runs it triggers.
func RecordChange(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, dataset string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO ferry.dataset_changes (tenant_id, dataset) VALUES ($1, $2)`, tenantID, dataset); err != nil {
		return fmt.Errorf("record change of dataset %s: %w", dataset, err)
	}
	return nil
}

// Feed says whose changes are written to the outbox.
type Feed struct {
	TenantID uuid.UUID
	Dataset  string
	// RunID is the run that applies the changes (uuid.Nil when none);
	// Profile its profile.
	RunID   uuid.UUID
	Profile string
}

// Change is one changed row of the feed.
type Change struct {
	// Op is OpInsert, OpUpdate or OpDelete.
	Op string
	// Key holds the key fields as text.
	Key map[string]string
	// Fields are the row after the change, as text; empty for a delete.
	Fields map[string]string
}

func (f Feed) runID() any {
	if f.RunID == uuid.Nil {
		return nil
	}
	return f.RunID
}

// WriteChanges writes changes to the outbox in order.
func WriteChanges(ctx context.Context, tx pgx.Tx, f Feed, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, c := range changes {
		switch c.Op {
		case OpInsert, OpUpdate, OpDelete:
		default:
			return fmt.Errorf("change of dataset %s: op %q is not insert, update or delete", f.Dataset, c.Op)
		}
		key, err := json.Marshal(nonNil(c.Key))
		if err != nil {
			return err
		}
		fields, err := json.Marshal(nonNil(c.Fields))
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO ferry.change_outbox (tenant_id, tenant_name, dataset, op, key, fields, run_id, profile)
			SELECT id, name, $2, $3, $4, $5, $6, $7 FROM ferry.tenants WHERE id = $1`,
			f.TenantID, f.Dataset, c.Op, key, fields, f.runID(), f.Profile)
	}
	b.Queue(`SELECT pg_notify($1, '')`, OutboxChannel)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write changes of dataset %s to the outbox: %w", f.Dataset, err)
	}
	return nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// Table is a dataset's table as the change feed reads it.
type Table struct {
	// Schema and Name locate the table.
	Schema, Name string
	// Key names the key fields.
	Key []string
}

// WriteRunChanges writes to the outbox every row of t that run f.RunID
// changed in this transaction, ordered by key: a row created by the
// transaction is an insert, a row it soft-deleted a delete, any other row
// it wrote an update (a soft-deleted row written again included). It
// returns how many rows it wrote.
func WriteRunChanges(ctx context.Context, tx pgx.Tx, f Feed, t Table) (int64, error) {
	if len(t.Key) == 0 {
		return 0, fmt.Errorf("dataset %s has no key", f.Dataset)
	}
	keyPairs := make([]string, 0, len(t.Key))
	order := make([]string, 0, len(t.Key))
	for _, k := range t.Key {
		keyPairs = append(keyPairs, fmt.Sprintf("%s, t.%s::text", quoteLiteral(k), libstore.Ident(k)))
		order = append(order, "t."+libstore.Ident(k))
	}
	// The texts of the fields: the row as JSON without Ferry's columns,
	// each value as text, NULLs left out.
	fields := `(SELECT coalesce(jsonb_object_agg(e.key, e.value #>> '{}'), '{}') FROM jsonb_each(to_jsonb(t)) e
		WHERE e.key NOT LIKE '\_ferry\_%' AND e.value <> 'null'::jsonb)`
	sql := fmt.Sprintf(`INSERT INTO ferry.change_outbox (tenant_id, tenant_name, dataset, op, key, fields, run_id, profile)
		SELECT tn.id, tn.name, $2,
			CASE WHEN t._ferry_deleted_at IS NOT NULL THEN 'delete' WHEN t._ferry_created_xid = pg_current_xact_id() THEN 'insert' ELSE 'update' END,
			jsonb_build_object(%s),
			CASE WHEN t._ferry_deleted_at IS NOT NULL THEN '{}'::jsonb ELSE %s END,
			$3, $4
		FROM %s t, ferry.tenants tn
		WHERE tn.id = $1 AND t._ferry_run = $3 AND t._ferry_xid = pg_current_xact_id()
		ORDER BY %s`,
		strings.Join(keyPairs, ", "), fields, libstore.Ident(t.Schema, t.Name), strings.Join(order, ", "))
	tag, err := tx.Exec(ctx, sql, f.TenantID, f.Dataset, f.RunID, f.Profile)
	if err != nil {
		return 0, fmt.Errorf("write changes of dataset %s to the outbox: %w", f.Dataset, err)
	}
	if tag.RowsAffected() > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, OutboxChannel); err != nil {
			return 0, err
		}
	}
	return tag.RowsAffected(), nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
