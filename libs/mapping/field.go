package mapping

import (
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/expr"
	"github.com/ferrydata/ferry/libs/values"
)

// planField is one dataset field of a plan, compiled: where its value comes
// from, how it is read, and the rules it must pass.
type planField struct {
	name     string
	typ      ferryv1.FieldType
	required bool
	key      bool
	src      int    // index in the header; -1 when the value comes from expr only
	column   string // header name, for rejects

	prog       *expr.Program // nil: a plain column copy
	def        string
	hasDefault bool
	parse      parseOptions
	rules      fieldRules
	xref       *ferryv1.CrossReferenceUse
}

// parseOptions read a field's text as its type.
type parseOptions struct {
	dates []*values.DateLayout
	num   *values.NumberFormat
	bools *values.BoolWords
	loc   *time.Location
}

// fieldRules are a field's validation rules, compiled.
type fieldRules struct {
	min, max       string
	minLen, maxLen int
	pattern        *regexp.Regexp
	patternSrc     string
	allowed        map[string]bool
	allowedList    string
	unique         bool
}

// compileField compiles one mapping. tables lists the tenant's
// cross-reference tables (nil: not checked). An error names the field.
func compileField(m *ferryv1.FieldMapping, f *ferryv1.Field, isKey bool, loc *time.Location, tables []string) (*planField, error) {
	pf := &planField{
		name: f.GetName(), typ: f.GetType(), key: isKey,
		required: f.GetRequired() || isKey || m.GetRules().GetRequired(),
		src:      -1, xref: m.GetCrossReference(),
	}
	fail := func(format string, a ...any) error {
		return errs.Invalid("field %q: %s", f.GetName(), fmt.Sprintf(format, a...))
	}
	if m.GetExpr() != "" {
		prog, err := expr.Compile(m.GetExpr(), expr.Options{Tables: tables})
		if err != nil {
			return nil, fail("expression %s", err)
		}
		pf.prog = prog
	}
	if m.GetDefaultValue() != "" {
		pf.def, pf.hasDefault = m.GetDefaultValue(), true
	}
	p := &pf.parse
	p.loc = loc
	for _, s := range m.GetDateFormats() {
		if f.GetType() != ferryv1.FieldType_FIELD_TYPE_DATE && f.GetType() != ferryv1.FieldType_FIELD_TYPE_TIMESTAMP {
			return nil, fail("date formats need a date or timestamp field, not %s", typeName(f.GetType()))
		}
		l, err := values.ParseLayout(s)
		if err != nil {
			return nil, fail("%s", err)
		}
		p.dates = append(p.dates, l)
	}
	if m.GetDecimalSeparator() != "" || m.GetThousandsSeparator() != "" {
		if f.GetType() != ferryv1.FieldType_FIELD_TYPE_INTEGER && f.GetType() != ferryv1.FieldType_FIELD_TYPE_DECIMAL {
			return nil, fail("number separators need an integer or decimal field, not %s", typeName(f.GetType()))
		}
		nf := values.NumberFormat{Decimal: '.'}
		var err error
		if nf.Decimal, err = oneRune("decimal separator", m.GetDecimalSeparator(), '.'); err != nil {
			return nil, fail("%s", err)
		}
		if nf.Thousands, err = oneRune("thousands separator", m.GetThousandsSeparator(), 0); err != nil {
			return nil, fail("%s", err)
		}
		if nf.Decimal == nf.Thousands {
			return nil, fail("the decimal and thousands separators are both %q", string(nf.Decimal))
		}
		p.num = &nf
	}
	if len(m.GetTrueWords()) > 0 || len(m.GetFalseWords()) > 0 {
		if f.GetType() != ferryv1.FieldType_FIELD_TYPE_BOOLEAN {
			return nil, fail("boolean words need a boolean field, not %s", typeName(f.GetType()))
		}
		if len(m.GetTrueWords()) == 0 || len(m.GetFalseWords()) == 0 {
			return nil, fail("give both true words and false words")
		}
		w := values.BoolWords{True: m.GetTrueWords(), False: m.GetFalseWords()}
		if err := w.Validate(); err != nil {
			return nil, fail("%s", err)
		}
		p.bools = &w
	}
	if pf.hasDefault {
		if _, _, reason := convert(pf.typ, pf.def, p); reason != "" {
			return nil, fail("default value %q: %s", pf.def, reason)
		}
	}
	if err := pf.compileRules(m.GetRules()); err != nil {
		return nil, fail("%s", err)
	}
	if x := m.GetCrossReference(); x != nil {
		if x.GetTable() == "" {
			return nil, fail("cross reference names no table")
		}
		if tables != nil && !slices.Contains(tables, x.GetTable()) {
			return nil, fail("cross-reference table %q does not exist", x.GetTable())
		}
		if x.GetUnknown() == ferryv1.UnknownValue_UNKNOWN_VALUE_DEFAULT && x.GetDefaultValue() == "" {
			return nil, fail("cross reference to %q uses the default for unknown values but sets no default value", x.GetTable())
		}
	}
	return pf, nil
}

func (pf *planField) compileRules(r *ferryv1.FieldRules) error {
	if r == nil {
		return nil
	}
	fr := &pf.rules
	fr.unique = r.GetUnique()
	for _, b := range []struct {
		name string
		src  string
		dst  *string
	}{{"min", r.GetMin(), &fr.min}, {"max", r.GetMax(), &fr.max}} {
		if b.src == "" {
			continue
		}
		switch pf.typ {
		case ferryv1.FieldType_FIELD_TYPE_INTEGER, ferryv1.FieldType_FIELD_TYPE_DECIMAL, ferryv1.FieldType_FIELD_TYPE_DATE, ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		default:
			return fmt.Errorf("%s needs a number, date or timestamp field, not %s (use minLength and maxLength for text)", b.name, typeName(pf.typ))
		}
		v, _, reason := convert(pf.typ, b.src, &parseOptions{loc: time.UTC})
		if reason != "" {
			return fmt.Errorf("%s %q: %s", b.name, b.src, reason)
		}
		*b.dst = v
	}
	if fr.min != "" && fr.max != "" && compare(pf.typ, fr.min, fr.max) > 0 {
		return fmt.Errorf("min %s is above max %s", r.GetMin(), r.GetMax())
	}
	if r.GetMinLength() < 0 || r.GetMaxLength() < 0 || (r.GetMaxLength() > 0 && r.GetMinLength() > r.GetMaxLength()) {
		return fmt.Errorf("length bounds %d to %d are not a range", r.GetMinLength(), r.GetMaxLength())
	}
	fr.minLen, fr.maxLen = int(r.GetMinLength()), int(r.GetMaxLength())
	if r.GetPattern() != "" {
		re, err := regexp.Compile(`^(?:` + r.GetPattern() + `)$`)
		if err != nil {
			return fmt.Errorf("pattern %q: %v", r.GetPattern(), err)
		}
		fr.pattern, fr.patternSrc = re, r.GetPattern()
	}
	if len(r.GetAllowed()) > 0 {
		fr.allowed = map[string]bool{}
		for _, a := range r.GetAllowed() {
			v, _, reason := convert(pf.typ, a, &pf.parse)
			if reason != "" {
				return fmt.Errorf("allowed value %q: %s", a, reason)
			}
			fr.allowed[v] = true
		}
		fr.allowedList = strings.Join(r.GetAllowed(), ", ")
		if len(fr.allowedList) > 200 {
			fr.allowedList = fr.allowedList[:200] + "…"
		}
	}
	return nil
}

// check applies the field's rules to its converted, non-NULL value. It
// returns the rule that failed and why.
func (pf *planField) check(val string) (rule, reason string) {
	r := &pf.rules
	if r.min != "" && compare(pf.typ, val, r.min) < 0 {
		return "min", fmt.Sprintf("%s is below the minimum %s", val, r.min)
	}
	if r.max != "" && compare(pf.typ, val, r.max) > 0 {
		return "max", fmt.Sprintf("%s is above the maximum %s", val, r.max)
	}
	if r.minLen > 0 || r.maxLen > 0 {
		n := utf8.RuneCountInString(val)
		if n < r.minLen {
			return "length", fmt.Sprintf("%d characters, at least %d are required", n, r.minLen)
		}
		if r.maxLen > 0 && n > r.maxLen {
			return "length", fmt.Sprintf("%d characters, at most %d are allowed", n, r.maxLen)
		}
	}
	if r.pattern != nil && !r.pattern.MatchString(val) {
		return "pattern", fmt.Sprintf("does not match the pattern %s", r.patternSrc)
	}
	if r.allowed != nil && !r.allowed[val] {
		return "allowed", fmt.Sprintf("not one of the allowed values (%s)", r.allowedList)
	}
	return "", ""
}

// compare orders two canonical values of a number, date or timestamp type.
func compare(t ferryv1.FieldType, a, b string) int {
	switch t {
	case ferryv1.FieldType_FIELD_TYPE_INTEGER, ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		x, ok1 := new(big.Rat).SetString(a)
		y, ok2 := new(big.Rat).SetString(b)
		if ok1 && ok2 {
			return x.Cmp(y)
		}
	case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		x, err1 := time.Parse(time.RFC3339Nano, a)
		y, err2 := time.Parse(time.RFC3339Nano, b)
		if err1 == nil && err2 == nil {
			return x.Compare(y)
		}
	}
	return strings.Compare(a, b)
}

func oneRune(what, s string, def rune) (rune, error) {
	if s == "" {
		return def, nil
	}
	r, n := utf8.DecodeRuneInString(s)
	if n != len(s) || r == utf8.RuneError {
		return 0, fmt.Errorf("%s %q must be one character", what, s)
	}
	if r >= '0' && r <= '9' || r == '-' || r == '+' {
		return 0, fmt.Errorf("%s %q cannot be a digit or a sign", what, s)
	}
	return r, nil
}

func typeName(t ferryv1.FieldType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "FIELD_TYPE_"))
}
