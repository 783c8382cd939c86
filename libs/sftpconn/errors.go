package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Class says whether retrying an operation can help.
type Class int

// The classes of error.
const (
	// Transient errors may go away on their own: the connection was refused,
	// reset or timed out, the server failed a write (a full disk looks the
	// same), or the size after upload did not match. The caller retries.
	Transient Class = iota
	// Permanent errors need a person: authentication refused, host key
	// mismatch or no pin, a path outside the base, an existing target when
	// overwriting is off, a bad configuration or key. The caller fails at once.
	Permanent
)

func (c Class) String() string {
	if c == Permanent {
		return "permanent"
	}
	return "transient"
}

// Sentinel errors, wrapped inside *Error so that errors.Is finds them.
var (
	// ErrHostKeyMismatch says the server presented a key other than the pinned one.
	ErrHostKeyMismatch = errors.New("host key mismatch")
	// ErrAuth says the server refused the credentials.
	ErrAuth = errors.New("authentication refused")
)

// Error is an SFTP failure with its class.
type Error struct {
	Class Class
	Op    string // "dial", "upload", "probe", "config", "confine"...
	Msg   string
	Err   error
}

func (e *Error) Error() string {
	s := "sftp " + e.Op + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err: the class of the first *Error in its
// chain, Transient for anything else.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Transient
}

func permanent(op, msg string, err error) *Error {
	return &Error{Class: Permanent, Op: op, Msg: msg, Err: err}
}

func transient(op, msg string, err error) *Error {
	return &Error{Class: Transient, Op: op, Msg: msg, Err: err}
}

// classify wraps an error from the SFTP layer. Missing files, refused
// permissions and unsupported operations are Permanent; SSH_FX_FAILURE is
// ambiguous (a full disk among others) and, like connection trouble, Transient.
func classify(ctx context.Context, op, msg string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if ctx != nil && ctx.Err() != nil {
		return transient(op, msg, context.Cause(ctx))
	}
	var st *sftp.StatusError
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission),
		errors.Is(err, syscall.ENOTDIR):
		return permanent(op, msg, err)
	case errors.As(err, &st):
		switch st.FxCode() {
		case sftp.ErrSSHFxNoSuchFile, sftp.ErrSSHFxPermissionDenied, sftp.ErrSSHFxOpUnsupported:
			return permanent(op, msg, err)
		}
	}
	return transient(op, msg, err)
}

// classifyDial sorts an error from dialling, the SSH handshake or starting
// the SFTP subsystem.
func classifyDial(ctx context.Context, addr string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var neg *ssh.AlgorithmNegotiationError
	switch {
	case errors.As(err, &neg):
		if neg.What == "host key" {
			return permanent("dial", fmt.Sprintf("%s offers no host key of the pinned type", addr), fmt.Errorf("%w: %w", ErrHostKeyMismatch, err))
		}
		return permanent("dial", fmt.Sprintf("%s shares no %s algorithm with us", addr, neg.What), err)
	case isAuthError(err):
		return permanent("dial", fmt.Sprintf("log in to %s", addr), fmt.Errorf("%w: %w", ErrAuth, err))
	case strings.Contains(err.Error(), "subsystem request failed"):
		return permanent("dial", fmt.Sprintf("%s does not offer the sftp subsystem", addr), err)
	}
	if ctx.Err() != nil {
		return transient("dial", addr, context.Cause(ctx))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return transient("dial", fmt.Sprintf("%s timed out", addr), err)
	}
	if errors.Is(err, io.EOF) {
		return transient("dial", fmt.Sprintf("%s closed the connection", addr), err)
	}
	return transient("dial", addr, err)
}

// isAuthError recognises the ways x/crypto/ssh and OpenSSH report refused
// credentials; x/crypto/ssh has no typed error for them.
func isAuthError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unable to authenticate") ||
		strings.Contains(s, "Too many authentication failures") ||
		strings.Contains(s, "no supported methods remain")
}
