// Package xref holds what the services share about cross-reference tables:
// how external values are compared (MatchKey), what a valid table is, and the
// client transform uses to fetch a table from the profile service.
package xref

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/errs"
)

// Limits of a table and of one request that writes entries.
const (
	// MaxValueLen is the longest external or internal value, in bytes.
	MaxValueLen = 4096
	// MaxEntriesPerRequest is the most entries one apply or load may carry.
	MaxEntriesPerRequest = 200_000
)

// nameRE is the rule for table names, the same as for dataset names.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// CheckName checks a table name: lowercase letters, digits and underscores,
// starting with a letter, at most 63 characters.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return errs.Invalid("cross-reference name %q: want lowercase letters, digits and underscores, starting with a letter, at most 63 characters", name)
	}
	return nil
}

// MatchKey is the form in which external values are compared. In a
// case-insensitive table that is the value without surrounding white space,
// Unicode case-folded, so "Gr 9" and " gr 9" are one value; otherwise it is
// the value exactly as written.
func MatchKey(caseInsensitive bool, s string) string {
	if !caseInsensitive {
		return s
	}
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			// A Caser keeps state between calls, so each call gets its own.
			return cases.Fold().String(s)
		}
	}
	// Folding ASCII is lowering it, without the allocation when nothing changes.
	return strings.ToLower(s)
}

// CheckEntries checks entries of a table (or of one request for it): external values
// are not empty and unique by MatchKey, values are valid UTF-8 without NUL
// and at most MaxValueLen bytes, and each internal value has at most one
// primary entry. Values are never changed.
func CheckEntries(table string, caseInsensitive bool, entries []*ferryv1.CrossReferenceEntry) error {
	seen := make(map[string]string, len(entries))
	primary := map[string]string{}
	for _, e := range entries {
		ext, in := e.GetExternal(), e.GetInternal()
		key := MatchKey(caseInsensitive, ext)
		if key == "" {
			if ext == "" {
				return errs.Invalid("cross-reference %q: an entry (internal value %q) has an empty external value", table, in)
			}
			return errs.Invalid("cross-reference %q: external value %q is only white space, which a case-insensitive table ignores", table, ext)
		}
		for _, v := range [...]struct{ what, s string }{{"external", ext}, {"internal", in}} {
			switch {
			case !utf8.ValidString(v.s):
				return errs.Invalid("cross-reference %q: %s value %q is not valid UTF-8", table, v.what, v.s)
			case strings.IndexByte(v.s, 0) >= 0:
				return errs.Invalid("cross-reference %q: %s value %q contains a NUL character", table, v.what, v.s)
			case len(v.s) > MaxValueLen:
				return errs.Invalid("cross-reference %q: %s value %.40q… is %d bytes long; at most %d are allowed", table, v.what, v.s, len(v.s), MaxValueLen)
			}
		}
		if first, dup := seen[key]; dup {
			if first == ext {
				return errs.Invalid("cross-reference %q: external value %q appears twice", table, ext)
			}
			return errs.Invalid("cross-reference %q: external values %q and %q are the same value in a case-insensitive table", table, first, ext)
		}
		seen[key] = ext
		if e.GetPrimary() {
			if other, dup := primary[in]; dup {
				return errs.Invalid("cross-reference %q: internal value %q has two primary external values, %q and %q; at most one may be primary", table, in, other, ext)
			}
			primary[in] = ext
		}
	}
	return nil
}

// Table is a cross-reference table held in memory for lookups from external
// to internal values. It is safe for concurrent use once built.
type Table struct {
	Name            string
	Version         int64
	CaseInsensitive bool
	internal        map[string]string
	// external maps an internal value to its external one for exports:
	// the primary entry, or the only one; "" marks one with several and no
	// primary.
	external  map[string]string
	primaries map[string]bool
}

// NewTable builds a table from its entries. Entries whose external values
// share a MatchKey overwrite each other; the profile service never stores such.
func NewTable(name string, caseInsensitive bool, version int64, entries []*ferryv1.CrossReferenceEntry) *Table {
	t := &Table{Name: name, Version: version, CaseInsensitive: caseInsensitive, internal: make(map[string]string, len(entries)),
		external: make(map[string]string, len(entries)), primaries: map[string]bool{}}
	t.add(entries)
	return t
}

func (t *Table) add(entries []*ferryv1.CrossReferenceEntry) {
	for _, e := range entries {
		t.internal[MatchKey(t.CaseInsensitive, e.GetExternal())] = e.GetInternal()
	}
	for _, e := range entries {
		in, ex := e.GetInternal(), e.GetExternal()
		switch prev, seen := t.external[in]; {
		case e.GetPrimary():
			t.external[in] = ex
			t.primaries[in] = true
		case t.primaries[in]:
		case !seen:
			t.external[in] = ex
		case prev != ex:
			t.external[in] = "" // several, none primary (yet)
		}
	}
}

// Reverse returns the external value of an internal one (exports): the
// primary entry's, or the only entry's. An internal value with several
// external values and none primary is an error, never a guess.
func (t *Table) Reverse(internal string) (external string, ok bool, err error) {
	external, ok = t.external[internal]
	if ok && external == "" {
		return "", true, fmt.Errorf("internal value %q has several external values in cross-reference table %q and none is primary", internal, t.Name)
	}
	return external, ok, nil
}

// Lookup returns the internal value of an external one, compared as the
// table compares them.
func (t *Table) Lookup(external string) (internal string, ok bool) {
	internal, ok = t.internal[MatchKey(t.CaseInsensitive, external)]
	return internal, ok
}

// Len is the number of entries.
func (t *Table) Len() int { return len(t.internal) }
