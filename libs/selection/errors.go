package selection

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/cel-go/cel"

	"github.com/ferrydata/ferry/libs/expr"
)

// Issue is one problem in a selection's text; Column counts characters.
type Issue = expr.Issue

// CompileError reports why a selection does not compile: one line per
// problem, such as
// `line 1, column 1: unknown field "grde" (did you mean "grade"?)`.
type CompileError = expr.CompileError

func newCompileError(issues []Issue) *CompileError { return expr.NewCompileError(issues) }

// wrapperType matches CEL's name of a nullable field type.
var wrapperType = regexp.MustCompile(`wrapper\((\w+)\)`)

// celIssues converts CEL's parse and check errors, keeping CEL's messages
// without its source snippets, with operators written as they are in the
// text and nullable types by their plain names.
func celIssues(iss *cel.Issues) *CompileError {
	var issues []Issue
	for _, e := range iss.Errors() {
		msg := wrapperType.ReplaceAllString(expr.CleanMessage(e.Message), "$1")
		line, col := e.Location.Line(), e.Location.Column()+1
		if line <= 0 {
			line, col = 1, 1
		}
		issues = append(issues, Issue{Line: line, Column: col, Message: msg})
	}
	if len(issues) == 0 {
		issues = []Issue{{Line: 1, Column: 1, Message: iss.Err().Error()}}
	}
	return newCompileError(issues)
}

// closest returns the name among names nearest to name, or "" when none
// is within two edits (or differs only in case).
func closest(name string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		d := distance(strings.ToLower(name), strings.ToLower(n))
		if d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, in characters.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// unknownField describes a name that is not a field of the dataset.
func unknownField(name string, names []string) string {
	if c := closest(name, names); c != "" {
		return fmt.Sprintf("unknown field %q (did you mean %q?)", name, c)
	}
	return fmt.Sprintf("unknown field %q", name)
}
