package selection

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/store"
)

// Query is a compiled selection.
type Query struct {
	// Where is an SQL boolean expression over quoted column names, "TRUE"
	// for an empty selection. It can be joined to other conditions with
	// AND without parentheses.
	Where string
	// Args are the values of the placeholders $ArgBase+1 … in order, as Go
	// values pgx encodes for the placeholders' casts: string, int64, bool,
	// time.Time, and slices of them; decimals are strings.
	Args []any
	// OrderBy is an SQL ORDER BY list ("\"grade\" DESC, \"id\""): the sort
	// keys, then the fields of the dataset key that are not among them, so
	// that the order is total and deterministic.
	OrderBy string
}

// maxLength bounds the text of a selection, in characters.
const maxLength = 10_000

// Compile type-checks selection against fields and builds the query; its
// placeholders start at $argBase+1. key is the dataset's key, appended to
// OrderBy for a total order; sort fields must be fields. An error in the
// selection is a *CompileError.
func Compile(selection string, fields []*ferryv1.Field, key []string, sort []*ferryv1.SortKey, argBase int) (*Query, error) {
	if argBase < 0 {
		return nil, fmt.Errorf("compile selection: negative argument base %d", argBase)
	}
	ds, err := newDataset(fields)
	if err != nil {
		return nil, err
	}
	c, err := ds.compile(selection)
	if err != nil {
		return nil, err
	}
	orderBy, err := ds.orderBy(key, sort)
	if err != nil {
		return nil, err
	}
	q := &Query{Where: "TRUE", OrderBy: orderBy}
	if c != nil {
		r := renderer{base: argBase}
		q.Where = r.cond(c, false)
		q.Args = r.args
	}
	return q, nil
}

// Check is Compile without building SQL, for validating a profile when it
// is applied. An error in the selection is a *CompileError that names the
// position.
func Check(selection string, fields []*ferryv1.Field) error {
	ds, err := newDataset(fields)
	if err != nil {
		return err
	}
	_, err = ds.compile(selection)
	return err
}

// dataset holds the fields a selection may name.
type dataset struct {
	byName map[string]*ferryv1.Field
	names  []string
}

func newDataset(fields []*ferryv1.Field) (*dataset, error) {
	ds := &dataset{byName: make(map[string]*ferryv1.Field, len(fields))}
	for _, f := range fields {
		if f.GetName() == "" {
			return nil, fmt.Errorf("compile selection: a field has no name")
		}
		if _, ok := sqlTypes[f.GetType()]; !ok {
			return nil, fmt.Errorf("compile selection: field %q has type %s", f.GetName(), f.GetType())
		}
		if ds.byName[f.GetName()] != nil {
			return nil, fmt.Errorf("compile selection: field %q is declared twice", f.GetName())
		}
		ds.byName[f.GetName()] = f
		ds.names = append(ds.names, f.GetName())
	}
	return ds, nil
}

// sqlTypes are the column types of the field types.
var sqlTypes = map[ferryv1.FieldType]string{
	ferryv1.FieldType_FIELD_TYPE_STRING:    "text",
	ferryv1.FieldType_FIELD_TYPE_INTEGER:   "bigint",
	ferryv1.FieldType_FIELD_TYPE_DECIMAL:   "numeric",
	ferryv1.FieldType_FIELD_TYPE_BOOLEAN:   "boolean",
	ferryv1.FieldType_FIELD_TYPE_DATE:      "date",
	ferryv1.FieldType_FIELD_TYPE_TIMESTAMP: "timestamptz",
	ferryv1.FieldType_FIELD_TYPE_JSON:      "jsonb",
}

// celType is the CEL type a field is declared with. Scalars are nullable
// (wrapper types), so that field == null type-checks; timestamps and dyn
// accept null already.
func celType(t ferryv1.FieldType) *cel.Type {
	switch t {
	case ferryv1.FieldType_FIELD_TYPE_STRING:
		return cel.NullableType(cel.StringType)
	case ferryv1.FieldType_FIELD_TYPE_INTEGER:
		return cel.NullableType(cel.IntType)
	case ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		return cel.NullableType(cel.DoubleType)
	case ferryv1.FieldType_FIELD_TYPE_BOOLEAN:
		return cel.NullableType(cel.BoolType)
	case ferryv1.FieldType_FIELD_TYPE_DATE, ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		return cel.TimestampType
	}
	return cel.DynType
}

var (
	baseOnce sync.Once
	baseEnv  *cel.Env
	baseErr  error
)

// base returns the CEL environment shared by all selections: CEL's
// standard library, so that what a selection may not use is reported by
// name rather than as unknown, and date(string).
func base() (*cel.Env, error) {
	baseOnce.Do(func() {
		baseEnv, baseErr = cel.NewEnv(
			// grade < 8.5 and balance >= 1 compare int and double.
			cel.CrossTypeNumericComparisons(true),
			cel.Function(fnDate, cel.Overload("date_string", []*cel.Type{cel.StringType}, cel.TimestampType)),
			cel.ParserExpressionSizeLimit(maxLength),
			// Keeps the name of a macro, to report it.
			cel.EnableMacroCallTracking(),
		)
	})
	return baseEnv, baseErr
}

// env declares the dataset's fields as variables.
func (ds *dataset) env() (*cel.Env, error) {
	b, err := base()
	if err != nil {
		return nil, fmt.Errorf("build selection environment: %w", err)
	}
	vars := make([]cel.EnvOption, 0, len(ds.names))
	for _, n := range ds.names {
		vars = append(vars, cel.Variable(n, celType(ds.byName[n].GetType())))
	}
	e, err := b.Extend(vars...)
	if err != nil {
		return nil, fmt.Errorf("declare selection fields: %w", err)
	}
	return e, nil
}

// compile parses, checks and translates a selection; a nil cond is the
// empty selection.
func (ds *dataset) compile(src string) (cond, error) {
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	e, err := ds.env()
	if err != nil {
		return nil, err
	}
	parsed, iss := e.Parse(src)
	if iss.Err() != nil {
		return nil, celIssues(iss)
	}
	native := parsed.NativeRep()
	w := newWalker(src, native.SourceInfo(), ds)
	c := w.cond(native.Expr())
	if len(w.issues) > 0 {
		return nil, newCompileError(w.issues)
	}
	// CEL has no == between int and double; a decimal field compared with
	// an integer literal is checked as a comparison with a double.
	w.widenLiterals()
	// Everything the walker accepts is well-typed CEL over the declared
	// fields; the check keeps it so.
	if _, iss := e.Check(parsed); iss.Err() != nil {
		return nil, celIssues(iss)
	}
	return c, nil
}

// orderBy builds the ORDER BY list: sort, then the key fields not in it.
func (ds *dataset) orderBy(key []string, sort []*ferryv1.SortKey) (string, error) {
	if len(key) == 0 {
		return "", fmt.Errorf("compile selection: the dataset has no key, so the order would not be total")
	}
	seen := map[string]bool{}
	var parts []string
	for _, s := range sort {
		name := s.GetField()
		if ds.byName[name] == nil {
			return "", fmt.Errorf("sort by %q: %s", name, unknownField(name, ds.names))
		}
		if seen[name] {
			return "", fmt.Errorf("sort by %q: the field is listed twice", name)
		}
		seen[name] = true
		p := store.Ident(name)
		if s.GetDescending() {
			p += " DESC"
		}
		parts = append(parts, p)
	}
	for _, name := range key {
		if ds.byName[name] == nil {
			return "", fmt.Errorf("dataset key %q: %s", name, unknownField(name, ds.names))
		}
		if !seen[name] {
			seen[name] = true
			parts = append(parts, store.Ident(name))
		}
	}
	return strings.Join(parts, ", "), nil
}
