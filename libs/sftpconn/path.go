package sftpconn

import (
	"fmt"
	"path"
	"strings"
)

// Confine joins base, a relative directory (from a template, already
// filled in) and a file name into the directory and name to upload to. It
// refuses anything that could leave base: a ".." segment or an absolute
// path in dir; an empty name, "." or "..", or a name with "/"; a NUL or
// other control character or a backslash (a separator on Windows servers)
// anywhere. base must be absolute or a clean relative path. The refusal is
// a Permanent error naming the offending input. Paths are POSIX paths.
func Confine(base, dir, name string) (string, string, error) {
	const op = "confine"
	switch {
	case base == "":
		return "", "", permanent(op, `base directory is empty (use "." for the login directory)`, nil)
	case hasControl(base):
		return "", "", permanent(op, fmt.Sprintf("base directory %q contains a control character", base), nil)
	case !path.IsAbs(base) && (path.Clean(base) != base || base == ".." || strings.HasPrefix(base, "../")):
		return "", "", permanent(op, fmt.Sprintf("base directory %q must be absolute or a clean relative path", base), nil)
	}
	switch {
	case hasControl(dir):
		return "", "", permanent(op, fmt.Sprintf("directory %q contains a control character", dir), nil)
	case strings.Contains(dir, `\`):
		return "", "", permanent(op, fmt.Sprintf("directory %q contains a backslash", dir), nil)
	case path.IsAbs(dir):
		return "", "", permanent(op, fmt.Sprintf("directory %q is absolute; it must be relative to the base", dir), nil)
	}
	for _, seg := range strings.Split(dir, "/") {
		if seg == ".." {
			return "", "", permanent(op, fmt.Sprintf("directory %q has a \"..\" segment", dir), nil)
		}
	}
	if err := checkName(op, name); err != nil {
		return "", "", err
	}
	return path.Join(base, dir), name, nil
}

// checkName refuses a file name that is not a single plain path segment.
func checkName(op, name string) error {
	switch {
	case name == "":
		return permanent(op, "file name is empty", nil)
	case name == "." || name == "..":
		return permanent(op, fmt.Sprintf("file name %q is not a file", name), nil)
	case strings.Contains(name, "/"):
		return permanent(op, fmt.Sprintf("file name %q contains a slash", name), nil)
	case strings.Contains(name, `\`):
		return permanent(op, fmt.Sprintf("file name %q contains a backslash", name), nil)
	case hasControl(name):
		return permanent(op, fmt.Sprintf("file name %q contains a control character", name), nil)
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// Sanitize makes a value substituted into a path template (a dataset name,
// a run id, a date) safe inside one path segment: '/', '\\', NUL and other
// control characters become '_', and a value starting with "." (so also
// "." and "..") gets a leading '_', which also keeps it from being hidden.
func Sanitize(v string) string {
	b := []byte(v)
	for i, c := range b {
		if c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] == '.' {
		return "_" + string(b)
	}
	return string(b)
}
