package xlsx

import (
	"errors"
	"fmt"
	"runtime/debug"
)

var (
	// ErrNotWorkbook is returned by Open for a file that is not an Excel
	// workbook: not a zip, a truncated zip, or a zip without a workbook part.
	ErrNotWorkbook = errors.New("not an Excel workbook")
	// ErrEncrypted is returned by Open for a password-protected workbook,
	// which Excel stores as an OLE2 compound file holding an EncryptionInfo
	// stream.
	ErrEncrypted = errors.New("the workbook is encrypted (password-protected); save it without a password")
	// ErrLegacyXLS is returned by Open for an Excel 97-2003 workbook, an OLE2
	// compound file holding a Workbook or Book stream.
	ErrLegacyXLS = errors.New("the file is an Excel 97-2003 workbook (.xls); save it as .xlsx")
	// ErrBinaryWorkbook is returned by Open for an Excel binary workbook
	// (.xlsb).
	ErrBinaryWorkbook = errors.New("the file is an Excel binary workbook (.xlsb); save it as .xlsx")
	// ErrMalformed is matched (errors.Is) by every error that says the
	// workbook breaks the rules of its format, including panics recovered
	// while reading it.
	ErrMalformed = errors.New("malformed workbook")
)

// malformedError says what is wrong with the workbook; it matches
// ErrMalformed.
type malformedError struct{ msg string }

func (e *malformedError) Error() string        { return e.msg }
func (e *malformedError) Is(target error) bool { return target == ErrMalformed }

func malformedf(format string, args ...any) error {
	return &malformedError{msg: fmt.Sprintf(format, args...)}
}

// PanicError is a panic recovered while reading a workbook. It matches
// ErrMalformed; its message is "malformed workbook: " and the panic value.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the stack trace of the panicking goroutine.
	Stack []byte
}

// Error returns "malformed workbook: " followed by the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("%v: %v", ErrMalformed, e.Value) }

// Is reports whether target is ErrMalformed.
func (e *PanicError) Is(target error) bool { return target == ErrMalformed }

// recoverTo turns a panic into a *PanicError stored in *err. It must be
// deferred directly.
func recoverTo(err *error) {
	if v := recover(); v != nil {
		*err = &PanicError{Value: v, Stack: debug.Stack()}
	}
}

// quote returns b quoted for an error message, cut to 40 bytes.
func quote(b []byte) string {
	const n = 40
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}
