package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/xref"
)

// Limits of the cross-reference API besides those of libs/xref.
const (
	// MaxLookupValues is the most values one lookup may translate.
	MaxLookupValues = 10_000
	// MaxFetchPage is the most entries one fetch page holds.
	MaxFetchPage = xref.PageSize
)

// XRefs keeps cross-reference tables. Every method is scoped by tenant.
type XRefs struct {
	pool *pgxpool.Pool
}

// NewXRefs returns the cross-reference repository on pool.
func NewXRefs(pool *pgxpool.Pool) *XRefs { return &XRefs{pool: pool} }

// EntryCounts says what a write did to a table's entries.
type EntryCounts struct {
	Added, Changed, Removed int64
}

func (c EntryCounts) changed() bool { return c.Added+c.Changed+c.Removed > 0 }

// xrefHead is a table's row without its entries.
type xrefHead struct {
	id uuid.UUID
	x  *ferryv1.CrossReference
}

const xrefCols = `x.id, x.name, x.case_insensitive, x.version, x.created_at, x.updated_at`

func scanXRef(row pgx.Row, extra ...any) (xrefHead, error) {
	var (
		h        xrefHead
		x        ferryv1.CrossReference
		cre, upd time.Time
	)
	if err := row.Scan(append([]any{&h.id, &x.Name, &x.CaseInsensitive, &x.Version, &cre, &upd}, extra...)...); err != nil {
		return h, err
	}
	x.CreateTime, x.UpdateTime = timestamppb.New(cre), timestamppb.New(upd)
	h.x = &x
	return h, nil
}

// head reads a table's row, locking it for the transaction when lock is set.
func head(ctx context.Context, q querier, tenant uuid.UUID, name string, lock bool) (xrefHead, error) {
	sql := `SELECT ` + xrefCols + ` FROM ferry.cross_references x WHERE x.tenant_id = $1 AND x.name = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	h, err := scanXRef(q.QueryRow(ctx, sql, tenant, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return h, errs.NotFound("cross-reference %q not found", name)
	}
	if err != nil {
		return h, fmt.Errorf("get cross-reference %s: %w", name, err)
	}
	return h, nil
}

// withCount sets the table's entry count and returns it.
func withCount(ctx context.Context, q querier, h xrefHead) (*ferryv1.CrossReference, error) {
	if err := q.QueryRow(ctx, `SELECT count(*) FROM ferry.cross_reference_entries WHERE xref_id = $1`, h.id).Scan(&h.x.EntryCount); err != nil {
		return nil, fmt.Errorf("count entries of cross-reference %s: %w", h.x.GetName(), err)
	}
	return h.x, nil
}

// readTx runs f in a read-only snapshot, so that a table's row and its
// entries are of one version.
func (s *XRefs) readTx(ctx context.Context, f func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, f)
}

// Get returns a table with its entries in byte order of their external values.
func (s *XRefs) Get(ctx context.Context, p auth.Principal, name string) (*ferryv1.CrossReference, error) {
	var out *ferryv1.CrossReference
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		h, err := head(ctx, tx, p.TenantID, name, false)
		if err != nil {
			return err
		}
		h.x.Entries, err = entries(ctx, tx, h.id, "", 0)
		h.x.EntryCount = int64(len(h.x.Entries))
		out = h.x
		return err
	})
	return out, err
}

// entries reads a table's entries after an external value, at most limit
// of them (0: all).
func entries(ctx context.Context, tx pgx.Tx, id uuid.UUID, after string, limit int) ([]*ferryv1.CrossReferenceEntry, error) {
	sql := `SELECT external, internal, is_primary FROM ferry.cross_reference_entries
		WHERE xref_id = $1 AND external COLLATE "C" > $2 ORDER BY external COLLATE "C"`
	args := []any{id, after}
	if limit > 0 {
		sql += ` LIMIT $3`
		args = append(args, limit)
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read cross-reference entries: %w", err)
	}
	var out []*ferryv1.CrossReferenceEntry
	var e ferryv1.CrossReferenceEntry
	_, err = pgx.ForEachRow(rows, []any{&e.External, &e.Internal, &e.Primary}, func() error {
		out = append(out, &ferryv1.CrossReferenceEntry{External: e.External, Internal: e.Internal, Primary: e.Primary})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read cross-reference entries: %w", err)
	}
	return out, nil
}

// List lists the tenant's tables by name with their entry counts, without entries.
func (s *XRefs) List(ctx context.Context, p auth.Principal) ([]*ferryv1.CrossReference, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+xrefCols+`, (SELECT count(*) FROM ferry.cross_reference_entries e WHERE e.xref_id = x.id)
		FROM ferry.cross_references x WHERE x.tenant_id = $1 ORDER BY x.name`, p.TenantID)
	if err != nil {
		return nil, fmt.Errorf("list cross-references: %w", err)
	}
	defer rows.Close()
	var out []*ferryv1.CrossReference
	for rows.Next() {
		var n int64
		h, err := scanXRef(rows, &n)
		if err != nil {
			return nil, fmt.Errorf("list cross-references: %w", err)
		}
		h.x.EntryCount = n
		out = append(out, h.x)
	}
	return out, rows.Err()
}

// Apply creates a table or brings it to want: its settings and, unless
// keepEntries, exactly its entries. The outcome is "created", "updated" or
// "unchanged"; the version increases when anything changed. The table is
// returned without entries.
func (s *XRefs) Apply(ctx context.Context, p auth.Principal, want *ferryv1.CrossReference, keepEntries bool) (*ferryv1.CrossReference, string, error) {
	name, ci := want.GetName(), want.GetCaseInsensitive()
	if err := xref.CheckName(name); err != nil {
		return nil, "", err
	}
	if keepEntries && len(want.GetEntries()) > 0 {
		return nil, "", errs.Invalid("cross-reference %q: entries are given and keep_entries is set; give one or the other", name)
	}
	if err := checkRequest(name, ci, want.GetEntries()); err != nil {
		return nil, "", err
	}
	var (
		out     *ferryv1.CrossReference
		outcome string
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialise appliers of one name, so that two creating it at once
		// do not both insert.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, p.TenantID.String()+"/xref/"+name); err != nil {
			return err
		}
		h, err := head(ctx, tx, p.TenantID, name, true)
		switch {
		case errs.Is(err, errs.KindNotFound):
			h.id = uuid.New()
			if _, err := tx.Exec(ctx, `INSERT INTO ferry.cross_references (id, tenant_id, name, case_insensitive, version) VALUES ($1, $2, $3, $4, 1)`,
				h.id, p.TenantID, name, ci); err != nil {
				return err
			}
			if _, err := merge(ctx, tx, p.TenantID, h.id, name, ci, want.GetEntries(), true); err != nil {
				return err
			}
			outcome = "created"
		case err != nil:
			return err
		default:
			settings := h.x.GetCaseInsensitive() != ci
			list := want.GetEntries()
			if keepEntries && settings {
				// The stored values are compared anew: their match keys change,
				// and two of them may now be one value.
				if list, err = entries(ctx, tx, h.id, "", 0); err != nil {
					return err
				}
				if err := xref.CheckEntries(name, ci, list); err != nil {
					return fmt.Errorf("%w; the table stays case-%s", err, sensitivity(!ci))
				}
			}
			var counts EntryCounts
			if !keepEntries || settings {
				if counts, err = merge(ctx, tx, p.TenantID, h.id, name, ci, list, true); err != nil {
					return err
				}
			}
			if !settings && !counts.changed() {
				outcome = "unchanged"
				out, err = withCount(ctx, tx, h)
				return err
			}
			if err := bump(ctx, tx, h.id, ci); err != nil {
				return err
			}
			outcome = "updated"
		}
		h, err = head(ctx, tx, p.TenantID, name, false)
		if err != nil {
			return err
		}
		out, err = withCount(ctx, tx, h)
		return err
	})
	if err != nil {
		return nil, "", wrap(err, "apply cross-reference %s", name)
	}
	return out, outcome, nil
}

// wrap says what was being done around an error of unknown kind. Errors
// with a kind already say it in words the caller understands.
func wrap(err error, format string, args ...any) error {
	if errs.KindOf(err) != errs.KindUnknown {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

func sensitivity(ci bool) string {
	if ci {
		return "insensitive"
	}
	return "sensitive"
}

// checkRequest checks the entries one request writes.
func checkRequest(name string, ci bool, list []*ferryv1.CrossReferenceEntry) error {
	if len(list) > xref.MaxEntriesPerRequest {
		return errs.Invalid("cross-reference %q: %d entries in one request; at most %d are allowed", name, len(list), xref.MaxEntriesPerRequest)
	}
	return xref.CheckEntries(name, ci, list)
}

// bump records a change of a table: its settings and a new version.
func bump(ctx context.Context, tx pgx.Tx, id uuid.UUID, ci bool) error {
	_, err := tx.Exec(ctx, `UPDATE ferry.cross_references SET case_insensitive = $2, version = version + 1, updated_at = now() WHERE id = $1`, id, ci)
	return err
}

// PutEntries adds entries to a table and changes those whose external value
// matches a stored one; with replace, every other entry is removed. It
// returns the table without entries and what changed.
func (s *XRefs) PutEntries(ctx context.Context, p auth.Principal, name string, list []*ferryv1.CrossReferenceEntry, replace bool) (*ferryv1.CrossReference, EntryCounts, error) {
	var (
		out    *ferryv1.CrossReference
		counts EntryCounts
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		h, err := head(ctx, tx, p.TenantID, name, true)
		if err != nil {
			return err
		}
		ci := h.x.GetCaseInsensitive()
		if err := checkRequest(name, ci, list); err != nil {
			return err
		}
		if counts, err = merge(ctx, tx, p.TenantID, h.id, name, ci, list, replace); err != nil {
			return err
		}
		if counts.changed() {
			if err := bump(ctx, tx, h.id, ci); err != nil {
				return err
			}
			if h, err = head(ctx, tx, p.TenantID, name, false); err != nil {
				return err
			}
		}
		out, err = withCount(ctx, tx, h)
		return err
	})
	if err != nil {
		return nil, EntryCounts{}, wrap(err, "put entries of cross-reference %s", name)
	}
	return out, counts, nil
}

// merge brings a table's entries to list (replace) or adds list to them: the
// entries are copied into a temporary table and merged with three statements,
// so that a load of 100 000 entries is a few round trips. list was checked.
func merge(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, name string, ci bool, list []*ferryv1.CrossReferenceEntry, replace bool) (EntryCounts, error) {
	var c EntryCounts
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE xref_load (external text NOT NULL, match_key text NOT NULL PRIMARY KEY,
		internal text NOT NULL, is_primary boolean NOT NULL) ON COMMIT DROP`); err != nil {
		return c, fmt.Errorf("create load table: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"xref_load"}, []string{"external", "match_key", "internal", "is_primary"},
		pgx.CopyFromSlice(len(list), func(i int) ([]any, error) {
			e := list[i]
			return []any{e.GetExternal(), xref.MatchKey(ci, e.GetExternal()), e.GetInternal(), e.GetPrimary()}, nil
		})); err != nil {
		return c, fmt.Errorf("copy entries: %w", err)
	}
	if _, err := tx.Exec(ctx, `ANALYZE xref_load`); err != nil {
		return c, err
	}
	if !replace {
		if err := checkPrimaries(ctx, tx, id, name); err != nil {
			return c, err
		}
	}
	steps := []struct {
		n    *int64
		skip bool
		sql  string
		args []any
	}{
		{&c.Removed, !replace, `DELETE FROM ferry.cross_reference_entries e WHERE e.xref_id = $1
			AND NOT EXISTS (SELECT 1 FROM xref_load l WHERE l.match_key = e.match_key)`, []any{id}},
		{&c.Changed, false, `UPDATE ferry.cross_reference_entries e SET external = l.external, internal = l.internal, is_primary = l.is_primary
			FROM xref_load l WHERE e.xref_id = $1 AND e.match_key = l.match_key
			AND (e.external, e.internal, e.is_primary) IS DISTINCT FROM (l.external, l.internal, l.is_primary)`, []any{id}},
		{&c.Added, false, `INSERT INTO ferry.cross_reference_entries (xref_id, tenant_id, external, match_key, internal, is_primary)
			SELECT $1, $2, l.external, l.match_key, l.internal, l.is_primary FROM xref_load l
			WHERE NOT EXISTS (SELECT 1 FROM ferry.cross_reference_entries e WHERE e.xref_id = $1 AND e.match_key = l.match_key)`, []any{id, tenant}},
	}
	for _, st := range steps {
		if st.skip {
			continue
		}
		tag, err := tx.Exec(ctx, st.sql, st.args...)
		if err != nil {
			return c, fmt.Errorf("merge entries: %w", err)
		}
		*st.n = tag.RowsAffected()
	}
	if _, err := tx.Exec(ctx, `DROP TABLE xref_load`); err != nil {
		return c, err
	}
	return c, nil
}

// checkPrimaries refuses a load that would leave an internal value with two
// primary external values: the loaded primaries with the stored ones the
// load does not replace.
func checkPrimaries(ctx context.Context, tx pgx.Tx, id uuid.UUID, name string) error {
	var (
		internal  string
		externals []string
	)
	err := tx.QueryRow(ctx, `SELECT internal, array_agg(external ORDER BY external COLLATE "C") FROM (
			SELECT l.internal, l.external FROM xref_load l WHERE l.is_primary
			UNION ALL
			SELECT e.internal, e.external FROM ferry.cross_reference_entries e WHERE e.xref_id = $1 AND e.is_primary
				AND NOT EXISTS (SELECT 1 FROM xref_load l WHERE l.match_key = e.match_key)
		) p GROUP BY internal HAVING count(*) > 1 ORDER BY internal COLLATE "C" LIMIT 1`, id).Scan(&internal, &externals)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check primary entries: %w", err)
	}
	quoted := make([]string, len(externals))
	for i, e := range externals {
		quoted[i] = fmt.Sprintf("%q", e)
	}
	return errs.Invalid("cross-reference %q: internal value %q would have %d primary external values (%s); at most one may be primary",
		name, internal, len(externals), strings.Join(quoted, ", "))
}

// DeleteEntries removes the entries of the given external values, compared
// as the table compares them, and returns how many it removed. Values that
// are not in the table are ignored.
func (s *XRefs) DeleteEntries(ctx context.Context, p auth.Principal, name string, externals []string) (int64, error) {
	if len(externals) > xref.MaxEntriesPerRequest {
		return 0, errs.Invalid("cross-reference %q: %d values to delete in one request; at most %d are allowed", name, len(externals), xref.MaxEntriesPerRequest)
	}
	var removed int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		h, err := head(ctx, tx, p.TenantID, name, true)
		if err != nil {
			return err
		}
		ci := h.x.GetCaseInsensitive()
		keys := make([]string, len(externals))
		for i, e := range externals {
			keys[i] = xref.MatchKey(ci, e)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM ferry.cross_reference_entries WHERE xref_id = $1 AND match_key = ANY($2)`, h.id, keys)
		if err != nil {
			return err
		}
		if removed = tag.RowsAffected(); removed > 0 {
			return bump(ctx, tx, h.id, ci)
		}
		return nil
	})
	if err != nil {
		return 0, wrap(err, "delete entries of cross-reference %s", name)
	}
	return removed, nil
}

// Lookup translates values. To internal: external values compared as the
// table compares them. To external: internal values compared exactly; an
// internal value with several external values gives the primary one, or an
// error in its result when none is primary.
func (s *XRefs) Lookup(ctx context.Context, p auth.Principal, name string, dir ferryv1.LookupDirection, values []string) ([]*ferryv1.LookupResult, error) {
	if len(values) > MaxLookupValues {
		return nil, errs.Invalid("%d values to look up; at most %d are allowed in one request", len(values), MaxLookupValues)
	}
	if dir != ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_INTERNAL && dir != ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_EXTERNAL {
		return nil, errs.Invalid("lookup direction %s: want to_internal or to_external", dir)
	}
	var out []*ferryv1.LookupResult
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		h, err := head(ctx, tx, p.TenantID, name, false)
		if err != nil {
			return err
		}
		if dir == ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_INTERNAL {
			out, err = lookupInternal(ctx, tx, h, values)
		} else {
			out, err = lookupExternal(ctx, tx, h, values)
		}
		return err
	})
	if err != nil {
		return nil, wrap(err, "look up in cross-reference %s", name)
	}
	return out, nil
}

func lookupInternal(ctx context.Context, tx pgx.Tx, h xrefHead, values []string) ([]*ferryv1.LookupResult, error) {
	keys := make([]string, len(values))
	for i, v := range values {
		keys[i] = xref.MatchKey(h.x.GetCaseInsensitive(), v)
	}
	rows, err := tx.Query(ctx, `SELECT match_key, internal FROM ferry.cross_reference_entries WHERE xref_id = $1 AND match_key = ANY($2)`, h.id, keys)
	if err != nil {
		return nil, err
	}
	found := map[string]string{}
	var key, internal string
	if _, err := pgx.ForEachRow(rows, []any{&key, &internal}, func() error {
		found[key] = internal
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]*ferryv1.LookupResult, len(values))
	for i, v := range values {
		r, ok := found[keys[i]]
		out[i] = &ferryv1.LookupResult{Value: v, Found: ok, Result: r}
	}
	return out, nil
}

func lookupExternal(ctx context.Context, tx pgx.Tx, h xrefHead, values []string) ([]*ferryv1.LookupResult, error) {
	rows, err := tx.Query(ctx, `SELECT internal, external, is_primary FROM ferry.cross_reference_entries
		WHERE xref_id = $1 AND internal = ANY($2) ORDER BY external COLLATE "C"`, h.id, values)
	if err != nil {
		return nil, err
	}
	type candidates struct {
		n       int
		only    string
		primary *string
	}
	byInternal := map[string]*candidates{}
	var (
		internal, external string
		primary            bool
	)
	if _, err := pgx.ForEachRow(rows, []any{&internal, &external, &primary}, func() error {
		c := byInternal[internal]
		if c == nil {
			c = &candidates{}
			byInternal[internal] = c
		}
		c.n++
		c.only = external
		if primary {
			e := external
			c.primary = &e
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]*ferryv1.LookupResult, len(values))
	for i, v := range values {
		r := &ferryv1.LookupResult{Value: v}
		switch c := byInternal[v]; {
		case c == nil:
		case c.n == 1:
			r.Found, r.Result = true, c.only
		case c.primary != nil:
			r.Found, r.Result = true, *c.primary
		default:
			r.Found = true
			r.Error = fmt.Sprintf("internal value %q has %d external values in table %q and none is primary", v, c.n, h.x.GetName())
		}
		out[i] = r
	}
	return out, nil
}

// FetchPage returns a page of a table's entries after an external value,
// in byte order, for a service that authenticated the caller and passes its
// tenant; more says whether entries follow. The table carries its name,
// settings and version, read with the page.
func (s *XRefs) FetchPage(ctx context.Context, tenantID, name, after string, limit int) (*ferryv1.CrossReference, bool, error) {
	tid, err := uuid.Parse(tenantID)
	if err != nil {
		return nil, false, errs.Invalid("tenant id %q is not a uuid", tenantID)
	}
	if limit <= 0 || limit > MaxFetchPage {
		limit = MaxFetchPage
	}
	var (
		out  *ferryv1.CrossReference
		more bool
	)
	err = s.readTx(ctx, func(tx pgx.Tx) error {
		h, err := head(ctx, tx, tid, name, false)
		if err != nil {
			return err
		}
		list, err := entries(ctx, tx, h.id, after, limit+1)
		if err != nil {
			return err
		}
		if more = len(list) > limit; more {
			list = list[:limit]
		}
		out = &ferryv1.CrossReference{Name: h.x.GetName(), CaseInsensitive: h.x.GetCaseInsensitive(), Version: h.x.GetVersion(), Entries: list}
		return nil
	})
	if err != nil {
		return nil, false, wrap(err, "fetch cross-reference %s", name)
	}
	return out, more, nil
}
