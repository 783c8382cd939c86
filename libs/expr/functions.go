package expr

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// maxStringBytes bounds the text a function builds, so that nested calls
// such as replace(replace(s, "a", "aaaa"), "a", "aaaa") cannot use up
// memory before the cost limit is checked.
const maxStringBytes = 4 << 20

// Arities of the variadic functions.
const (
	minVariadic = 2
	maxVariadic = 8
)

// stringFunctions declares the text functions.
func stringFunctions() []cel.EnvOption {
	str := cel.StringType
	strs := func(n int) []*cel.Type {
		out := make([]*cel.Type, n)
		for i := range out {
			out[i] = str
		}
		return out
	}
	var concat, coalesce []cel.FunctionOpt
	for n := minVariadic; n <= maxVariadic; n++ {
		concat = append(concat, cel.Overload(fmt.Sprintf("ferry_concat_%d", n), strs(n), str, cel.FunctionBinding(concatStrings)))
		coalesce = append(coalesce, cel.Overload(fmt.Sprintf("ferry_coalesce_%d", n), strs(n), str, cel.FunctionBinding(coalesceStrings)))
	}
	var opts []cel.EnvOption
	for _, name := range []string{"trim", "upper", "lower"} {
		opts = append(opts, unaryString(name, unaryTexts[name]))
	}
	return append(opts,
		cel.Function("concat", concat...),
		cel.Function("coalesce", coalesce...),
		cel.Function("join",
			cel.Overload("ferry_join", []*cel.Type{cel.ListType(str), str}, str, cel.BinaryBinding(joinStrings))),
		cel.Function("split",
			cel.Overload("ferry_split", []*cel.Type{str, str}, cel.ListType(str), cel.BinaryBinding(splitString))),
		cel.Function("substring",
			cel.Overload("ferry_substring_2", []*cel.Type{str, cel.IntType}, str, cel.FunctionBinding(substring)),
			cel.Overload("ferry_substring_3", []*cel.Type{str, cel.IntType, cel.IntType}, str, cel.FunctionBinding(substring))),
		cel.Function("replace",
			cel.Overload("ferry_replace", strs(3), str, cel.FunctionBinding(replaceAll))),
		cel.Function("regex_extract",
			cel.Overload("ferry_regex_extract_2", strs(2), str, cel.FunctionBinding(regexExtractDynamic)),
			cel.Overload("ferry_regex_extract_3", []*cel.Type{str, str, cel.IntType}, str, cel.FunctionBinding(regexExtractDynamic))),
		cel.Function("default",
			cel.Overload("ferry_default", strs(2), str, cel.BinaryBinding(defaultString))),
	)
}

// unaryTexts are the functions from one string to another. The CEL
// bindings and the native evaluators (see native.go) both call them, as
// they call the other *Text functions below: the functions are written
// once, in plain Go, and the CEL bindings only convert values.
var unaryTexts = map[string]func(string) string{
	"trim":  strings.TrimSpace,
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
}

// unaryString declares a function from string to string.
func unaryString(name string, fn func(string) string) cel.EnvOption {
	return cel.Function(name, cel.Overload("ferry_"+name, []*cel.Type{cel.StringType}, cel.StringType,
		cel.UnaryBinding(func(v ref.Val) ref.Val {
			s, ok := v.(types.String)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return types.String(fn(string(s)))
		})))
}

// stringArgs converts the arguments of a function to Go strings, appended
// to dst.
func stringArgs(dst []string, args []ref.Val) ([]string, ref.Val) {
	for _, a := range args {
		s, ok := a.(types.String)
		if !ok {
			return nil, types.MaybeNoSuchOverloadErr(a)
		}
		dst = append(dst, string(s))
	}
	return dst, nil
}

func concatStrings(args ...ref.Val) ref.Val {
	var buf [maxVariadic]string
	ss, errVal := stringArgs(buf[:0], args)
	if errVal != nil {
		return errVal
	}
	return result(concatText(ss))
}

// concatText joins ss.
func concatText(ss []string) (string, error) {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	if n > maxStringBytes {
		return "", tooLong("concat", n)
	}
	return strings.Join(ss, ""), nil
}

func coalesceStrings(args ...ref.Val) ref.Val {
	var buf [maxVariadic]string
	ss, errVal := stringArgs(buf[:0], args)
	if errVal != nil {
		return errVal
	}
	return types.String(coalesceText(ss))
}

// coalesceText returns the first of ss that is not blank, unchanged, or "".
func coalesceText(ss []string) string {
	for _, s := range ss {
		if !blank(s) {
			return s
		}
	}
	return ""
}

func defaultString(s, d ref.Val) ref.Val {
	var buf [2]string
	ss, errVal := stringArgs(buf[:0], []ref.Val{s, d})
	if errVal != nil {
		return errVal
	}
	return types.String(defaultText(ss[0], ss[1]))
}

// defaultText returns s, or d when s is blank.
func defaultText(s, d string) string {
	if blank(s) {
		return d
	}
	return s
}

// blank reports whether s is empty or only white space.
func blank(s string) bool { return strings.TrimSpace(s) == "" }

func joinStrings(list, sep ref.Val) ref.Val {
	l, ok := list.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(list)
	}
	s, ok := sep.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(sep)
	}
	var b strings.Builder
	for it := l.Iterator(); it.HasNext() == types.True; {
		e, ok := it.Next().(types.String)
		if !ok {
			return types.NewErr("join takes a list of strings")
		}
		if b.Len() > 0 {
			b.WriteString(string(s))
		}
		b.WriteString(string(e))
		if b.Len() > maxStringBytes {
			return result("", tooLong("join", b.Len()))
		}
	}
	return types.String(b.String())
}

func splitString(s, sep ref.Val) ref.Val {
	var buf [2]string
	ss, errVal := stringArgs(buf[:0], []ref.Val{s, sep})
	if errVal != nil {
		return errVal
	}
	return types.NewStringList(types.DefaultTypeAdapter, strings.Split(ss[0], ss[1]))
}

// substring is substring(s, start) and substring(s, start, end).
func substring(args ...ref.Val) ref.Val {
	s, ok := args[0].(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(args[0])
	}
	start, ok := args[1].(types.Int)
	if !ok {
		return types.MaybeNoSuchOverloadErr(args[1])
	}
	var end types.Int
	if len(args) == 3 {
		if end, ok = args[2].(types.Int); !ok {
			return types.MaybeNoSuchOverloadErr(args[2])
		}
	}
	return result(substringText(string(s), int64(start), int64(end), len(args) == 3))
}

// substringText cuts s by character positions, 0-based with end exclusive;
// without an end (hasEnd false), to the end of s.
func substringText(s string, start, end int64, hasEnd bool) (string, error) {
	n := int64(utf8.RuneCountInString(s))
	if !hasEnd {
		end = n
	}
	if start < 0 || start > n {
		return "", fmt.Errorf("substring start %d is out of range for a string of length %d", start, n)
	}
	if end < start || end > n {
		return "", fmt.Errorf("substring end %d is out of range for a string of length %d and start %d", end, n, start)
	}
	return s[byteOffset(s, int(start)):byteOffset(s, int(end))], nil
}

// byteOffset returns the byte offset of the character at position pos.
func byteOffset(s string, pos int) int {
	i := 0
	for off := range s {
		if i == pos {
			return off
		}
		i++
	}
	return len(s)
}

func replaceAll(args ...ref.Val) ref.Val {
	var buf [3]string
	ss, errVal := stringArgs(buf[:0], args)
	if errVal != nil {
		return errVal
	}
	return result(replaceText(ss[0], ss[1], ss[2]))
}

// replaceText replaces every occurrence of old in s with repl.
func replaceText(s, old, repl string) (string, error) {
	if old == "" {
		return "", errors.New("replace needs text to replace: the second argument is empty")
	}
	if n := strings.Count(s, old); n > 0 && len(repl) > len(old) {
		if size := len(s) + n*(len(repl)-len(old)); size > maxStringBytes {
			return "", tooLong("replace", size)
		}
	}
	return strings.ReplaceAll(s, old, repl), nil
}

func tooLong(function string, n int) error {
	return fmt.Errorf("%s would build a string of %d bytes, more than the limit of %d", function, n, maxStringBytes)
}

// regexExtractDynamic is regex_extract with a pattern known only when the
// expression runs; a constant pattern is compiled once (see specialize.go).
func regexExtractDynamic(args ...ref.Val) ref.Val {
	s, ok := args[0].(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(args[0])
	}
	p, ok := args[1].(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(args[1])
	}
	re, err := compileRegex(string(p))
	if err != nil {
		return types.NewErr("%s", err.Error())
	}
	return regexExtract(s, re, args[2:])
}

// regexExtract is regex_extract with a compiled pattern and the group
// argument, if any.
func regexExtract(s types.String, re *regexp.Regexp, groupArg []ref.Val) ref.Val {
	group := defaultGroup(re)
	if len(groupArg) == 1 {
		g, ok := groupArg[0].(types.Int)
		if !ok {
			return types.MaybeNoSuchOverloadErr(groupArg[0])
		}
		if err := checkGroup(re, int64(g)); err != nil {
			return types.NewErr("%s", err.Error())
		}
		group = int(g)
	}
	return types.String(regexExtractText(string(s), re, group))
}

// defaultGroup is the group regex_extract returns without a group
// argument: group 1 when the pattern has groups, else the whole match.
func defaultGroup(re *regexp.Regexp) int {
	if re.NumSubexp() > 0 {
		return 1
	}
	return 0
}

// regexExtractText returns capture group group (checked by checkGroup) of
// the first match of re in s, or "" when nothing matches.
func regexExtractText(s string, re *regexp.Regexp, group int) string {
	m := re.FindStringSubmatchIndex(s)
	if m == nil || m[2*group] < 0 {
		return ""
	}
	return s[m[2*group]:m[2*group+1]]
}

// compileRegex compiles an RE2 pattern with an error that names it.
func compileRegex(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		reason := err.Error()
		if se, ok := err.(*syntax.Error); ok {
			reason = se.Code.String()
			if se.Expr != "" && se.Expr != pattern {
				reason += " in " + fmt.Sprintf("%q", se.Expr)
			}
		}
		return nil, fmt.Errorf("regex_extract pattern %q is not a valid regular expression: %s", pattern, reason)
	}
	return re, nil
}

// checkGroup checks that a capture group number exists in the pattern.
func checkGroup(re *regexp.Regexp, g int64) error {
	if g < 0 || g > int64(re.NumSubexp()) {
		return fmt.Errorf("regex_extract group %d does not exist: the pattern %q has %d capture groups (0 is the whole match)", g, re.String(), re.NumSubexp())
	}
	return nil
}
