package selection

import (
	"context"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/testkit"
)

// row is a row of the test table; nil is NULL.
type row struct {
	id      int64
	name    *string
	school  *string
	grade   *int64
	order   *int64
	balance *string // decimal text
	active  *bool
	born    *string // YYYY-MM-DD
	seen    *time.Time
	meta    *string // JSON text
}

func ptr[T any](v T) *T { return &v }

func testRows() []row {
	ts := func(s string) *time.Time { return ptr(utc(s)) }
	return []row{
		{1, ptr("adam"), ptr("North"), ptr(int64(9)), ptr(int64(10)), ptr("0.5"), ptr(true), ptr("2010-01-01"), ts("2024-01-01T00:00:00Z"), ptr(`{"a": 1}`)},
		{2, ptr("Ádám"), ptr("South"), ptr(int64(12)), ptr(int64(3)), ptr("0.49"), ptr(false), ptr("2009-12-31"), ts("2023-12-31T23:59:59.999999Z"), nil},
		{3, ptr("Zoë"), ptr("North"), ptr(int64(5)), nil, ptr("10"), nil, ptr("2012-06-15"), ts("2024-03-01T12:00:00+02:00"), ptr(`[]`)},
		{4, ptr("a_b"), ptr("East"), ptr(int64(1)), ptr(int64(1)), ptr("10.00"), ptr(true), nil, nil, nil},
		{5, ptr("axb"), nil, ptr(int64(2)), ptr(int64(5)), ptr("-1"), ptr(false), ptr("2011-02-03"), ts("2024-01-02T00:00:00Z"), ptr(`null`)},
		{6, ptr("a%b"), ptr("North"), nil, ptr(int64(7)), ptr("0.1"), ptr(true), ptr("2010-01-01"), ts("2024-01-01T00:00:00.000001Z"), nil},
		{7, ptr(`back\slash`), ptr("West"), ptr(int64(10)), ptr(int64(10)), nil, ptr(true), ptr("2008-05-05"), nil, ptr(`{"b": [1, 2]}`)},
		{8, ptr("O'Brien"), ptr("South"), ptr(int64(3)), ptr(int64(2)), ptr("0.30"), nil, nil, ts("2022-07-01T08:30:00Z"), nil},
		{9, nil, nil, ptr(int64(11)), ptr(int64(12)), ptr("5.5"), ptr(false), ptr("2013-09-09"), ts("2025-01-01T00:00:00Z"), nil},
		{10, ptr("Jackson"), ptr("North"), ptr(int64(8)), ptr(int64(9)), ptr("5"), ptr(true), ptr("2010-01-02"), nil, ptr(`"x"`)},
		{11, ptr("Peterson"), ptr("East"), ptr(int64(9)), ptr(int64(9)), ptr("0.50"), ptr(false), ptr("2009-01-01"), ts("2021-01-01T00:00:00Z"), nil},
		{12, ptr("north"), ptr("north"), ptr(int64(4)), nil, nil, nil, nil, nil, nil},
		{13, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		{14, ptr("bob"), ptr("North"), ptr(int64(12)), ptr(int64(11)), ptr("123456789012345678901234567890.5"), ptr(true), ptr("2015-01-01"), ts("2024-01-01T00:00:00Z"), nil},
		{15, ptr(""), ptr(""), ptr(int64(0)), ptr(int64(0)), ptr("0"), ptr(false), ptr("2000-02-29"), ts("2000-01-01T00:00:00Z"), ptr(`{}`)},
		{16, ptr("🚀 rocket"), ptr("South"), ptr(int64(-3)), ptr(int64(-4)), ptr("-0.25"), ptr(true), ptr("2010-01-01"), ts("2024-06-01T00:00:00Z"), nil},
		{17, ptr("Adamson"), ptr("West"), ptr(int64(7)), ptr(int64(6)), ptr("7.25"), nil, ptr("2011-11-11"), ts("2024-01-01T00:00:00Z"), nil},
		{18, ptr("x'; DROP TABLE t; --"), ptr("North"), ptr(int64(9)), ptr(int64(8)), ptr("9.99"), ptr(true), ptr("2010-12-31"), nil, nil},
		{19, ptr("b"), ptr("b"), ptr(int64(6)), ptr(int64(6)), ptr("6"), ptr(false), ptr("2010-01-01"), ts("2023-01-01T00:00:00Z"), nil},
		{20, ptr("Bob"), nil, nil, ptr(int64(1)), ptr("1e2"), ptr(true), ptr("2016-06-06"), ts("2024-01-01T00:00:00Z"), ptr(`1`)},
	}
}

// Helpers for the Go-side evaluation: a comparison with NULL is false.

func strIs(p *string, f func(string) bool) bool { return p != nil && f(*p) }

func intIs(p *int64, f func(int64) bool) bool { return p != nil && f(*p) }

func decCmp(p *string, lit string) (int, bool) {
	if p == nil {
		return 0, false
	}
	a, ok1 := new(big.Rat).SetString(*p)
	b, ok2 := new(big.Rat).SetString(lit)
	if !ok1 || !ok2 {
		panic("bad decimal")
	}
	return a.Cmp(b), true
}

func decIs(p *string, lit string, f func(int) bool) bool {
	c, ok := decCmp(p, lit)
	return ok && f(c)
}

func isTrue(p *bool) bool { return p != nil && *p }

func timeIs(p *time.Time, f func(time.Time) bool) bool { return p != nil && f(*p) }

func eqNullable[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func openTable(t *testing.T) (*pgx.Conn, []*ferryv1.Field) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testkit.Database(t, true))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, `CREATE TABLE t (id bigint PRIMARY KEY, name text, school text, grade bigint, "order" bigint,
		balance numeric, active boolean, born date, seen timestamptz, meta jsonb)`)
	require.NoError(t, err)
	for _, r := range testRows() {
		_, err := conn.Exec(ctx, `INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8::date, $9, $10::jsonb)`,
			r.id, r.name, r.school, r.grade, r.order, r.balance, r.active, r.born, r.seen, r.meta)
		require.NoError(t, err)
	}
	_, err = conn.Exec(ctx, `CREATE INDEX t_grade ON t (grade)`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `ANALYZE t`)
	require.NoError(t, err)
	return conn, []*ferryv1.Field{
		field("id", ferryv1.FieldType_FIELD_TYPE_INTEGER),
		field("name", ferryv1.FieldType_FIELD_TYPE_STRING),
		field("school", ferryv1.FieldType_FIELD_TYPE_STRING),
		field("grade", ferryv1.FieldType_FIELD_TYPE_INTEGER),
		field("order", ferryv1.FieldType_FIELD_TYPE_INTEGER),
		field("balance", ferryv1.FieldType_FIELD_TYPE_DECIMAL),
		field("active", ferryv1.FieldType_FIELD_TYPE_BOOLEAN),
		field("born", ferryv1.FieldType_FIELD_TYPE_DATE),
		field("seen", ferryv1.FieldType_FIELD_TYPE_TIMESTAMP),
		field("meta", ferryv1.FieldType_FIELD_TYPE_JSON),
	}
}

// selectIDs runs a compiled selection behind a condition of its own on $1.
func selectIDs(t *testing.T, conn *pgx.Conn, q *Query) []int64 {
	t.Helper()
	sql := `SELECT id FROM t WHERE id > $1 AND ` + q.Where + ` ORDER BY ` + q.OrderBy
	rows, err := conn.Query(context.Background(), sql, append([]any{int64(0)}, q.Args...)...)
	require.NoError(t, err, sql)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err, sql)
	return ids
}

func TestPostgres(t *testing.T) {
	conn, fields := openTable(t)
	cases := []struct {
		src  string
		want func(r row) bool
	}{
		{``, func(row) bool { return true }},
		{`true`, func(row) bool { return true }},
		{`grade >= 9 && school == "North"`, func(r row) bool {
			return intIs(r.grade, func(g int64) bool { return g >= 9 }) && strIs(r.school, func(s string) bool { return s == "North" })
		}},
		{`name.endsWith("son")`, func(r row) bool { return strIs(r.name, func(s string) bool { return strings.HasSuffix(s, "son") }) }},
		{`name.startsWith("a_")`, func(r row) bool { return strIs(r.name, func(s string) bool { return strings.HasPrefix(s, "a_") }) }},
		{`name.contains("%")`, func(r row) bool { return strIs(r.name, func(s string) bool { return strings.Contains(s, "%") }) }},
		{`name.contains("\\")`, func(r row) bool { return strIs(r.name, func(s string) bool { return strings.Contains(s, `\`) }) }},
		{`name.contains("")`, func(r row) bool { return r.name != nil }},
		{`name.startsWith("🚀")`, func(r row) bool { return strIs(r.name, func(s string) bool { return strings.HasPrefix(s, "🚀") }) }},
		{`name == "x'; DROP TABLE t; --" || name == "O'Brien"`, func(r row) bool {
			return strIs(r.name, func(s string) bool { return s == "x'; DROP TABLE t; --" || s == "O'Brien" })
		}},
		{`school in ["North", "South"]`, func(r row) bool {
			return strIs(r.school, func(s string) bool { return s == "North" || s == "South" })
		}},
		{`name != "adam"`, func(r row) bool { return r.name == nil || *r.name != "adam" }},
		{`name < "b"`, func(r row) bool { return strIs(r.name, func(s string) bool { return s < "b" }) }},
		{`name >= "Zoë"`, func(r row) bool { return strIs(r.name, func(s string) bool { return s >= "Zoë" }) }},
		{`name == school`, func(r row) bool { return eqNullable(r.name, r.school) }},
		{`name != school`, func(r row) bool { return !eqNullable(r.name, r.school) }},
		{`name > school`, func(r row) bool { return r.name != nil && r.school != nil && *r.name > *r.school }},
		{`grade < order`, func(r row) bool { return r.grade != nil && r.order != nil && *r.grade < *r.order }},
		{`grade < 8.5`, func(r row) bool { return intIs(r.grade, func(g int64) bool { return g <= 8 }) }},
		{`grade in [1, 2, 3] || balance > 5`, func(r row) bool {
			return intIs(r.grade, func(g int64) bool { return g >= 1 && g <= 3 }) || decIs(r.balance, "5", func(c int) bool { return c > 0 })
		}},
		{`grade in []`, func(row) bool { return false }},
		{`grade <= balance`, func(r row) bool {
			return r.grade != nil && decIs(r.balance, big.NewInt(*r.grade).String(), func(c int) bool { return c >= 0 })
		}},
		{`balance < 0.5`, func(r row) bool { return decIs(r.balance, "0.5", func(c int) bool { return c < 0 }) }},
		{`balance == 10`, func(r row) bool { return decIs(r.balance, "10", func(c int) bool { return c == 0 }) }},
		{`balance == 0.3`, func(r row) bool { return decIs(r.balance, "0.3", func(c int) bool { return c == 0 }) }},
		{`balance == 100`, func(r row) bool { return decIs(r.balance, "100", func(c int) bool { return c == 0 }) }},
		{`balance > 123456789012345678901234567890.4`, func(r row) bool {
			return decIs(r.balance, "123456789012345678901234567890.4", func(c int) bool { return c > 0 })
		}},
		{`balance in [10, 0.5, -0.25]`, func(r row) bool {
			return decIs(r.balance, "10", func(c int) bool { return c == 0 }) || decIs(r.balance, "0.5", func(c int) bool { return c == 0 }) ||
				decIs(r.balance, "-0.25", func(c int) bool { return c == 0 })
		}},
		{`active`, func(r row) bool { return isTrue(r.active) }},
		{`active == false`, func(r row) bool { return r.active != nil && !*r.active }},
		{`active != true`, func(r row) bool { return !isTrue(r.active) }},
		{`active in [false]`, func(r row) bool { return r.active != nil && !*r.active }},
		{`active && grade > 5`, func(r row) bool { return isTrue(r.active) && intIs(r.grade, func(g int64) bool { return g > 5 }) }},
		{`born == null`, func(r row) bool { return r.born == nil }},
		{`born != null`, func(r row) bool { return r.born != nil }},
		{`born >= date("2010-01-01")`, func(r row) bool { return strIs(r.born, func(s string) bool { return s >= "2010-01-01" }) }},
		{`born in [date("2010-01-01"), date("2000-02-29")]`, func(r row) bool {
			return strIs(r.born, func(s string) bool { return s == "2010-01-01" || s == "2000-02-29" })
		}},
		{`seen >= timestamp("2024-01-01T00:00:00Z")`, func(r row) bool {
			return timeIs(r.seen, func(s time.Time) bool { return !s.Before(utc("2024-01-01T00:00:00Z")) })
		}},
		{`seen < date("2024-01-01")`, func(r row) bool {
			return timeIs(r.seen, func(s time.Time) bool { return s.Before(utc("2024-01-01T00:00:00Z")) })
		}},
		{`seen == timestamp("2024-03-01T10:00:00Z")`, func(r row) bool {
			return timeIs(r.seen, func(s time.Time) bool { return s.Equal(utc("2024-03-01T10:00:00Z")) })
		}},
		{`seen in [timestamp("2024-01-01T01:00:00+01:00"), timestamp("2023-12-31T23:59:59.999999Z")]`, func(r row) bool {
			return timeIs(r.seen, func(s time.Time) bool {
				return s.Equal(utc("2024-01-01T00:00:00Z")) || s.Equal(utc("2023-12-31T23:59:59.999999Z"))
			})
		}},
		{`meta == null`, func(r row) bool { return r.meta == nil }},
		{`meta != null && grade > 0`, func(r row) bool { return r.meta != nil && intIs(r.grade, func(g int64) bool { return g > 0 }) }},
	}
	all := testRows()
	for _, tc := range cases {
		for _, negate := range []bool{false, true} {
			src, want := tc.src, tc.want
			if negate {
				if src == "" {
					continue
				}
				// !s selects exactly the rows s does not, NULLs included.
				src, want = "!("+src+")", func(r row) bool { return !tc.want(r) }
			}
			t.Run(src, func(t *testing.T) {
				q, err := Compile(src, fields, []string{"id"}, nil, 1)
				require.NoError(t, err)
				ids := []int64{}
				for _, r := range all {
					if want(r) {
						ids = append(ids, r.id)
					}
				}
				got := selectIDs(t, conn, q)
				require.Equal(t, ids, got, "where %s args %v", q.Where, q.Args)
			})
		}
	}
}

func TestPostgresOrderBy(t *testing.T) {
	conn, fields := openTable(t)
	q, err := Compile(`grade != null || active`, fields, []string{"id"}, []*ferryv1.SortKey{{Field: "grade", Descending: true}}, 1)
	require.NoError(t, err)
	var want []row
	for _, r := range testRows() {
		if r.grade != nil || isTrue(r.active) {
			want = append(want, r)
		}
	}
	// PostgreSQL sorts NULL first in descending order; the key breaks ties.
	slices.SortFunc(want, func(a, b row) int {
		switch {
		case a.grade == nil && b.grade != nil:
			return -1
		case a.grade != nil && b.grade == nil:
			return 1
		case a.grade != nil && *a.grade != *b.grade:
			return int(*b.grade - *a.grade)
		}
		return int(a.id - b.id)
	})
	var ids []int64
	for _, r := range want {
		ids = append(ids, r.id)
	}
	require.Equal(t, ids, selectIDs(t, conn, q))
}

// TestPostgresPushdown shows that PostgreSQL applies the selection itself:
// the plan uses the index on grade, and filters on the other column.
func TestPostgresPushdown(t *testing.T) {
	conn, fields := openTable(t)
	ctx := context.Background()
	_, err := conn.Exec(ctx, `SET enable_seqscan = off`)
	require.NoError(t, err)
	explain := func(src string) string {
		q, err := Compile(src, fields, []string{"id"}, nil, 0)
		require.NoError(t, err)
		rows, err := conn.Query(ctx, `EXPLAIN SELECT id FROM t WHERE `+q.Where, q.Args...)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return strings.Join(lines, "\n")
	}
	plan := explain(`grade >= 9 && school == "North"`)
	require.Regexp(t, `Index Cond: \(grade >= '9'::bigint\)`, plan)
	require.Regexp(t, `Filter: \(school = 'North'::text\)`, plan)
}
