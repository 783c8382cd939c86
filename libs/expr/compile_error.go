package expr

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
)

// Issue is one problem in an expression's text.
type Issue struct {
	// Line and Column locate the problem, from 1; Column counts characters.
	Line, Column int
	Message      string
}

// CompileError reports why an expression does not compile.
type CompileError struct {
	// Line, Column and Message describe the first problem.
	Line, Column int
	Message      string
	// Issues lists every problem, the first one included, in the order
	// they were found.
	Issues []Issue
}

// Error returns one line per problem, such as
// `line 1, column 7: undeclared reference to 'uper'`.
func (e *CompileError) Error() string {
	lines := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		lines[i] = fmt.Sprintf("line %d, column %d: %s", is.Line, is.Column, is.Message)
	}
	return strings.Join(lines, "\n")
}

func newCompileError(issues []Issue) *CompileError { return NewCompileError(issues) }

// NewCompileError reports issues (at least one); the first is the error's
// position. Packages that compile other CEL dialects (selection) report
// their problems with it, so that every compile error reads alike.
func NewCompileError(issues []Issue) *CompileError {
	return &CompileError{Line: issues[0].Line, Column: issues[0].Column, Message: issues[0].Message, Issues: issues}
}

// CleanMessage is a CEL issue message as Ferry shows it: without CEL's
// container note, with operators written as they are in the text.
func CleanMessage(msg string) string {
	msg = strings.ReplaceAll(msg, " (in container '')", "")
	return quotedName.ReplaceAllStringFunc(msg, func(q string) string { return "'" + DisplayName(q[1:len(q)-1]) + "'" })
}

// quotedName matches a quoted function name in CEL's messages.
var quotedName = regexp.MustCompile(`'[^' ]+'`)

// DisplayName writes an operator's function name, such as _+_, as the
// operator is written, +.
func DisplayName(function string) string {
	if op, ok := operators.FindReverse(function); ok && op != "" {
		return op
	}
	switch function {
	case operators.Index:
		return "[]"
	case operators.Conditional:
		return "?:"
	}
	return function
}

// issuesError converts CEL's parse and check errors, keeping CEL's
// messages without its source snippets. CEL places an error in a function
// call at the opening parenthesis; it is moved to the function's name,
// where the reader looks for it.
func issuesError(src string, parsed *ast.AST, iss *cel.Issues) *CompileError {
	var calls map[int64]string
	if parsed != nil {
		calls = map[int64]string{}
		ast.PostOrderVisit(parsed.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
			if e.Kind() == ast.CallKind {
				calls[e.ID()] = e.AsCall().FunctionName()
			}
		}))
	}
	lines := strings.Split(src, "\n")
	var issues []Issue
	for _, e := range iss.Errors() {
		msg := CleanMessage(e.Message)
		line, col := e.Location.Line(), e.Location.Column()
		if name, ok := calls[e.ExprID]; ok {
			col = nameStart(lines, line, col, name)
		}
		issues = append(issues, Issue{Line: line, Column: col + 1, Message: msg})
	}
	if len(issues) == 0 {
		issues = []Issue{{Line: 1, Column: 1, Message: iss.Err().Error()}}
	}
	return newCompileError(issues)
}

// nameStart moves a 0-based column from the parenthesis of a call to the
// start of the function's name, when the name is written right before it.
func nameStart(lines []string, line, col int, name string) int {
	if line < 1 || line > len(lines) {
		return col
	}
	text, n := []rune(lines[line-1]), []rune(name)
	if start := col - len(n); start >= 0 && col <= len(text) && string(text[start:col]) == name {
		return start
	}
	return col
}
