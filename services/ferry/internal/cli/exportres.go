package cli

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/xref"
)

// templateSpec is the spec of a Template document.
type templateSpec struct {
	Columns []templateColumnSpec `json:"columns"`
}

type templateColumnSpec struct {
	Header           string `json:"header"`
	Field            string `json:"field,omitempty"`
	Expr             string `json:"expr,omitempty"`
	CrossReference   string `json:"crossReference,omitempty"`
	DateFormat       string `json:"dateFormat,omitempty"`
	DecimalSeparator string `json:"decimalSeparator,omitempty"`
	TrueWord         string `json:"trueWord,omitempty"`
	FalseWord        string `json:"falseWord,omitempty"`
}

// exportProfileSpec is the spec of an ExportProfile document.
type exportProfileSpec struct {
	Dataset       string         `json:"dataset,omitempty"`
	Selection     string         `json:"selection,omitempty"`
	Sort          []sortKeySpec  `json:"sort,omitempty"`
	MaxRows       int64          `json:"maxRows,omitempty"`
	Template      string         `json:"template,omitempty"`
	Format        string         `json:"format,omitempty"`
	CSV           *exportCSVSpec `json:"csv,omitempty"`
	FileName      string         `json:"fileName,omitempty"`
	Status        string         `json:"status,omitempty"`
	Mode          string         `json:"mode,omitempty"`
	Deletions     string         `json:"deletions,omitempty"`
	DeltaFiles    bool           `json:"deltaFiles,omitempty"`
	AllowFormulas bool           `json:"allowFormulas,omitempty"`
	Unencodable   string         `json:"unencodable,omitempty"`
	Bundle        []bundleSpec   `json:"bundle,omitempty"`
	Zip           bool           `json:"zip,omitempty"`
	Destinations  []string       `json:"destinations,omitempty"`
	Triggers      *triggersSpec  `json:"triggers,omitempty"`
}

// bundleSpec is one file of a database export.
type bundleSpec struct {
	Dataset   string        `json:"dataset"`
	Selection string        `json:"selection,omitempty"`
	Sort      []sortKeySpec `json:"sort,omitempty"`
	MaxRows   int64         `json:"maxRows,omitempty"`
	Template  string        `json:"template,omitempty"`
	FileName  string        `json:"fileName,omitempty"`
}

type sortKeySpec struct {
	Field      string `json:"field"`
	Descending bool   `json:"descending,omitempty"`
}

type exportCSVSpec struct {
	Delimiter  string `json:"delimiter,omitempty"`
	QuoteAll   bool   `json:"quoteAll,omitempty"`
	LineEnding string `json:"lineEnding,omitempty"`
	Encoding   string `json:"encoding,omitempty"`
	BOM        bool   `json:"bom,omitempty"`
}

// lineEndings are the values of spec.csv.lineEnding.
var lineEndings = []string{"crlf", "lf"}

// template validates a template spec and converts it.
func (d *decoder) template(name string, spec *templateSpec) *ferryv1.ApplyTemplateRequest {
	ts := &ferryv1.TemplateSpec{}
	if len(spec.Columns) == 0 {
		d.errorf("spec.columns", "missing: a template needs at least one column")
	}
	headers := map[string]int{}
	for i, c := range spec.Columns {
		path := fmt.Sprintf("spec.columns[%d]", i)
		if c.Header == "" {
			d.errorf(path+".header", "missing")
		} else if first, ok := headers[c.Header]; ok {
			d.errorf(path+".header", "%q is also the header of spec.columns[%d]", c.Header, first)
		} else {
			headers[c.Header] = i
		}
		switch {
		case c.Field == "" && c.Expr == "":
			d.errorf(path, "give field or expr")
		case c.Field != "" && c.Expr != "":
			d.errorf(path+".expr", "give field or expr, not both")
		case c.Field != "" && !fieldName.MatchString(c.Field):
			d.errorf(path+".field", "%q is not a valid field name (lowercase letters, digits and underscores, starting with a letter)", c.Field)
		}
		if c.CrossReference != "" && xref.CheckName(c.CrossReference) != nil {
			d.errorf(path+".crossReference", "%q is not a valid cross-reference name (lowercase letters, digits and underscores, starting with a letter, at most 63 characters)", c.CrossReference)
		}
		if c.DecimalSeparator != "" && utf8.RuneCountInString(c.DecimalSeparator) != 1 {
			d.errorf(path+".decimalSeparator", "%q is not one character", c.DecimalSeparator)
		}
		ts.Columns = append(ts.Columns, &ferryv1.TemplateColumn{Header: c.Header, Field: c.Field, Expr: c.Expr, CrossReference: c.CrossReference,
			DateFormat: c.DateFormat, DecimalSeparator: c.DecimalSeparator, TrueWord: c.TrueWord, FalseWord: c.FalseWord})
	}
	return &ferryv1.ApplyTemplateRequest{Name: name, Spec: ts}
}

// exportProfile validates an export profile spec and converts it. Settings
// that only make sense together (deletions and incremental mode, csv and
// format csv) are left to the server, which stores such a profile marked
// invalid and says why.
func (d *decoder) exportProfile(name string, spec *exportProfileSpec) *ferryv1.ApplyExportProfileRequest {
	es := &ferryv1.ExportProfileSpec{Dataset: spec.Dataset, Selection: spec.Selection, MaxRows: spec.MaxRows, Template: spec.Template,
		FileName: spec.FileName, DeltaFiles: spec.DeltaFiles, AllowFormulas: spec.AllowFormulas, Zip: spec.Zip, Destinations: spec.Destinations}
	seen := map[string]int{}
	for i, name := range spec.Destinations {
		path := fmt.Sprintf("spec.destinations[%d]", i)
		if name == "" {
			d.errorf(path, "empty")
		} else if j, ok := seen[name]; ok {
			d.errorf(path, "%q is also spec.destinations[%d]", name, j)
		}
		seen[name] = i
	}
	if spec.Dataset == "" && len(spec.Bundle) == 0 {
		d.errorf("spec.dataset", "missing (or give a bundle of datasets)")
	}
	for i, b := range spec.Bundle {
		path := fmt.Sprintf("spec.bundle[%d]", i)
		if b.Dataset == "" {
			d.errorf(path+".dataset", "missing")
		}
		if b.MaxRows < 0 {
			d.errorf(path+".maxRows", "must not be negative (0 is no limit)")
		}
		e := &ferryv1.BundleEntry{Dataset: b.Dataset, Selection: b.Selection, MaxRows: b.MaxRows, Template: b.Template, FileName: b.FileName}
		for _, k := range b.Sort {
			e.Sort = append(e.Sort, &ferryv1.SortKey{Field: k.Field, Descending: k.Descending})
		}
		es.Bundle = append(es.Bundle, e)
	}
	for i, k := range spec.Sort {
		path := fmt.Sprintf("spec.sort[%d].field", i)
		if k.Field == "" {
			d.errorf(path, "missing")
		} else if !fieldName.MatchString(k.Field) {
			d.errorf(path, "%q is not a valid field name (lowercase letters, digits and underscores, starting with a letter)", k.Field)
		}
		es.Sort = append(es.Sort, &ferryv1.SortKey{Field: k.Field, Descending: k.Descending})
	}
	if spec.MaxRows < 0 {
		d.errorf("spec.maxRows", "must not be negative (0 is no limit)")
	}
	es.Format = ferryv1.ExportFormat(d.enum("spec.format", "format", ferryv1.ExportFormat_value, ferryv1.ExportFormat_name, "EXPORT_FORMAT_", spec.Format))
	if c := spec.CSV; c != nil {
		es.Csv = &ferryv1.ExportCSV{Delimiter: c.Delimiter, QuoteAll: c.QuoteAll, LineEnding: c.LineEnding, Encoding: c.Encoding, Bom: c.BOM}
		if r, _ := utf8.DecodeRuneInString(c.Delimiter); c.Delimiter != "" && (len(c.Delimiter) != 1 || r == '\n' || r == '\r' || r == '"') {
			d.errorf("spec.csv.delimiter", "%q is not a valid delimiter (want one single-byte character other than a line break or a quote)", c.Delimiter)
		}
		if c.LineEnding != "" && !slices.Contains(lineEndings, c.LineEnding) {
			d.errorf("spec.csv.lineEnding", "unknown line ending %q (want one of: %s)", c.LineEnding, strings.Join(lineEndings, ", "))
		}
	}
	es.Status = ferryv1.ProfileStatus(d.enum("spec.status", "status", ferryv1.ProfileStatus_value, ferryv1.ProfileStatus_name, "PROFILE_STATUS_", spec.Status))
	es.Mode = ferryv1.ExportMode(d.enum("spec.mode", "mode", ferryv1.ExportMode_value, ferryv1.ExportMode_name, "EXPORT_MODE_", spec.Mode))
	es.Deletions = ferryv1.Deletions(d.enum("spec.deletions", "value", ferryv1.Deletions_value, ferryv1.Deletions_name, "DELETIONS_", spec.Deletions))
	es.Unencodable = ferryv1.Unencodable(d.enum("spec.unencodable", "value", ferryv1.Unencodable_value, ferryv1.Unencodable_name, "UNENCODABLE_", spec.Unencodable))
	es.Triggers = d.triggers("spec.triggers", spec.Triggers)
	return &ferryv1.ApplyExportProfileRequest{Name: name, Spec: es}
}

// enum parses the lowercase name of an enum value; empty is the zero value.
func (d *decoder) enum(path, what string, values map[string]int32, names map[int32]string, prefix, s string) int32 {
	if s == "" {
		return 0
	}
	n, ok := parseEnum(values, prefix, s)
	if !ok {
		d.errorf(path, "unknown %s %q (want one of: %s)", what, s, strings.Join(enumNames(names, prefix), ", "))
	}
	return n
}

// enumName is the lowercase name of an enum value without its prefix, or
// "" for the zero value.
func enumName(n int32, names map[int32]string, prefix string) string {
	if n == 0 {
		return ""
	}
	name, ok := names[n]
	if !ok {
		return fmt.Sprint(n)
	}
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}

// templateResource is the document form of a template.
func templateResource(t *ferryv1.Template) *resource {
	spec := &templateSpec{}
	for _, c := range t.GetSpec().GetColumns() {
		spec.Columns = append(spec.Columns, templateColumnSpec{Header: c.GetHeader(), Field: c.GetField(), Expr: c.GetExpr(),
			CrossReference: c.GetCrossReference(), DateFormat: c.GetDateFormat(), DecimalSeparator: c.GetDecimalSeparator(),
			TrueWord: c.GetTrueWord(), FalseWord: c.GetFalseWord()})
	}
	return &resource{APIVersion: apiVersion, Kind: kindTemplate, Metadata: resourceMeta{Name: t.GetName()}, Spec: spec}
}

// exportProfileResource is the document form of an export profile; its
// validity is not part of it.
func exportProfileResource(p *ferryv1.ExportProfile) *resource {
	s := p.GetSpec()
	spec := &exportProfileSpec{Dataset: s.GetDataset(), Selection: s.GetSelection(), MaxRows: s.GetMaxRows(), Template: s.GetTemplate(),
		FileName: s.GetFileName(), DeltaFiles: s.GetDeltaFiles(), AllowFormulas: s.GetAllowFormulas(),
		Format:      enumName(int32(s.GetFormat()), ferryv1.ExportFormat_name, "EXPORT_FORMAT_"),
		Status:      enumName(int32(s.GetStatus()), ferryv1.ProfileStatus_name, "PROFILE_STATUS_"),
		Mode:        enumName(int32(s.GetMode()), ferryv1.ExportMode_name, "EXPORT_MODE_"),
		Deletions:   enumName(int32(s.GetDeletions()), ferryv1.Deletions_name, "DELETIONS_"),
		Unencodable: enumName(int32(s.GetUnencodable()), ferryv1.Unencodable_name, "UNENCODABLE_"),
	}
	for _, k := range s.GetSort() {
		spec.Sort = append(spec.Sort, sortKeySpec{Field: k.GetField(), Descending: k.GetDescending()})
	}
	if c := s.GetCsv(); c != nil {
		spec.CSV = &exportCSVSpec{Delimiter: c.GetDelimiter(), QuoteAll: c.GetQuoteAll(), LineEnding: c.GetLineEnding(), Encoding: c.GetEncoding(), BOM: c.GetBom()}
	}
	spec.Zip = s.GetZip()
	spec.Destinations = s.GetDestinations()
	spec.Triggers = triggersResource(s.GetTriggers())
	for _, e := range s.GetBundle() {
		b := bundleSpec{Dataset: e.GetDataset(), Selection: e.GetSelection(), MaxRows: e.GetMaxRows(), Template: e.GetTemplate(), FileName: e.GetFileName()}
		for _, k := range e.GetSort() {
			b.Sort = append(b.Sort, sortKeySpec{Field: k.GetField(), Descending: k.GetDescending()})
		}
		spec.Bundle = append(spec.Bundle, b)
	}
	return &resource{APIVersion: apiVersion, Kind: kindExportProfile, Metadata: resourceMeta{Name: p.GetName()}, Spec: spec}
}
