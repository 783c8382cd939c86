package secrets

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[redacted]"

// Secret is a string that never prints. String, GoString, Format (every verb),
// MarshalJSON, MarshalText and LogValue give "[redacted]", or "" when the
// secret is empty. Reveal returns the value.
//
// The value sits behind a pointer, so even a Secret in an unexported struct
// field, which fmt prints by reflection, shows only an address. For the same
// reason == compares identity, not values; compare Reveal results instead.
type Secret struct {
	// A pointer to a string, not to a struct: fmt prints it as an address
	// at any depth and for any verb.
	v *string
}

// NewSecret wraps s. An empty s gives the zero Secret.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{v: &s}
}

// Reveal returns the value.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsSet reports whether the secret is not empty.
func (s Secret) IsSet() bool { return s.v != nil && *s.v != "" }

func (s Secret) mask() string {
	if !s.IsSet() {
		return ""
	}
	return redacted
}

// String returns "[redacted]", or "" when the secret is empty.
func (s Secret) String() string { return s.mask() }

// GoString returns "[redacted]", or "" when the secret is empty.
func (s Secret) GoString() string { return s.mask() }

// Format writes "[redacted]", or nothing when the secret is empty, whatever the
// verb and flags.
func (s Secret) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, s.mask()) }

// MarshalJSON returns the JSON string "[redacted]", or "" when the secret is
// empty.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.mask() + `"`), nil }

// MarshalText returns "[redacted]", or "" when the secret is empty.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mask()), nil }

// LogValue returns "[redacted]", or "" when the secret is empty.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.mask()) }
