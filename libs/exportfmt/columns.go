// Package exportfmt is how export runs format rows, shared by the services
// that take part: export reads rows and sends them as batches (the wire form
// of read rows is here), transform compiles the template's columns and
// formats each batch into a part of every file of the run, and delivery
// assembles the parts, in order, into the files of the plan.
package exportfmt

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/expr"
	"github.com/ferrydata/ferry/libs/formats/outfile"
	"github.com/ferrydata/ferry/libs/values"
)

// Reverser translates internal values to external ones (cross-references).
type Reverser interface {
	Reverse(internal string) (external string, ok bool, err error)
}

// Column is one column of a file: where its value comes from, compiled.
type Column struct {
	out   outfile.Column
	field int           // index into the dataset's fields; -1 for expr
	prog  *expr.Program // expr columns
	xref  Reverser
	xname string
}

// kindOf is the file kind of a dataset field type.
func kindOf(t ferryv1.FieldType) outfile.ValueKind {
	switch t {
	case ferryv1.FieldType_FIELD_TYPE_INTEGER:
		return outfile.Integer
	case ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		return outfile.Decimal
	case ferryv1.FieldType_FIELD_TYPE_BOOLEAN:
		return outfile.Bool
	case ferryv1.FieldType_FIELD_TYPE_DATE:
		return outfile.Date
	case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		return outfile.Timestamp
	case ferryv1.FieldType_FIELD_TYPE_JSON:
		return outfile.JSON
	}
	return outfile.String
}

// Columns compiles the template (every field when it has no columns). With
// nil tables, cross-reference columns are compiled without their tables:
// enough to know the file's columns, not to format rows.
func Columns(ds *ferryv1.Dataset, t *ferryv1.TemplateSpec, tables map[string]Reverser) ([]*Column, error) {
	index := map[string]int{}
	for i, f := range ds.GetFields() {
		index[f.GetName()] = i
	}
	specs := t.GetColumns()
	if len(specs) == 0 {
		for _, f := range ds.GetFields() {
			specs = append(specs, &ferryv1.TemplateColumn{Header: f.GetName(), Field: f.GetName()})
		}
	}
	var out []*Column
	for _, s := range specs {
		c := &Column{field: -1, out: outfile.Column{Header: s.GetHeader(), Kind: outfile.String, TrueWord: s.GetTrueWord(), FalseWord: s.GetFalseWord()}}
		if s.GetField() != "" {
			i, ok := index[s.GetField()]
			if !ok {
				return nil, fmt.Errorf("column %q shows field %q, which dataset %q does not have", s.GetHeader(), s.GetField(), ds.GetName())
			}
			c.field, c.out.Kind = i, kindOf(ds.GetFields()[i].GetType())
		} else {
			prog, err := expr.Compile(s.GetExpr(), expr.Options{Fields: true})
			if err != nil {
				return nil, fmt.Errorf("column %q: expression %w", s.GetHeader(), err)
			}
			c.prog = prog
			switch prog.ResultType() {
			case "int", "uint":
				c.out.Kind = outfile.Integer
			case "bool":
				c.out.Kind = outfile.Bool
			}
		}
		if s.GetDateFormat() != "" {
			l, err := values.ParseLayout(s.GetDateFormat())
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", s.GetHeader(), err)
			}
			c.out.DateFormat = l
		}
		if d := s.GetDecimalSeparator(); d != "" {
			c.out.DecimalSeparator, _ = utf8.DecodeRuneInString(d)
		}
		if x := s.GetCrossReference(); x != "" {
			c.xref, c.xname = tables[x], x
			if c.xref == nil && tables != nil {
				return nil, fmt.Errorf("column %q: cross-reference table %q is not loaded", s.GetHeader(), x)
			}
			c.out.Kind = outfile.String
		}
		out = append(out, c)
	}
	return out, nil
}

// cell sets v to a field's value as the database returned it (as text),
// typed; null says it is SQL NULL.
func cell(v *outfile.Value, t ferryv1.FieldType, s string, null bool) error {
	if null {
		*v = outfile.Value{Kind: outfile.Null}
		return nil
	}
	var err error
	switch t {
	case ferryv1.FieldType_FIELD_TYPE_INTEGER:
		_, err = strconv.ParseInt(s, 10, 64)
		*v = outfile.Value{Kind: outfile.Integer, Num: s}
	case ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		*v = outfile.Value{Kind: outfile.Decimal, Num: s}
	case ferryv1.FieldType_FIELD_TYPE_BOOLEAN:
		*v = outfile.Value{Kind: outfile.Bool, Bool: isTrue(s)}
	case ferryv1.FieldType_FIELD_TYPE_DATE:
		*v = outfile.Value{Kind: outfile.Date}
		v.Time, err = parseDate(s)
	case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		*v = outfile.Value{Kind: outfile.Timestamp}
		v.Time, err = time.Parse("2006-01-02T15:04:05.999999Z", s)
	case ferryv1.FieldType_FIELD_TYPE_JSON:
		*v = outfile.Value{Kind: outfile.JSON, Text: s}
	default:
		*v = outfile.Value{Kind: outfile.String, Text: s}
	}
	return err
}

// typedValue is a cell as an expression sees its field.
func typedValue(t ferryv1.FieldType, v *outfile.Value) any {
	if v.Kind == outfile.Null {
		return nil
	}
	switch t {
	case ferryv1.FieldType_FIELD_TYPE_INTEGER:
		n, _ := strconv.ParseInt(v.Num, 10, 64)
		return n
	case ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		f, _ := strconv.ParseFloat(v.Num, 64)
		return f
	case ferryv1.FieldType_FIELD_TYPE_BOOLEAN:
		return v.Bool
	case ferryv1.FieldType_FIELD_TYPE_DATE, ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		return v.Time
	}
	return v.Text
}

// isTrue reads a boolean in PostgreSQL's text form ("t") or as a cast to
// text writes it ("true").
func isTrue(s string) bool { return s == "t" || s == "true" }

// parseDate parses YYYY-MM-DD (PostgreSQL's ISO date) as UTC midnight,
// without time.Parse's layout walk for the common case.
func parseDate(s string) (time.Time, error) {
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		y, ok1 := digits(s[0:4])
		m, ok2 := digits(s[5:7])
		d, ok3 := digits(s[8:10])
		if ok1 && ok2 && ok3 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(m, y) {
			return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), nil
		}
	}
	// Anything else gets time.Parse's answer, and its error.
	return time.Parse("2006-01-02", s)
}

// monthDays are the days of each month of a common year.
var monthDays = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// daysIn is the number of days of month m (1-12) of year y.
func daysIn(m, y int) int {
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		return 29
	}
	return monthDays[m]
}

// digits parses s, ASCII digits only.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// exprValue is an expression's result as a cell.
func exprValue(v any) outfile.Value {
	switch x := v.(type) {
	case nil:
		return outfile.Value{Kind: outfile.Null}
	case string:
		return outfile.Value{Kind: outfile.String, Text: x}
	case int64:
		return outfile.Value{Kind: outfile.Integer, Num: strconv.FormatInt(x, 10)}
	case uint64:
		return outfile.Value{Kind: outfile.Integer, Num: strconv.FormatUint(x, 10)}
	case float64:
		return outfile.Value{Kind: outfile.Decimal, Num: strconv.FormatFloat(x, 'f', -1, 64)}
	case bool:
		return outfile.Value{Kind: outfile.Bool, Bool: x}
	}
	return outfile.Value{Kind: outfile.String, Text: fmt.Sprint(v)}
}

// text is a value as text, for a cross-reference lookup.
func text(v outfile.Value) string {
	switch v.Kind {
	case outfile.String, outfile.JSON:
		return v.Text
	case outfile.Integer, outfile.Decimal:
		return v.Num
	case outfile.Bool:
		return strconv.FormatBool(v.Bool)
	case outfile.Date:
		return v.Time.Format("2006-01-02")
	case outfile.Timestamp:
		return v.Time.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// FileColumns are the file's columns of compiled columns.
func FileColumns(cols []*Column) []outfile.Column {
	out := make([]outfile.Column, len(cols))
	for i, c := range cols {
		out[i] = c.out
	}
	return out
}
