package catalog

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/expr"
	"github.com/ferrydata/ferry/libs/formats/filename"
	"github.com/ferrydata/ferry/libs/formats/textenc"
	"github.com/ferrydata/ferry/libs/values"
)

// DefaultFileName is the file name template of a profile that sets none.
const DefaultFileName = "{profile}_{date:20060102T150405Z}_{run}"

// ValidateTemplate checks a template and returns it normalised.
func ValidateTemplate(name string, spec *ferryv1.TemplateSpec) (*ferryv1.TemplateSpec, error) {
	if !nameRE.MatchString(name) && !profileNameRE.MatchString(name) {
		return nil, errs.Invalid("template name %q: want lowercase letters, digits, '-' and '_', starting with a letter", name)
	}
	s := proto.Clone(spec).(*ferryv1.TemplateSpec)
	if len(s.GetColumns()) == 0 {
		return nil, errs.Invalid("template %q has no columns", name)
	}
	seen := map[string]bool{}
	for i, c := range s.GetColumns() {
		where := fmt.Sprintf("template %q column %d", name, i+1)
		switch {
		case c.GetHeader() == "":
			return nil, errs.Invalid("%s has no header", where)
		case seen[c.GetHeader()]:
			return nil, errs.Invalid("%s: header %q appears twice", where, c.GetHeader())
		case strings.ContainsAny(c.GetHeader(), "\x00\r\n"):
			return nil, errs.Invalid("%s: header %q has a line break or NUL", where, c.GetHeader())
		case (c.GetField() == "") == (c.GetExpr() == ""):
			return nil, errs.Invalid("%s (%s): give a field or an expr, not both and not neither", where, c.GetHeader())
		}
		seen[c.GetHeader()] = true
		if c.GetExpr() != "" {
			if _, err := expr.Compile(c.GetExpr(), expr.Options{Fields: true}); err != nil {
				return nil, errs.Invalid("%s (%s): expression %s", where, c.GetHeader(), err)
			}
		}
		if c.GetDateFormat() != "" {
			if _, err := values.ParseLayout(c.GetDateFormat()); err != nil {
				return nil, errs.Invalid("%s (%s): %s", where, c.GetHeader(), err)
			}
		}
		if d := c.GetDecimalSeparator(); d != "" && utf8.RuneCountInString(d) != 1 {
			return nil, errs.Invalid("%s (%s): decimal separator %q must be one character", where, c.GetHeader(), d)
		}
		if (c.GetTrueWord() == "") != (c.GetFalseWord() == "") {
			return nil, errs.Invalid("%s (%s): give both trueWord and falseWord", where, c.GetHeader())
		}
	}
	return s, nil
}

// ValidateExportProfile checks what an export profile says by itself and
// fills in defaults. What depends on other resources (dataset, template,
// fields, selection) is its validity, computed when it is read.
func ValidateExportProfile(name string, spec *ferryv1.ExportProfileSpec) (*ferryv1.ExportProfileSpec, error) {
	if !profileNameRE.MatchString(name) {
		return nil, errs.Invalid("export profile name %q: want lowercase letters, digits, '-' and '_', starting with a letter", name)
	}
	s := proto.Clone(spec).(*ferryv1.ExportProfileSpec)
	if s.GetFormat() == ferryv1.ExportFormat_EXPORT_FORMAT_UNSPECIFIED {
		s.Format = ferryv1.ExportFormat_EXPORT_FORMAT_CSV
	}
	if s.GetStatus() == ferryv1.ProfileStatus_PROFILE_STATUS_UNSPECIFIED {
		s.Status = ferryv1.ProfileStatus_PROFILE_STATUS_DRAFT
	}
	if s.GetMode() == ferryv1.ExportMode_EXPORT_MODE_UNSPECIFIED {
		s.Mode = ferryv1.ExportMode_EXPORT_MODE_FULL
	}
	if s.GetDeletions() == ferryv1.Deletions_DELETIONS_UNSPECIFIED {
		s.Deletions = ferryv1.Deletions_DELETIONS_OMIT
	}
	if s.GetUnencodable() == ferryv1.Unencodable_UNENCODABLE_UNSPECIFIED {
		s.Unencodable = ferryv1.Unencodable_UNENCODABLE_FAIL
	}
	if s.GetFileName() == "" {
		s.FileName = DefaultFileName
	}
	if s.GetMaxRows() < 0 {
		return nil, errs.Invalid("export profile %q: maxRows must not be negative", name)
	}
	if err := validateBundle(name, s); err != nil {
		return nil, err
	}
	if err := validateDestinationList(name, s.GetDestinations()); err != nil {
		return nil, err
	}
	if err := validateExportTriggers(name, s.GetTriggers()); err != nil {
		return nil, err
	}
	if s.GetMode() == ferryv1.ExportMode_EXPORT_MODE_FULL && (s.GetDeltaFiles() || s.GetDeletions() != ferryv1.Deletions_DELETIONS_OMIT) {
		return nil, errs.Invalid("export profile %q: deletions and deltaFiles need mode incremental", name)
	}
	if s.GetDeltaFiles() && s.GetDeletions() == ferryv1.Deletions_DELETIONS_TOMBSTONES {
		return nil, errs.Invalid("export profile %q: deltaFiles write removed rows as their own file; deletions tombstones does not apply", name)
	}
	if s.GetFormat() == ferryv1.ExportFormat_EXPORT_FORMAT_CSV {
		if s.Csv == nil {
			s.Csv = &ferryv1.ExportCSV{}
		}
		c := s.Csv
		if c.Delimiter == "" {
			c.Delimiter = ","
		}
		if c.LineEnding == "" {
			c.LineEnding = "crlf"
		}
		if c.Encoding == "" {
			c.Encoding = "utf-8"
		}
		c.Encoding = strings.ToLower(c.Encoding)
		switch {
		case len(c.Delimiter) != 1 || c.Delimiter == "\"" || c.Delimiter == "\r" || c.Delimiter == "\n":
			return nil, errs.Invalid("export profile %q: delimiter %q must be one single-byte character other than a quote or a line break", name, c.Delimiter)
		case c.LineEnding != "crlf" && c.LineEnding != "lf":
			return nil, errs.Invalid("export profile %q: lineEnding %q: want crlf or lf", name, c.LineEnding)
		case !slices.Contains(textenc.Names(), c.Encoding):
			return nil, errs.Invalid("export profile %q: encoding %q is not one Ferry writes (%s)", name, c.Encoding, strings.Join(textenc.Names(), ", "))
		case c.Bom && !strings.HasPrefix(c.Encoding, "utf-"):
			return nil, errs.Invalid("export profile %q: encoding %s has no byte-order mark", name, c.Encoding)
		}
	} else if s.Csv != nil {
		return nil, errs.Invalid("export profile %q: csv settings need format csv", name)
	}
	if _, err := filename.Fill(s.GetFileName(), "p", "d", "00000000-0000-0000-0000-000000000000", 1, time.Unix(0, 0), ""); err != nil {
		return nil, errs.Invalid("export profile %q: %s", name, err)
	}
	return s, nil
}

// validateBundle checks the entries of a database export.
func validateBundle(name string, s *ferryv1.ExportProfileSpec) error {
	if len(s.GetBundle()) == 0 {
		if s.GetZip() {
			return errs.Invalid("export profile %q: zip needs a bundle of datasets", name)
		}
		return nil
	}
	if s.GetDataset() != "" || s.GetSelection() != "" || s.GetTemplate() != "" || len(s.GetSort()) > 0 || s.GetMaxRows() != 0 {
		return errs.Invalid("export profile %q: with a bundle, give dataset, selection, sort, maxRows and template per entry", name)
	}
	if s.GetDeltaFiles() || s.GetDeletions() != ferryv1.Deletions_DELETIONS_OMIT {
		return errs.Invalid("export profile %q: a bundle writes one file per dataset; deltaFiles and deletions other than omit do not apply", name)
	}
	names := map[string]int{}
	for i, e := range s.GetBundle() {
		where := fmt.Sprintf("export profile %q bundle entry %d", name, i+1)
		switch {
		case e.GetDataset() == "":
			return errs.Invalid("%s names no dataset", where)
		case e.GetMaxRows() < 0:
			return errs.Invalid("%s: maxRows must not be negative", where)
		}
		if e.GetFileName() == "" {
			e.FileName = "{dataset}"
		}
		n, err := filename.Fill(e.GetFileName(), "p", e.GetDataset(), "00000000-0000-0000-0000-000000000000", 1, time.Unix(0, 0), "csv")
		if err != nil {
			return errs.Invalid("%s: %s", where, err)
		}
		if j, ok := names[n]; ok {
			return errs.Invalid("%s writes the same file name as entry %d (%s)", where, j, n)
		}
		names[n] = i + 1
	}
	return nil
}

// ValidateDestinationName checks the name of a destination.
func ValidateDestinationName(name string) error {
	if !profileNameRE.MatchString(name) {
		return errs.Invalid("destination name %q: want lowercase letters, digits, '-' and '_', starting with a letter, at most 63 characters", name)
	}
	return nil
}

// validateDestinationList checks the names an export profile delivers to:
// each a destination name, none twice. Whether they exist is the profile's
// validity, computed when it is read.
func validateDestinationList(name string, list []string) error {
	seen := map[string]bool{}
	for i, d := range list {
		switch {
		case d == "":
			return errs.Invalid("export profile %q: destination %d is empty", name, i+1)
		case !profileNameRE.MatchString(d):
			return errs.Invalid("export profile %q: destination %q is not a destination name", name, d)
		case seen[d]:
			return errs.Invalid("export profile %q: destination %q is listed twice", name, d)
		}
		seen[d] = true
	}
	return nil
}
