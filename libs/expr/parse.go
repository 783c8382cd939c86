package expr

import (
	"fmt"
	"sync"
	"time"
	_ "time/tzdata" // zone names resolve the same on every machine, with or without zone files
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/ferrydata/ferry/libs/values"
)

// parseFunctions declares the functions that read typed values from text.
func parseFunctions() []cel.EnvOption {
	str := cel.StringType
	strList := cel.ListType(str)
	return []cel.EnvOption{
		cel.Function("parse_date",
			cel.Overload("ferry_parse_date_1", []*cel.Type{str}, str, cel.UnaryBinding(parseDateISO)),
			cel.Overload("ferry_parse_date_2", []*cel.Type{str, str}, str, cel.BinaryBinding(parseDateDynamic))),
		cel.Function("parse_timestamp",
			cel.Overload("ferry_parse_timestamp_1", []*cel.Type{str}, str, cel.UnaryBinding(parseTimestampISO)),
			cel.Overload("ferry_parse_timestamp_2", []*cel.Type{str, str}, str, cel.FunctionBinding(parseTimestampDynamic)),
			cel.Overload("ferry_parse_timestamp_3", []*cel.Type{str, str, str}, str, cel.FunctionBinding(parseTimestampDynamic))),
		cel.Function("parse_number",
			cel.Overload("ferry_parse_number_1", []*cel.Type{str}, str, cel.UnaryBinding(parseNumberPlain)),
			cel.Overload("ferry_parse_number_3", []*cel.Type{str, str, str}, str, cel.FunctionBinding(parseNumberDynamic))),
		cel.Function("parse_bool",
			cel.Overload("ferry_parse_bool_1", []*cel.Type{str}, cel.BoolType, cel.UnaryBinding(parseBoolDefault)),
			cel.Overload("ferry_parse_bool_3", []*cel.Type{str, strList, strList}, cel.BoolType, cel.FunctionBinding(parseBoolDynamic))),
	}
}

// result turns a Go result into a CEL string or error.
func result(s string, err error) ref.Val {
	if err != nil {
		return types.NewErr("%s", err.Error())
	}
	return types.String(s)
}

func parseDateISO(s ref.Val) ref.Val {
	v, ok := s.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(s)
	}
	return result(values.ParseDate(string(v), nil))
}

func parseDateDynamic(s, pattern ref.Val) ref.Val {
	var buf [2]string
	ss, errVal := stringArgs(buf[:0], []ref.Val{s, pattern})
	if errVal != nil {
		return errVal
	}
	layouts, err := dateLayouts(ss[1])
	if err != nil {
		return types.NewErr("%s", err.Error())
	}
	return result(values.ParseDate(ss[0], layouts))
}

// dateLayouts compiles the pattern of parse_date.
func dateLayouts(pattern string) ([]*values.DateLayout, error) {
	l, err := values.ParseLayout(pattern)
	if err != nil {
		return nil, err
	}
	if l.HasZone() {
		return nil, fmt.Errorf("date format %s has a UTC offset (Z), which a date cannot hold; use parse_timestamp", pattern)
	}
	return []*values.DateLayout{l}, nil
}

func parseTimestampISO(s ref.Val) ref.Val {
	v, ok := s.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(s)
	}
	return result(values.ParseTimestamp(string(v), nil, nil))
}

func parseTimestampDynamic(args ...ref.Val) ref.Val {
	var buf [3]string
	ss, errVal := stringArgs(buf[:0], args)
	if errVal != nil {
		return errVal
	}
	l, err := values.ParseLayout(ss[1])
	if err != nil {
		return types.NewErr("%s", err.Error())
	}
	var loc *time.Location
	if len(ss) == 3 {
		if loc, err = loadZone(ss[2]); err != nil {
			return types.NewErr("%s", err.Error())
		}
	}
	return result(values.ParseTimestamp(ss[0], []*values.DateLayout{l}, loc))
}

// zones caches the time zones loaded by name; only names that exist are kept.
var zones sync.Map

// loadZone loads an IANA time zone. "Local" is refused, since it would make
// the result depend on the machine.
func loadZone(name string) (*time.Location, error) {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	switch name {
	case "":
		return nil, fmt.Errorf("time zone is empty: name an IANA time zone such as Europe/Paris or UTC")
	case "Local":
		return nil, fmt.Errorf(`time zone "Local" depends on the machine: name an IANA time zone such as Europe/Paris or UTC`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: name an IANA time zone such as Europe/Paris or UTC", name)
	}
	zones.Store(name, loc)
	return loc, nil
}

func parseNumberPlain(s ref.Val) ref.Val {
	v, ok := s.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(s)
	}
	return result(values.ParseNumber(string(v), values.NumberFormat{}))
}

func parseNumberDynamic(args ...ref.Val) ref.Val {
	var buf [3]string
	ss, errVal := stringArgs(buf[:0], args)
	if errVal != nil {
		return errVal
	}
	return result(parseNumberText(ss[0], ss[1], ss[2]))
}

// parseNumberText is parse_number(s, decimal, thousands).
func parseNumberText(s, decimal, thousands string) (string, error) {
	f, err := numberFormat(decimal, thousands)
	if err != nil {
		return "", err
	}
	return values.ParseNumber(s, f)
}

// numberFormat builds the format of parse_number from its separators: the
// decimal separator is one character, the thousands separator one or none.
func numberFormat(decimal, thousands string) (values.NumberFormat, error) {
	var f values.NumberFormat
	if utf8.RuneCountInString(decimal) != 1 {
		return f, fmt.Errorf("parse_number decimal separator %q must be one character", decimal)
	}
	if utf8.RuneCountInString(thousands) > 1 {
		return f, fmt.Errorf(`parse_number thousands separator %q must be one character, or "" for none`, thousands)
	}
	f.Decimal, _ = utf8.DecodeRuneInString(decimal)
	if thousands != "" {
		f.Thousands, _ = utf8.DecodeRuneInString(thousands)
	}
	if err := f.Validate(); err != nil {
		return f, fmt.Errorf("parse_number separators are not valid: %w", err)
	}
	return f, nil
}

// defaultWords are the words parse_bool(s) accepts.
var defaultWords = values.DefaultBoolWords()

func parseBoolDefault(s ref.Val) ref.Val {
	v, ok := s.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(s)
	}
	b, err := defaultWords.Parse(string(v))
	if err != nil {
		return types.NewErr("%s", err.Error())
	}
	return types.Bool(b)
}

func parseBoolDynamic(args ...ref.Val) ref.Val {
	s, ok := args[0].(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(args[0])
	}
	trueWords, errVal := stringList(args[1])
	if errVal != nil {
		return errVal
	}
	falseWords, errVal := stringList(args[2])
	if errVal != nil {
		return errVal
	}
	w := values.BoolWords{True: trueWords, False: falseWords}
	if err := w.Validate(); err != nil {
		return types.NewErr("parse_bool words are not valid: %s", err.Error())
	}
	b, err := w.Parse(string(s))
	if err != nil {
		return types.NewErr("%s", err.Error())
	}
	return types.Bool(b)
}

// stringList converts a CEL list of strings.
func stringList(v ref.Val) ([]string, ref.Val) {
	l, ok := v.(traits.Lister)
	if !ok {
		return nil, types.MaybeNoSuchOverloadErr(v)
	}
	var out []string
	for it := l.Iterator(); it.HasNext() == types.True; {
		s, ok := it.Next().(types.String)
		if !ok {
			return nil, types.NewErr("parse_bool takes lists of strings")
		}
		out = append(out, string(s))
	}
	return out, nil
}
