package events

import (
	"fmt"
	"strings"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/mapping"
	libstore "github.com/ferrydata/ferry/libs/store"
)

// statement applies one event of one shape; it returns 1 when the event
// applied and 0 when the stored row is as new or newer.
type statement struct {
	sql string
	n   int // the number of field values
}

// args are the statement's parameters for an event: the field texts, then
// the batch's run id and sequence, the event's stream sequence as its row
// number, and its ordering key.
func (s *statement) args(b *batch, it *item) []any {
	out := make([]any, 0, s.n+4)
	for _, v := range it.values {
		if v == nil {
			out = append(out, nil)
		} else {
			out = append(out, *v)
		}
	}
	return append(out, b.runID, b.runSeq, int64(it.msg.StreamSeq), it.ev.Order)
}

// statement builds the SQL of an upsert or delete event that fills fields.
// Values travel as text and are cast in SQL, as COPY would read them.
//
// A newer event than the stored row always stores its version; the row's
// other system columns (and so incremental exports) change only when a
// value does, or the row comes back from deletion. A delete of a key that
// has no row leaves a deleted row with the version, so that an older upsert
// arriving later does not bring the key back.
func (b *batch) statement(op string, fields []string) *statement {
	types := map[string]string{}
	for _, f := range b.p.dataset.GetFields() {
		types[f.GetName()] = mapping.ColumnType(f.GetType())
	}
	isKey := map[string]bool{}
	var keys []string
	for _, k := range b.p.dataset.GetKey() {
		isKey[k] = true
		keys = append(keys, libstore.Ident(k))
	}
	n := len(fields)
	var cols, vals, old, nu, set []string
	for i, f := range fields {
		q := libstore.Ident(f)
		cols = append(cols, q)
		vals = append(vals, fmt.Sprintf("$%d::text::%s", i+1, types[f]))
		if isKey[f] || op == "delete" {
			continue
		}
		v := "EXCLUDED." + q
		if b.mapping(f).GetBlankKeepsExisting() {
			v = fmt.Sprintf("COALESCE(EXCLUDED.%s, t.%s)", q, q)
		}
		old, nu = append(old, "t."+q), append(nu, v)
		set = append(set, q+" = "+v)
	}
	run, seq, row, ver := fmt.Sprintf("$%d::uuid", n+1), fmt.Sprintf("$%d::bigint", n+2), fmt.Sprintf("$%d::bigint", n+3), fmt.Sprintf("$%d::bigint", n+4)
	// when: the write changes what readers see.
	when := "t._ferry_deleted_at IS NOT NULL"
	deleted := "NULL::timestamptz"
	if op == "delete" {
		when, deleted = "t._ferry_deleted_at IS NULL", "now()"
		set = append(set, "_ferry_deleted_at = COALESCE(t._ferry_deleted_at, now())")
	} else {
		if len(old) > 0 {
			when = fmt.Sprintf("(%s OR ROW(%s) IS DISTINCT FROM ROW(%s))", when, strings.Join(old, ", "), strings.Join(nu, ", "))
		}
		set = append(set, "_ferry_deleted_at = NULL")
	}
	for _, c := range []string{"_ferry_run", "_ferry_run_seq", "_ferry_row"} {
		set = append(set, fmt.Sprintf("%s = CASE WHEN %s THEN EXCLUDED.%s ELSE t.%s END", c, when, c, c))
	}
	set = append(set,
		fmt.Sprintf("_ferry_updated_at = CASE WHEN %s THEN now() ELSE t._ferry_updated_at END", when),
		fmt.Sprintf("_ferry_xid = CASE WHEN %s THEN pg_current_xact_id() ELSE t._ferry_xid END", when),
		"_ferry_version = EXCLUDED._ferry_version")
	sql := fmt.Sprintf(`WITH w AS (
	INSERT INTO %s AS t (%s, _ferry_run, _ferry_run_seq, _ferry_row, _ferry_version, _ferry_deleted_at)
	VALUES (%s, %s, %s, %s, %s, %s)
	ON CONFLICT (%s) DO UPDATE SET %s
	WHERE t._ferry_version IS NULL OR t._ferry_version < EXCLUDED._ferry_version
	RETURNING 1)
SELECT count(*) FROM w`,
		libstore.Ident(b.p.schema, b.dataset()), strings.Join(cols, ", "), strings.Join(vals, ", "), run, seq, row, ver, deleted,
		strings.Join(keys, ", "), strings.Join(set, ", "))
	return &statement{sql: sql, n: n}
}

// mapping returns the profile's mapping of a field, if any.
func (b *batch) mapping(field string) *ferryv1.FieldMapping {
	for _, m := range b.p.spec.GetMappings() {
		if m.GetField() == field {
			return m
		}
	}
	return nil
}
