// Package catalog holds the rules for datasets and import profiles: what a
// valid definition is, and what changing one may do.
package catalog

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/formats/textenc"
	"github.com/ferrydata/ferry/libs/mapping"
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
	for i, r := range d.GetReferences() {
		if !nameRE.MatchString(r.GetDataset()) {
			return errs.Invalid("dataset %q reference %d: dataset name %q is not valid", d.GetName(), i+1, r.GetDataset())
		}
		if len(r.GetFields()) == 0 {
			return errs.Invalid("dataset %q reference %d to %q names no fields", d.GetName(), i+1, r.GetDataset())
		}
		for _, f := range r.GetFields() {
			if !seen[f] {
				return errs.Invalid("dataset %q reference %d to %q: %q is not a field", d.GetName(), i+1, r.GetDataset(), f)
			}
		}
	}
	return nil
}

// ValidateReference checks that a reference's fields match the key of the
// referenced dataset in number and type.
func ValidateReference(d *ferryv1.Dataset, r *ferryv1.Reference, target *ferryv1.Dataset) error {
	if len(r.GetFields()) != len(target.GetKey()) {
		return errs.Invalid("dataset %q: the reference to %q names %d fields, the key of %q has %d (%s)", d.GetName(), target.GetName(),
			len(r.GetFields()), target.GetName(), len(target.GetKey()), strings.Join(target.GetKey(), ", "))
	}
	types := map[string]ferryv1.FieldType{}
	for _, f := range d.GetFields() {
		types[f.GetName()] = f.GetType()
	}
	for _, f := range target.GetFields() {
		types[target.GetName()+"."+f.GetName()] = f.GetType()
	}
	for i, f := range r.GetFields() {
		k := target.GetKey()[i]
		if a, b := types[f], types[target.GetName()+"."+k]; a != b {
			return errs.Invalid("dataset %q: field %q is %s, but key field %q of %q is %s", d.GetName(), f, TypeName(a), k, target.GetName(), TypeName(b))
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
	if len(stored.GetReferences()) != len(want.GetReferences()) {
		c.Changed = true
	}
	for i := range want.GetReferences() {
		if i < len(stored.GetReferences()) && !proto.Equal(stored.GetReferences()[i], want.GetReferences()[i]) {
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
//
// tables are the tenant's cross-reference tables; nil skips that check.
func ValidateProfile(name string, spec *ferryv1.ImportProfileSpec, ds *ferryv1.Dataset, tables []string) (*ferryv1.ImportProfileSpec, error) {
	if !profileNameRE.MatchString(name) {
		return nil, errs.Invalid("profile name %q: want lowercase letters, digits, '-' and '_', starting with a letter", name)
	}
	s := proto.Clone(spec).(*ferryv1.ImportProfileSpec)
	if s.GetWriteMode() == ferryv1.WriteMode_WRITE_MODE_UNSPECIFIED {
		s.WriteMode = ferryv1.WriteMode_WRITE_MODE_UPSERT
	}
	if s.GetFormat() == ferryv1.FileFormat_FILE_FORMAT_UNSPECIFIED {
		s.Format = ferryv1.FileFormat_FILE_FORMAT_CSV
	}
	noHeader := false
	switch s.GetFormat() {
	case ferryv1.FileFormat_FILE_FORMAT_CSV:
		if s.Spreadsheet != nil {
			return nil, errs.Invalid("profile %q: spreadsheet settings need format xlsx or xls", name)
		}
		if err := defaultCSV(name, s); err != nil {
			return nil, err
		}
		noHeader = s.Csv.GetNoHeader()
	case ferryv1.FileFormat_FILE_FORMAT_XLSX, ferryv1.FileFormat_FILE_FORMAT_XLS:
		if s.Csv != nil {
			return nil, errs.Invalid("profile %q: csv settings need format csv", name)
		}
		if s.Spreadsheet == nil {
			s.Spreadsheet = &ferryv1.SpreadsheetFormat{}
		}
		sp := s.Spreadsheet
		if sp.SheetIndex < 0 || sp.HeaderRow < 0 {
			return nil, errs.Invalid("profile %q: sheet index and header row must not be negative", name)
		}
		if sp.Sheet == "" && sp.SheetIndex == 0 {
			sp.SheetIndex = 1
		}
		if sp.Sheet != "" && sp.SheetIndex != 0 {
			return nil, errs.Invalid("profile %q: name the sheet or give its index, not both", name)
		}
		if sp.HeaderRow == 0 && !sp.NoHeader {
			sp.HeaderRow = 1
		}
		noHeader = sp.NoHeader
	default:
		return nil, errs.Invalid("profile %q: unknown file format %v", name, s.GetFormat())
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
		switch {
		case m.GetColumn() == "" && m.GetColumnIndex() == 0 && m.GetExpr() == "":
			return nil, errs.Invalid("profile %q mapping %d: field %q has no column (a header name or a column index) and no expression", name, i+1, m.GetField())
		case len(m.GetAliases()) > 0 && m.GetColumn() == "":
			return nil, errs.Invalid("profile %q mapping %d: aliases of field %q need a column name", name, i+1, m.GetField())
		case m.GetColumn() != "" && m.GetColumnIndex() != 0:
			return nil, errs.Invalid("profile %q mapping %d: field %q has both a column name and a column index", name, i+1, m.GetField())
		case m.GetColumnIndex() < 0:
			return nil, errs.Invalid("profile %q mapping %d: column index %d must be 1 or more", name, i+1, m.GetColumnIndex())
		case noHeader && m.GetColumn() != "":
			return nil, errs.Invalid("profile %q mapping %d: the file has no header, so field %q needs a column index, not a column name", name, i+1, m.GetField())
		}
		if mapped[m.GetField()] {
			return nil, errs.Invalid("profile %q: field %q is mapped twice", name, m.GetField())
		}
		mapped[m.GetField()] = true
	}
	if noHeader && len(s.GetMappings()) == 0 {
		return nil, errs.Invalid("profile %q: the file has no header, so every field needs a mapping with a column index", name)
	}
	if len(s.GetMappings()) > 0 {
		for _, k := range ds.GetKey() {
			if !mapped[k] {
				return nil, errs.Invalid("profile %q: key field %q of dataset %q is not mapped", name, k, ds.GetName())
			}
		}
		for _, f := range ds.GetFields() {
			// A delete file lists keys only.
			if f.GetRequired() && !mapped[f.GetName()] && s.GetWriteMode() != ferryv1.WriteMode_WRITE_MODE_DELETE {
				return nil, errs.Invalid("profile %q: required field %q of dataset %q is not mapped", name, f.GetName(), ds.GetName())
			}
		}
	}
	if err := validatePolicies(name, s); err != nil {
		return nil, err
	}
	if err := validateSFTPSource(name, s.GetSftpSource()); err != nil {
		return nil, err
	}
	if err := validateImportTriggers(name, s); err != nil {
		return nil, err
	}
	if err := mapping.Check(s, ds, tables); err != nil {
		return nil, errs.Invalid("profile %q: %s", name, err.Error())
	}
	return s, nil
}

// validatePolicies checks the write mode, error policy and mirror guard.
func validatePolicies(name string, s *ferryv1.ImportProfileSpec) error {
	if _, ok := ferryv1.WriteMode_name[int32(s.GetWriteMode())]; !ok {
		return errs.Invalid("profile %q: unknown write mode %d", name, s.GetWriteMode())
	}
	if _, ok := ferryv1.HeaderMatch_name[int32(s.GetHeaderMatch())]; !ok {
		return errs.Invalid("profile %q: unknown header match %d", name, s.GetHeaderMatch())
	}
	ep := s.GetErrorPolicy()
	if ep.GetMaxRejectedRows() < 0 || ep.GetMaxRejectedPercent() < 0 || ep.GetMaxRejectedPercent() > 100 {
		return errs.Invalid("profile %q: errorPolicy limits must be at least 0, and a percentage at most 100", name)
	}
	if g := s.GetMirror().GetMaxChangePercent(); g != 0 {
		if s.GetWriteMode() != ferryv1.WriteMode_WRITE_MODE_MIRROR {
			return errs.Invalid("profile %q: mirror.maxChangePercent needs writeMode mirror", name)
		}
		if g < 0 || g > 100 {
			return errs.Invalid("profile %q: mirror.maxChangePercent must be between 0 and 100", name)
		}
	}
	for _, m := range s.GetMappings() {
		if m.GetBlankKeepsExisting() && s.GetWriteMode() == ferryv1.WriteMode_WRITE_MODE_INSERT_ONLY {
			return errs.Invalid("profile %q: field %q keeps blanks out, which an insert-only profile never needs", name, m.GetField())
		}
	}
	return nil
}

// validateSFTPSource checks what an SFTP source says by itself; that its
// connection is an SFTP destination is checked against the store.
func validateSFTPSource(name string, src *ferryv1.SFTPSource) error {
	if src == nil {
		return nil
	}
	where := fmt.Sprintf("profile %q: sftpSource", name)
	switch {
	case src.GetConnection() == "":
		return errs.Invalid("%s.connection is required: name the SFTP destination whose server and credentials to use", where)
	case src.GetPollIntervalSeconds() < 0:
		return errs.Invalid("%s.pollIntervalSeconds %d must not be negative (0 is every 60 seconds)", where, src.GetPollIntervalSeconds())
	}
	if _, ok := ferryv1.AfterImport_name[int32(src.GetAfterSuccess())]; !ok {
		return errs.Invalid("%s: unknown afterSuccess %d", where, src.GetAfterSuccess())
	}
	if g := src.GetGlob(); g != "" {
		if strings.Contains(g, "/") {
			return errs.Invalid("%s.glob %q matches file names; it must not contain '/'", where, g)
		}
		if _, err := path.Match(g, ""); err != nil {
			return errs.Invalid("%s.glob %q is not a valid pattern: %v", where, g, err)
		}
	}
	for _, d := range []struct{ key, v string }{{"directory", src.GetDirectory()}, {"archiveDirectory", src.GetArchiveDirectory()}, {"errorDirectory", src.GetErrorDirectory()}} {
		for _, seg := range strings.Split(d.v, "/") {
			if seg == ".." {
				return errs.Invalid("%s.%s %q has a \"..\" segment; it must stay under the connection's directory", where, d.key, d.v)
			}
		}
		if strings.ContainsAny(d.v, "\x00\\") {
			return errs.Invalid("%s.%s %q contains a NUL or a backslash", where, d.key, d.v)
		}
	}
	return nil
}

// defaultCSV checks a CSV profile's dialect and fills in its defaults, so
// that the stored spec says exactly how the file is read.
func defaultCSV(name string, s *ferryv1.ImportProfileSpec) error {
	if s.Csv == nil {
		s.Csv = &ferryv1.CSVFormat{}
	}
	c := s.Csv
	if c.Delimiter == "" {
		c.Delimiter = ","
	}
	if c.Quote == "" {
		c.Quote = "\""
	}
	for what, v := range map[string]string{"delimiter": c.Delimiter, "quote": c.Quote} {
		if len(v) != 1 || v == "\n" || v == "\r" {
			return errs.Invalid("profile %q: %s %q must be one single-byte character other than a line break", name, what, v)
		}
	}
	if c.Delimiter == c.Quote {
		return errs.Invalid("profile %q: the delimiter and the quote are both %q", name, c.Delimiter)
	}
	if v := c.Comment; v != "" && (len(v) != 1 || v == c.Delimiter || v == c.Quote || v == "\n" || v == "\r") {
		return errs.Invalid("profile %q: comment %q must be one single-byte character other than the delimiter, the quote or a line break", name, v)
	}
	if c.Escape == ferryv1.CSVEscape_CSV_ESCAPE_UNSPECIFIED {
		c.Escape = ferryv1.CSVEscape_CSV_ESCAPE_DOUBLED
	}
	if c.InvalidBytes == ferryv1.InvalidBytes_INVALID_BYTES_UNSPECIFIED {
		c.InvalidBytes = ferryv1.InvalidBytes_INVALID_BYTES_REJECT_ROW
	}
	if c.HeaderRow < 0 {
		return errs.Invalid("profile %q: header row %d must not be negative", name, c.HeaderRow)
	}
	if c.NoHeader && c.HeaderRow > 0 {
		return errs.Invalid("profile %q: a file without header has no header row", name)
	}
	if c.HeaderRow == 0 && !c.NoHeader {
		c.HeaderRow = 1
	}
	enc, err := textenc.Lookup(c.Encoding)
	if err != nil {
		return errs.Invalid("profile %q: %v", name, err)
	}
	c.Encoding = enc.Name()
	return nil
}
