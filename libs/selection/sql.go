package selection

import (
	"fmt"
	"strings"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/store"
)

// cond is a translated condition. Rendered, it is TRUE exactly for the
// rows the condition selects and FALSE or NULL for the others, so that
// AND and OR combine conditions as && and || do; negation is pushed down
// to the leaves, each of which knows its exact complement.
type cond any

type (
	// junction is a chain of && (and) or ||.
	junction struct {
		and   bool
		terms []cond
	}
	// negation is !x.
	negation struct{ x cond }
	// compare is field op value.
	compare struct {
		op    string
		field *ferryv1.Field
		val   value
	}
	// compareFields is left op right.
	compareFields struct {
		op          string
		left, right *ferryv1.Field
	}
	// nullTest is field == null (null) or field != null.
	nullTest struct {
		field *ferryv1.Field
		null  bool
	}
	// membership is field in [...]; val holds a slice.
	membership struct {
		field *ferryv1.Field
		val   value
	}
	// match is field LIKE pattern, for startsWith, endsWith and contains.
	match struct {
		field   *ferryv1.Field
		pattern string
	}
	// boolField is a boolean field used as a condition.
	boolField struct{ field *ferryv1.Field }
	// boolConst is true or false.
	boolConst struct{ val value }
)

// value is a placeholder's argument and the type it is cast to.
type value struct {
	arg  any
	cast string
}

// inverse is the ordering operator that holds exactly when op does not,
// for values that are not NULL.
var inverse = map[string]string{opLt: opGe, opLe: opGt, opGt: opLe, opGe: opLt}

// renderer writes a cond as SQL, collecting the placeholders' arguments.
type renderer struct {
	base int
	args []any
}

func (r *renderer) param(v value) string {
	r.args = append(r.args, v.arg)
	return fmt.Sprintf("$%d::%s", r.base+len(r.args), v.cast)
}

// cond writes c, or its complement when neg is set.
func (r *renderer) cond(c cond, neg bool) string {
	switch c := c.(type) {
	case junction:
		sep := " AND "
		if c.and == neg {
			sep = " OR "
		}
		parts := make([]string, len(c.terms))
		for i, t := range c.terms {
			parts[i] = r.cond(t, neg)
		}
		return "(" + strings.Join(parts, sep) + ")"
	case negation:
		return r.cond(c.x, !neg)
	case boolConst:
		if neg {
			return "NOT " + r.param(c.val)
		}
		return r.param(c.val)
	case boolField:
		if neg {
			return store.Ident(c.field.GetName()) + " IS NOT TRUE"
		}
		return store.Ident(c.field.GetName())
	case nullTest:
		if c.null != neg {
			return store.Ident(c.field.GetName()) + " IS NULL"
		}
		return store.Ident(c.field.GetName()) + " IS NOT NULL"
	case compare:
		col, p := store.Ident(c.field.GetName()), r.param(c.val)
		if c.op != opEq && c.op != opNe {
			p += collation(c.field)
		}
		return comparison(c.op, neg, col, p, col)
	case compareFields:
		l, rt := store.Ident(c.left.GetName()), store.Ident(c.right.GetName())
		switch {
		case c.op == opEq && !neg, c.op == opNe && neg:
			// null == null holds, as in CEL.
			return l + " IS NOT DISTINCT FROM " + rt
		case c.op == opEq, c.op == opNe:
			return l + " IS DISTINCT FROM " + rt
		}
		return comparison(c.op, neg, l, rt+collation(c.right), l, rt)
	case membership:
		col, p := store.Ident(c.field.GetName()), r.param(c.val)
		if neg {
			return "(" + col + " <> ALL(" + p + ") OR " + col + " IS NULL)"
		}
		return col + " = ANY(" + p + ")"
	case match:
		col, p := store.Ident(c.field.GetName()), r.param(value{arg: c.pattern, cast: "text"})
		if neg {
			return "(" + col + " NOT LIKE " + p + ` ESCAPE '\' OR ` + col + " IS NULL)"
		}
		return col + " LIKE " + p + ` ESCAPE '\'`
	}
	panic(fmt.Sprintf("selection: unknown condition %T", c))
}

// comparison writes left op right, or its complement when neg is set.
// nullable lists the columns that make an ordering comparison NULL, which
// its complement must select.
func comparison(op string, neg bool, left, right string, nullable ...string) string {
	switch {
	case op == opEq && !neg, op == opNe && neg:
		return left + " = " + right
	case op == opNe, op == opEq:
		// A NULL field differs from every value.
		return left + " IS DISTINCT FROM " + right
	case !neg:
		return left + " " + op + " " + right
	}
	parts := []string{left + " " + inverse[op] + " " + right}
	for _, n := range nullable {
		parts = append(parts, n+" IS NULL")
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// collation is the COLLATE clause of an ordering comparison with a string
// field: strings compare by code point, as in CEL, whatever the
// database's locale.
func collation(f *ferryv1.Field) string {
	if f.GetType() == ferryv1.FieldType_FIELD_TYPE_STRING {
		return ` COLLATE "C"`
	}
	return ""
}
