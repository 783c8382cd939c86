// Package catalog holds the rules for datasets and import profiles: what a
// valid definition is, and what changing one may do.
package catalog

import (
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/errs"
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// profileNameRE also allows dashes: profile names are not SQL identifiers.
var profileNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// MaxFields bounds a dataset's width.
const MaxFields = 500

// ValidateDataset checks a dataset definition and returns it normalised
// (types defaulted never: a field without a type is an error).
func ValidateDataset(d *ferryv1.Dataset) error {
	if !nameRE.MatchString(d.GetName()) {
		return errs.Invalid("dataset name %q: want lowercase letters, digits and underscores, starting with a letter, at most 63 characters", d.GetName())
	}
	if len(d.GetFields()) == 0 {
		return errs.Invalid("dataset %q has no fields", d.GetName())
	}
	if len(d.GetFields()) > MaxFields {
		return errs.Invalid("dataset %q has %d fields; at most %d are allowed", d.GetName(), len(d.GetFields()), MaxFields)
	}
	seen := map[string]bool{}
	for i, f := range d.GetFields() {
		if err := validateField(f); err != nil {
			return fmt.Errorf("dataset %q field %d: %w", d.GetName(), i+1, err)
		}
		if seen[f.GetName()] {
			return errs.Invalid("dataset %q: field %q appears twice", d.GetName(), f.GetName())
		}
		seen[f.GetName()] = true
	}
	if len(d.GetKey()) == 0 {
		return errs.Invalid("dataset %q has no key: name one or more fields that identify a row", d.GetName())
	}
	inKey := map[string]bool{}
	for _, k := range d.GetKey() {
		if !seen[k] {
			return errs.Invalid("dataset %q: key field %q is not a field", d.GetName(), k)
		}
		if inKey[k] {
			return errs.Invalid("dataset %q: key field %q appears twice", d.GetName(), k)
		}
		inKey[k] = true
	}
	for _, f := range d.GetFields() {
		if inKey[f.GetName()] && f.GetType() == ferryv1.FieldType_FIELD_TYPE_JSON {
			return errs.Invalid("dataset %q: json field %q cannot be part of the key", d.GetName(), f.GetName())
		}
	}
	return nil
}

func validateField(f *ferryv1.Field) error {
	if !nameRE.MatchString(f.GetName()) {
		return errs.Invalid("field name %q: want lowercase letters, digits and underscores, starting with a letter", f.GetName())
	}
	if strings.HasPrefix(f.GetName(), "_ferry") {
		return errs.Invalid("field name %q: names starting with _ferry are reserved", f.GetName())
	}
	if _, ok := ferryv1.FieldType_name[int32(f.GetType())]; !ok || f.GetType() == ferryv1.FieldType_FIELD_TYPE_UNSPECIFIED {
		return errs.Invalid("field %q has no type (string, integer, decimal, boolean, date, timestamp or json)", f.GetName())
	}
	return nil
}

// DatasetChange is what applying a wanted definition to a stored one does.
type DatasetChange struct {
	// Added are the fields to add.
	Added []*ferryv1.Field
	// Changed is true when the definition differs (fields added or flags changed).
	Changed bool
}

// DiffDataset compares a stored dataset with the wanted one. Fields may be
// added and required flags changed; removing a field, changing a type or the
// key is refused, because it would silently change or drop data.
func DiffDataset(stored, want *ferryv1.Dataset) (DatasetChange, error) {
	var c DatasetChange
	if !equalStrings(stored.GetKey(), want.GetKey()) {
		return c, errs.FailedPrecondition("dataset %q: the key cannot change (stored %v, wanted %v)", stored.GetName(), stored.GetKey(), want.GetKey())
	}
	wantBy := map[string]*ferryv1.Field{}
	for _, f := range want.GetFields() {
		wantBy[f.GetName()] = f
	}
	storedBy := map[string]*ferryv1.Field{}
	for _, f := range stored.GetFields() {
		storedBy[f.GetName()] = f
		w, ok := wantBy[f.GetName()]
		if !ok {
			return c, errs.FailedPrecondition("dataset %q: field %q cannot be removed", stored.GetName(), f.GetName())
		}
		if w.GetType() != f.GetType() {
			return c, errs.FailedPrecondition("dataset %q: field %q cannot change type from %s to %s", stored.GetName(), f.GetName(), TypeName(f.GetType()), TypeName(w.GetType()))
		}
		if w.GetRequired() != f.GetRequired() {
			c.Changed = true
		}
	}
	for _, f := range want.GetFields() {
		if _, ok := storedBy[f.GetName()]; !ok {
			c.Added = append(c.Added, f)
			c.Changed = true
		}
	}
	return c, nil
}

// TypeName is the lowercase name of a field type.
func TypeName(t ferryv1.FieldType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "FIELD_TYPE_"))
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ValidateProfile checks an import profile against its dataset and returns
// the spec with defaults filled in.
func ValidateProfile(name string, spec *ferryv1.ImportProfileSpec, ds *ferryv1.Dataset) (*ferryv1.ImportProfileSpec, error) {
	if !profileNameRE.MatchString(name) {
		return nil, errs.Invalid("profile name %q: want lowercase letters, digits, '-' and '_', starting with a letter", name)
	}
	s := proto.Clone(spec).(*ferryv1.ImportProfileSpec)
	if s.GetWriteMode() == ferryv1.WriteMode_WRITE_MODE_UNSPECIFIED {
		s.WriteMode = ferryv1.WriteMode_WRITE_MODE_UPSERT
	}
	if s.Csv == nil {
		s.Csv = &ferryv1.CSVFormat{}
	}
	if s.Csv.Delimiter == "" {
		s.Csv.Delimiter = ","
	}
	if d := s.Csv.Delimiter; len(d) != 1 || d == "\"" || d == "\n" || d == "\r" {
		return nil, errs.Invalid("profile %q: delimiter %q must be one single-byte character other than a quote or line break", name, d)
	}
	fields := map[string]bool{}
	for _, f := range ds.GetFields() {
		fields[f.GetName()] = true
	}
	mapped := map[string]bool{}
	for i, m := range s.GetMappings() {
		if !fields[m.GetField()] {
			return nil, errs.Invalid("profile %q mapping %d: dataset %q has no field %q", name, i+1, ds.GetName(), m.GetField())
		}
		if m.GetColumn() == "" {
			return nil, errs.Invalid("profile %q mapping %d: field %q has no column", name, i+1, m.GetField())
		}
		if mapped[m.GetField()] {
			return nil, errs.Invalid("profile %q: field %q is mapped twice", name, m.GetField())
		}
		mapped[m.GetField()] = true
	}
	if len(s.GetMappings()) > 0 {
		for _, k := range ds.GetKey() {
			if !mapped[k] {
				return nil, errs.Invalid("profile %q: key field %q of dataset %q is not mapped", name, k, ds.GetName())
			}
		}
		for _, f := range ds.GetFields() {
			if f.GetRequired() && !mapped[f.GetName()] {
				return nil, errs.Invalid("profile %q: required field %q of dataset %q is not mapped", name, f.GetName(), ds.GetName())
			}
		}
	}
	return s, nil
}
