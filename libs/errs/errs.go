// Package errs gives domain errors a kind and turns kinds into gRPC status codes.
// It is the only place where that mapping lives.
package errs

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kind classifies an error for callers and for the API.
type Kind int

// The kinds of error.
const (
	KindUnknown Kind = iota
	KindNotFound
	KindInvalid
	KindConflict
	KindPermission
	KindUnauthenticated
	KindUnavailable
	KindFailedPrecondition
)

// Error is an error with a kind and a message meant for the caller.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func newf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// NotFound says that something the caller named does not exist (or is not theirs).
func NotFound(format string, args ...any) error { return newf(KindNotFound, format, args...) }

// Invalid says that the caller's input is wrong.
func Invalid(format string, args ...any) error { return newf(KindInvalid, format, args...) }

// Conflict says that the thing already exists or changed underneath.
func Conflict(format string, args ...any) error { return newf(KindConflict, format, args...) }

// Permission says that the caller may not do this.
func Permission(format string, args ...any) error { return newf(KindPermission, format, args...) }

// Unauthenticated says that the caller's credential is missing or wrong.
func Unauthenticated(format string, args ...any) error {
	return newf(KindUnauthenticated, format, args...)
}

// FailedPrecondition says that the system is not in a state that allows this.
func FailedPrecondition(format string, args ...any) error {
	return newf(KindFailedPrecondition, format, args...)
}

// Unavailable wraps a transient infrastructure error.
func Unavailable(err error, format string, args ...any) error {
	return &Error{Kind: KindUnavailable, Msg: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the kind of the first *Error in err's chain.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// Is reports whether err has kind k.
func Is(err error, k Kind) bool { return KindOf(err) == k }

var kindCodes = map[Kind]codes.Code{
	KindNotFound:           codes.NotFound,
	KindInvalid:            codes.InvalidArgument,
	KindConflict:           codes.AlreadyExists,
	KindPermission:         codes.PermissionDenied,
	KindUnauthenticated:    codes.Unauthenticated,
	KindUnavailable:        codes.Unavailable,
	KindFailedPrecondition: codes.FailedPrecondition,
}

// Code returns the gRPC code for err.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	if c, ok := kindCodes[KindOf(err)]; ok {
		return c
	}
	return codes.Internal
}

// FromCode builds an error of the kind that matches a gRPC code.
func FromCode(c codes.Code, msg string) error {
	for k, kc := range kindCodes {
		if kc == c {
			return &Error{Kind: k, Msg: msg}
		}
	}
	return errors.New(msg)
}

// ToStatus converts err into a gRPC status error. Errors of unknown kind become
// Internal with a generic message, so internals never leak to callers.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	c := Code(err)
	if c == codes.Internal {
		return status.Error(c, "internal error")
	}
	return status.Error(c, err.Error())
}
