package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/xref"
)

// The YAML documents `apply` reads and `get -o yaml` prints.
const (
	apiVersion         = "ferry.dev/v1"
	kindDataset        = "Dataset"
	kindImportProfile  = "ImportProfile"
	kindCrossReference = "CrossReference"
	kindTemplate       = "Template"
	kindExportProfile  = "ExportProfile"
	kindDestination    = "Destination"
)

// resource is one YAML document. Spec is a *datasetSpec, a *profileSpec, an
// *xrefSpec, a *templateSpec, an *exportProfileSpec or a *destinationSpec.
type resource struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   resourceMeta `json:"metadata"`
	Spec       any          `json:"spec"`
}

type resourceMeta struct {
	Name string `json:"name"`
}

type datasetSpec struct {
	Fields     []fieldSpec     `json:"fields"`
	Key        []string        `json:"key"`
	References []referenceSpec `json:"references,omitempty"`
}

type referenceSpec struct {
	Fields  []string `json:"fields"`
	Dataset string   `json:"dataset"`
}

type fieldSpec struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required,omitempty"`
}

type profileSpec struct {
	Dataset     string           `json:"dataset"`
	Format      string           `json:"format,omitempty"`
	CSV         *csvSpec         `json:"csv,omitempty"`
	Spreadsheet *spreadsheetSpec `json:"spreadsheet,omitempty"`
	Mappings    []mappingSpec    `json:"mappings,omitempty"`
	WriteMode   string           `json:"writeMode,omitempty"`
	HeaderMatch string           `json:"headerMatch,omitempty"`
	TimeZone    string           `json:"timeZone,omitempty"`
	Rules       []rowRuleSpec    `json:"rules,omitempty"`
	ErrorPolicy *errorPolicySpec `json:"errorPolicy,omitempty"`
	Mirror      *mirrorSpec      `json:"mirror,omitempty"`
	SFTPSource  *sftpSourceSpec  `json:"sftpSource,omitempty"`
	Status      string           `json:"status,omitempty"`
	Triggers    *triggersSpec    `json:"triggers,omitempty"`
	// Events makes an event import profile (docs/events.md).
	Events         *eventsSpec `json:"events,omitempty"`
	PublishChanges bool        `json:"publishChanges,omitempty"`
}

// eventsSpec is an event import profile's micro-batching.
type eventsSpec struct {
	BatchSize     int32 `json:"batchSize,omitempty"`
	BatchWindowMs int32 `json:"batchWindowMs,omitempty"`
}

type rowRuleSpec struct {
	Name    string `json:"name,omitempty"`
	Expr    string `json:"expr"`
	Message string `json:"message,omitempty"`
}

type errorPolicySpec struct {
	MaxRejectedRows    int64   `json:"maxRejectedRows,omitempty"`
	MaxRejectedPercent float64 `json:"maxRejectedPercent,omitempty"`
}

type mirrorSpec struct {
	MaxChangePercent float64 `json:"maxChangePercent,omitempty"`
}

type csvSpec struct {
	Delimiter         string `json:"delimiter,omitempty"`
	Quote             string `json:"quote,omitempty"`
	Escape            string `json:"escape,omitempty"`
	HeaderRow         int    `json:"headerRow,omitempty"`
	NoHeader          bool   `json:"noHeader,omitempty"`
	Comment           string `json:"comment,omitempty"`
	TrailingDelimiter bool   `json:"trailingDelimiter,omitempty"`
	Encoding          string `json:"encoding,omitempty"`
	InvalidBytes      string `json:"invalidBytes,omitempty"`
}

type spreadsheetSpec struct {
	Sheet      string `json:"sheet,omitempty"`
	SheetIndex int    `json:"sheetIndex,omitempty"`
	HeaderRow  int    `json:"headerRow,omitempty"`
	NoHeader   bool   `json:"noHeader,omitempty"`
}

type mappingSpec struct {
	Field              string          `json:"field"`
	Column             string          `json:"column,omitempty"`
	ColumnIndex        int             `json:"columnIndex,omitempty"`
	Aliases            []string        `json:"aliases,omitempty"`
	Expr               string          `json:"expr,omitempty"`
	DefaultValue       string          `json:"defaultValue,omitempty"`
	DateFormats        []string        `json:"dateFormats,omitempty"`
	DecimalSeparator   string          `json:"decimalSeparator,omitempty"`
	ThousandsSeparator string          `json:"thousandsSeparator,omitempty"`
	TrueWords          []string        `json:"trueWords,omitempty"`
	FalseWords         []string        `json:"falseWords,omitempty"`
	BlankKeepsExisting bool            `json:"blankKeepsExisting,omitempty"`
	Rules              *fieldRulesSpec `json:"rules,omitempty"`
	CrossReference     *xrefUseSpec    `json:"crossReference,omitempty"`
}

type fieldRulesSpec struct {
	Required  bool     `json:"required,omitempty"`
	Min       string   `json:"min,omitempty"`
	Max       string   `json:"max,omitempty"`
	MinLength int      `json:"minLength,omitempty"`
	MaxLength int      `json:"maxLength,omitempty"`
	Pattern   string   `json:"pattern,omitempty"`
	Allowed   []string `json:"allowed,omitempty"`
	Unique    bool     `json:"unique,omitempty"`
}

type xrefUseSpec struct {
	Table        string `json:"table"`
	Unknown      string `json:"unknown,omitempty"`
	DefaultValue string `json:"defaultValue,omitempty"`
}

// xrefSpec is a cross-reference table. Without entries and entriesFile the
// table's entries are left as they are (they are loaded with "ferry xref
// load"); "entries: []" empties it.
type xrefSpec struct {
	CaseInsensitive bool        `json:"caseInsensitive,omitempty"`
	Entries         []entrySpec `json:"entries,omitempty"`
	EntriesFile     string      `json:"entriesFile,omitempty"`
}

type entrySpec struct {
	External string `json:"external"`
	Internal string `json:"internal"`
	Primary  bool   `json:"primary,omitempty"`
}

// document is one valid resource read from a file, converted to its request.
type document struct {
	file  string
	index int // 1-based among the file's non-empty documents
	line  int // the document's first line in the file
	kind  string
	name  string

	dataset *ferryv1.Dataset                    // kind Dataset
	profile *ferryv1.ApplyImportProfileRequest  // kind ImportProfile
	xref    *ferryv1.ApplyCrossReferenceRequest // kind CrossReference
	tmpl    *ferryv1.ApplyTemplateRequest       // kind Template
	export  *ferryv1.ApplyExportProfileRequest  // kind ExportProfile
	dest    *ferryv1.ApplyDestinationRequest    // kind Destination
}

// ref names the resource the way apply prints it: "dataset/users".
func (d *document) ref() string {
	return resourceRef(d.kind, d.name)
}

func resourceRef(kind, name string) string {
	return strings.ToLower(kind) + "/" + name
}

// where says which document of which file an error is about.
func (d *document) where() string {
	what := d.kind
	switch {
	case d.kind == "" && d.name == "":
		what = "no kind"
	case d.kind == "":
		what = "no kind, name " + d.name
	case d.name != "" && isKnownKind(d.kind):
		what = d.ref()
	case d.name != "":
		what = d.kind + "/" + d.name
	}
	return fmt.Sprintf("%s: document %d (%s, line %d)", d.file, d.index, what, d.line)
}

func isKnownKind(kind string) bool {
	switch kind {
	case kindDataset, kindImportProfile, kindCrossReference, kindTemplate, kindExportProfile, kindDestination:
		return true
	}
	return false
}

// knownKinds lists the kinds for error messages.
const knownKinds = kindDataset + ", " + kindImportProfile + ", " + kindCrossReference + ", " + kindTemplate + ", " + kindExportProfile + " or " + kindDestination

// docError is a problem with one document.
type docError struct {
	doc  *document
	path string
	msg  string
}

func (e *docError) Error() string {
	if e.path == "" {
		return e.doc.where() + ": " + e.msg
	}
	return e.doc.where() + ": " + e.path + ": " + e.msg
}

// rawDocument is the text of one document of a multi-document file.
type rawDocument struct {
	text string
	line int
}

// splitDocuments splits a YAML stream at "---" lines and drops documents that
// hold nothing but blank lines and comments.
func splitDocuments(data []byte) []rawDocument {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var (
		docs  []rawDocument
		cur   strings.Builder
		start = 1
	)
	flush := func() {
		if !isBlankYAML(cur.String()) {
			docs = append(docs, rawDocument{text: cur.String(), line: start})
		}
		cur.Reset()
	}
	for i, line := range strings.SplitAfter(string(data), "\n") {
		bare := strings.TrimRight(line, "\r\n")
		if bare == "---" || strings.HasPrefix(bare, "--- ") || strings.HasPrefix(bare, "---\t") {
			flush()
			start = i + 2
			if rest := strings.TrimSpace(bare[3:]); rest != "" && !strings.HasPrefix(rest, "#") {
				// "--- {kind: ...}": the document starts on this line.
				start = i + 1
				cur.WriteString(rest + "\n")
			}
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

func isBlankYAML(text string) bool {
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// parseFile decodes and validates every document of one file. It returns the
// valid documents and a *docError for each problem found.
func parseFile(name string, data []byte) ([]*document, []error) {
	var (
		docs []*document
		errs []error
	)
	for i, raw := range splitDocuments(data) {
		doc := &document{file: name, index: i + 1, line: raw.line}
		if docErrs := doc.decode(raw); len(docErrs) > 0 {
			errs = append(errs, docErrs...)
			continue
		}
		docs = append(docs, doc)
	}
	return docs, errs
}

// yamlLine finds the line numbers in YAML parser errors.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// decode reads one document strictly and converts it to its request.
func (doc *document) decode(raw rawDocument) []error {
	j, err := yaml.YAMLToJSONStrict([]byte(raw.text))
	if err != nil {
		// Parser lines count from the document's start; make them the file's.
		msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
			n, _ := strconv.Atoi(strings.TrimPrefix(m, "line "))
			return fmt.Sprintf("line %d", n+raw.line-1)
		})
		msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
		return []error{&docError{doc: doc, msg: "invalid YAML: " + msg}}
	}
	var top any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		return []error{&docError{doc: doc, msg: "invalid YAML: " + err.Error()}}
	}
	m, ok := top.(map[string]any)
	if !ok {
		return []error{&docError{doc: doc, msg: "want a mapping with apiVersion, kind, metadata and spec, got " + describe(top)}}
	}

	d := &decoder{doc: doc}
	for _, k := range sortedKeys(m) {
		switch k {
		case "apiVersion", "kind", "metadata", "spec":
		default:
			d.errorf("", "unknown key %q (known keys: apiVersion, kind, metadata, spec)", k)
		}
	}
	var head struct {
		APIVersion string       `json:"apiVersion"`
		Kind       string       `json:"kind"`
		Metadata   resourceMeta `json:"metadata"`
	}
	d.decodeValue("apiVersion", m["apiVersion"], &head.APIVersion)
	d.decodeValue("kind", m["kind"], &head.Kind)
	doc.kind = head.Kind
	switch head.APIVersion {
	case apiVersion:
	case "":
		d.errorf("apiVersion", "missing (want %s)", apiVersion)
	default:
		d.errorf("apiVersion", "%q is not supported (want %s)", head.APIVersion, apiVersion)
	}
	switch {
	case head.Kind == "":
		d.errorf("kind", "missing (want %s)", knownKinds)
	case !isKnownKind(head.Kind):
		d.errorf("kind", "unknown kind %q (want %s)", head.Kind, knownKinds)
	}
	if v := m["metadata"]; v != nil {
		d.decodeValue("metadata", v, &head.Metadata)
	}
	doc.name = head.Metadata.Name
	if head.Metadata.Name == "" {
		d.errorf("metadata.name", "missing")
	}

	spec := m["spec"]
	if spec == nil && isKnownKind(head.Kind) {
		d.errorf("spec", "missing")
	}
	switch head.Kind {
	case kindDataset:
		var ds datasetSpec
		if spec != nil {
			d.decodeValue("spec", spec, &ds)
			doc.dataset = d.dataset(head.Metadata.Name, &ds)
		}
	case kindImportProfile:
		var ps profileSpec
		if spec != nil {
			d.decodeValue("spec", spec, &ps)
			doc.profile = d.profile(head.Metadata.Name, &ps)
		}
	case kindCrossReference:
		var xs xrefSpec
		if spec != nil {
			d.decodeValue("spec", spec, &xs)
			doc.xref = d.xref(head.Metadata.Name, &xs)
		}
	case kindTemplate:
		var ts templateSpec
		if spec != nil {
			d.decodeValue("spec", spec, &ts)
			doc.tmpl = d.template(head.Metadata.Name, &ts)
		}
	case kindExportProfile:
		var es exportProfileSpec
		if spec != nil {
			d.decodeValue("spec", spec, &es)
			doc.export = d.exportProfile(head.Metadata.Name, &es)
		}
	case kindDestination:
		var ds destinationSpec
		if spec != nil {
			d.decodeValue("spec", spec, &ds)
			doc.dest = d.destination(head.Metadata.Name, &ds)
		}
	}
	return d.errs
}

// fieldName is the rule the API documents for field names.
var fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// dataset validates a dataset spec and converts it.
func (d *decoder) dataset(name string, spec *datasetSpec) *ferryv1.Dataset {
	ds := &ferryv1.Dataset{Name: name, Key: spec.Key}
	if len(spec.Fields) == 0 {
		d.errorf("spec.fields", "missing: a dataset needs at least one field")
	}
	seen := map[string]bool{}
	for i, f := range spec.Fields {
		path := fmt.Sprintf("spec.fields[%d]", i)
		switch {
		case f.Name == "":
			d.errorf(path+".name", "missing")
		case !fieldName.MatchString(f.Name):
			d.errorf(path+".name", "%q is not a valid field name (lowercase letters, digits and underscores, starting with a letter)", f.Name)
		case seen[f.Name]:
			d.errorf(path+".name", "field %q is defined twice", f.Name)
		}
		seen[f.Name] = true
		t, ok := parseFieldType(f.Type)
		switch {
		case f.Type == "":
			d.errorf(path+".type", "missing (want one of: %s)", strings.Join(fieldTypeNames(), ", "))
		case !ok:
			d.errorf(path+".type", "unknown type %q (want one of: %s)", f.Type, strings.Join(fieldTypeNames(), ", "))
		}
		ds.Fields = append(ds.Fields, &ferryv1.Field{Name: f.Name, Type: t, Required: f.Required})
	}
	if len(spec.Key) == 0 {
		d.errorf("spec.key", "missing: name at least one field that identifies a row")
	}
	inKey := map[string]bool{}
	for i, k := range spec.Key {
		path := fmt.Sprintf("spec.key[%d]", i)
		switch {
		case k == "":
			d.errorf(path, "empty")
		case !seen[k]:
			d.errorf(path, "%q is not a field of this dataset", k)
		case inKey[k]:
			d.errorf(path, "%q is in the key twice", k)
		}
		inKey[k] = true
	}
	for i, r := range spec.References {
		path := fmt.Sprintf("spec.references[%d]", i)
		if r.Dataset == "" {
			d.errorf(path+".dataset", "missing")
		}
		if len(r.Fields) == 0 {
			d.errorf(path+".fields", "missing: name the fields that hold the other dataset's key")
		}
		for j, f := range r.Fields {
			if !seen[f] {
				d.errorf(fmt.Sprintf("%s.fields[%d]", path, j), "%q is not a field of this dataset", f)
			}
		}
		ds.References = append(ds.References, &ferryv1.Reference{Fields: r.Fields, Dataset: r.Dataset})
	}
	return ds
}

// profile validates an import profile spec and converts it.
func (d *decoder) profile(name string, spec *profileSpec) *ferryv1.ApplyImportProfileRequest {
	ps := &ferryv1.ImportProfileSpec{Dataset: spec.Dataset}
	if spec.Dataset == "" {
		d.errorf("spec.dataset", "missing")
	}
	if spec.Format != "" {
		f, ok := parseEnum(ferryv1.FileFormat_value, "FILE_FORMAT_", spec.Format)
		if !ok {
			d.errorf("spec.format", "unknown format %q (want one of: %s)", spec.Format, strings.Join(enumNames(ferryv1.FileFormat_name, "FILE_FORMAT_"), ", "))
		}
		ps.Format = ferryv1.FileFormat(f)
	}
	if c := spec.CSV; c != nil {
		ps.Csv = &ferryv1.CSVFormat{Delimiter: c.Delimiter, Quote: c.Quote, HeaderRow: int32(c.HeaderRow), NoHeader: c.NoHeader,
			Comment: c.Comment, TrailingDelimiter: c.TrailingDelimiter, Encoding: c.Encoding}
		for _, c := range []struct{ key, what, v string }{{"delimiter", "delimiter", c.Delimiter}, {"quote", "quote character", c.Quote}, {"comment", "comment character", c.Comment}} {
			if r, _ := utf8.DecodeRuneInString(c.v); c.v != "" && (len(c.v) != 1 || r == '\n' || r == '\r') {
				d.errorf("spec.csv."+c.key, "%q is not a valid %s (want one single-byte character other than a line break)", c.v, c.what)
			}
		}
		if c.Delimiter == "\"" {
			d.errorf("spec.csv.delimiter", "%q is not a valid delimiter (it is the quote character)", c.Delimiter)
		}
		if c.Escape != "" {
			e, ok := parseEnum(ferryv1.CSVEscape_value, "CSV_ESCAPE_", c.Escape)
			if !ok {
				d.errorf("spec.csv.escape", "unknown escape %q (want one of: %s)", c.Escape, strings.Join(enumNames(ferryv1.CSVEscape_name, "CSV_ESCAPE_"), ", "))
			}
			ps.Csv.Escape = ferryv1.CSVEscape(e)
		}
		if c.InvalidBytes != "" {
			e, ok := parseEnum(ferryv1.InvalidBytes_value, "INVALID_BYTES_", c.InvalidBytes)
			if !ok {
				d.errorf("spec.csv.invalidBytes", "unknown value %q (want one of: %s)", c.InvalidBytes, strings.Join(enumNames(ferryv1.InvalidBytes_name, "INVALID_BYTES_"), ", "))
			}
			ps.Csv.InvalidBytes = ferryv1.InvalidBytes(e)
		}
		if c.HeaderRow < 0 {
			d.errorf("spec.csv.headerRow", "must not be negative")
		}
	}
	if sp := spec.Spreadsheet; sp != nil {
		ps.Spreadsheet = &ferryv1.SpreadsheetFormat{Sheet: sp.Sheet, SheetIndex: int32(sp.SheetIndex), HeaderRow: int32(sp.HeaderRow), NoHeader: sp.NoHeader}
		if sp.SheetIndex < 0 || sp.HeaderRow < 0 {
			d.errorf("spec.spreadsheet", "sheetIndex and headerRow must not be negative")
		}
	}
	mapped := map[string]bool{}
	for i, m := range spec.Mappings {
		path := fmt.Sprintf("spec.mappings[%d]", i)
		switch {
		case m.Field == "":
			d.errorf(path+".field", "missing")
		case mapped[m.Field]:
			d.errorf(path+".field", "field %q is mapped twice", m.Field)
		}
		switch {
		case m.Column == "" && m.ColumnIndex == 0 && m.Expr == "":
			d.errorf(path+".column", "missing (name a column, give columnIndex, or compute the field with expr)")
		case m.Column != "" && m.ColumnIndex != 0:
			d.errorf(path+".columnIndex", "give column or columnIndex, not both")
		case m.ColumnIndex < 0:
			d.errorf(path+".columnIndex", "must be 1 or more")
		}
		mapped[m.Field] = true
		fm := &ferryv1.FieldMapping{Field: m.Field, Column: m.Column, ColumnIndex: int32(m.ColumnIndex), Aliases: m.Aliases, Expr: m.Expr,
			DefaultValue: m.DefaultValue, DateFormats: m.DateFormats, DecimalSeparator: m.DecimalSeparator, ThousandsSeparator: m.ThousandsSeparator,
			TrueWords: m.TrueWords, FalseWords: m.FalseWords, BlankKeepsExisting: m.BlankKeepsExisting}
		if r := m.Rules; r != nil {
			fm.Rules = &ferryv1.FieldRules{Required: r.Required, Min: r.Min, Max: r.Max, MinLength: int32(r.MinLength), MaxLength: int32(r.MaxLength),
				Pattern: r.Pattern, Allowed: r.Allowed, Unique: r.Unique}
		}
		if x := m.CrossReference; x != nil {
			fm.CrossReference = &ferryv1.CrossReferenceUse{Table: x.Table, DefaultValue: x.DefaultValue}
			if x.Table == "" {
				d.errorf(path+".crossReference.table", "missing")
			}
			if x.Unknown != "" {
				u, ok := parseEnum(ferryv1.UnknownValue_value, "UNKNOWN_VALUE_", x.Unknown)
				if !ok {
					d.errorf(path+".crossReference.unknown", "unknown value %q (want one of: %s)", x.Unknown, strings.Join(enumNames(ferryv1.UnknownValue_name, "UNKNOWN_VALUE_"), ", "))
				}
				fm.CrossReference.Unknown = ferryv1.UnknownValue(u)
			}
		}
		ps.Mappings = append(ps.Mappings, fm)
	}
	if spec.HeaderMatch != "" {
		h, ok := parseEnum(ferryv1.HeaderMatch_value, "HEADER_MATCH_", spec.HeaderMatch)
		if !ok {
			d.errorf("spec.headerMatch", "unknown value %q (want one of: %s)", spec.HeaderMatch, strings.Join(enumNames(ferryv1.HeaderMatch_name, "HEADER_MATCH_"), ", "))
		}
		ps.HeaderMatch = ferryv1.HeaderMatch(h)
	}
	ps.TimeZone = spec.TimeZone
	for i, r := range spec.Rules {
		if r.Expr == "" {
			d.errorf(fmt.Sprintf("spec.rules[%d].expr", i), "missing")
		}
		ps.Rules = append(ps.Rules, &ferryv1.RowRule{Name: r.Name, Expr: r.Expr, Message: r.Message})
	}
	if e := spec.ErrorPolicy; e != nil {
		ps.ErrorPolicy = &ferryv1.ErrorPolicy{MaxRejectedRows: e.MaxRejectedRows, MaxRejectedPercent: e.MaxRejectedPercent}
	}
	if m := spec.Mirror; m != nil {
		ps.Mirror = &ferryv1.MirrorOptions{MaxChangePercent: m.MaxChangePercent}
	}
	if src := spec.SFTPSource; src != nil {
		ps.SftpSource = d.sftpSource(src)
	}
	ps.Status = ferryv1.ProfileStatus(d.enum("spec.status", "status", ferryv1.ProfileStatus_value, ferryv1.ProfileStatus_name, "PROFILE_STATUS_", spec.Status))
	ps.Triggers = d.triggers("spec.triggers", spec.Triggers)
	if e := spec.Events; e != nil {
		if e.BatchSize < 0 {
			d.errorf("spec.events.batchSize", "must not be negative")
		}
		if e.BatchWindowMs < 0 {
			d.errorf("spec.events.batchWindowMs", "must not be negative")
		}
		ps.Events = &ferryv1.EventImport{BatchSize: e.BatchSize, BatchWindowMs: e.BatchWindowMs}
	}
	ps.PublishChanges = spec.PublishChanges
	ps.WriteMode = ferryv1.WriteMode_WRITE_MODE_UPSERT
	if spec.WriteMode != "" {
		wm, ok := parseWriteMode(spec.WriteMode)
		if !ok {
			d.errorf("spec.writeMode", "unknown write mode %q (want one of: %s)", spec.WriteMode, strings.Join(writeModeNames(), ", "))
		}
		ps.WriteMode = wm
	}
	return &ferryv1.ApplyImportProfileRequest{Name: name, Spec: ps}
}

// xref validates a cross-reference spec and converts it, reading its
// entries file relative to the document's file.
func (d *decoder) xref(name string, spec *xrefSpec) *ferryv1.ApplyCrossReferenceRequest {
	if err := xref.CheckName(name); name != "" && err != nil {
		d.errorf("metadata.name", "%q is not a valid cross-reference name (lowercase letters, digits and underscores, starting with a letter, at most 63 characters)", name)
	}
	x := &ferryv1.CrossReference{Name: name, CaseInsensitive: spec.CaseInsensitive}
	req := &ferryv1.ApplyCrossReferenceRequest{CrossReference: x, KeepEntries: spec.Entries == nil && spec.EntriesFile == ""}
	switch {
	case spec.EntriesFile != "" && spec.Entries != nil:
		d.errorf("spec.entriesFile", "give entries or entriesFile, not both")
		return req
	case spec.EntriesFile != "":
		path := spec.EntriesFile
		if !filepath.IsAbs(path) && d.doc.file != stdinName {
			path = filepath.Join(filepath.Dir(d.doc.file), path)
		}
		list, err := readEntriesFile(path)
		if err != nil {
			d.errorf("spec.entriesFile", "%v", err)
			return req
		}
		x.Entries = list
	default:
		for _, e := range spec.Entries {
			x.Entries = append(x.Entries, &ferryv1.CrossReferenceEntry{External: e.External, Internal: e.Internal, Primary: e.Primary})
		}
	}
	if len(x.Entries) > xref.MaxEntriesPerRequest {
		d.errorf("spec", "%d entries; a document holds at most %d (load larger tables with \"ferry xref load\")", len(x.Entries), xref.MaxEntriesPerRequest)
	} else if err := xref.CheckEntries(name, spec.CaseInsensitive, x.Entries); err != nil {
		d.errorf("spec", "%v", err)
	}
	return req
}

// checkProfileAgainst checks a profile's mappings against the definition of
// its dataset when that dataset is applied in the same command.
func checkProfileAgainst(doc *document, ds *document) []error {
	fields := map[string]bool{}
	for _, f := range ds.dataset.GetFields() {
		fields[f.GetName()] = true
	}
	var errs []error
	mapped := map[string]bool{}
	for i, m := range doc.profile.GetSpec().GetMappings() {
		mapped[m.GetField()] = true
		if !fields[m.GetField()] {
			errs = append(errs, &docError{doc: doc, path: fmt.Sprintf("spec.mappings[%d].field", i),
				msg: fmt.Sprintf("%q is not a field of dataset %s (%s)", m.GetField(), ds.name, ds.where())})
		}
	}
	if len(mapped) > 0 {
		for _, k := range ds.dataset.GetKey() {
			if !mapped[k] {
				errs = append(errs, &docError{doc: doc, path: "spec.mappings",
					msg: fmt.Sprintf("key field %q of dataset %s is not mapped", k, ds.name)})
			}
		}
	}
	return errs
}

// datasetResource is the document form of a dataset.
func datasetResource(ds *ferryv1.Dataset) *resource {
	spec := &datasetSpec{Key: ds.GetKey()}
	for _, f := range ds.GetFields() {
		spec.Fields = append(spec.Fields, fieldSpec{Name: f.GetName(), Type: fieldTypeName(f.GetType()), Required: f.GetRequired()})
	}
	for _, r := range ds.GetReferences() {
		spec.References = append(spec.References, referenceSpec{Fields: r.GetFields(), Dataset: r.GetDataset()})
	}
	return &resource{APIVersion: apiVersion, Kind: kindDataset, Metadata: resourceMeta{Name: ds.GetName()}, Spec: spec}
}

// profileResource is the document form of an import profile.
func profileResource(p *ferryv1.ImportProfile) *resource {
	s := p.GetSpec()
	spec := &profileSpec{Dataset: s.GetDataset()}
	if s.GetFormat() != ferryv1.FileFormat_FILE_FORMAT_UNSPECIFIED {
		spec.Format = strings.ToLower(strings.TrimPrefix(s.GetFormat().String(), "FILE_FORMAT_"))
	}
	if c := s.GetCsv(); c != nil {
		spec.CSV = &csvSpec{Delimiter: c.GetDelimiter(), Quote: c.GetQuote(), HeaderRow: int(c.GetHeaderRow()), NoHeader: c.GetNoHeader(),
			Comment: c.GetComment(), TrailingDelimiter: c.GetTrailingDelimiter(), Encoding: c.GetEncoding()}
		if c.GetEscape() != ferryv1.CSVEscape_CSV_ESCAPE_UNSPECIFIED {
			spec.CSV.Escape = strings.ToLower(strings.TrimPrefix(c.GetEscape().String(), "CSV_ESCAPE_"))
		}
		if c.GetInvalidBytes() != ferryv1.InvalidBytes_INVALID_BYTES_UNSPECIFIED {
			spec.CSV.InvalidBytes = strings.ToLower(strings.TrimPrefix(c.GetInvalidBytes().String(), "INVALID_BYTES_"))
		}
	}
	if sp := s.GetSpreadsheet(); sp != nil {
		spec.Spreadsheet = &spreadsheetSpec{Sheet: sp.GetSheet(), SheetIndex: int(sp.GetSheetIndex()), HeaderRow: int(sp.GetHeaderRow()), NoHeader: sp.GetNoHeader()}
	}
	for _, m := range s.GetMappings() {
		ms := mappingSpec{Field: m.GetField(), Column: m.GetColumn(), ColumnIndex: int(m.GetColumnIndex()), Aliases: m.GetAliases(), Expr: m.GetExpr(),
			DefaultValue: m.GetDefaultValue(), DateFormats: m.GetDateFormats(), DecimalSeparator: m.GetDecimalSeparator(),
			ThousandsSeparator: m.GetThousandsSeparator(), TrueWords: m.GetTrueWords(), FalseWords: m.GetFalseWords(), BlankKeepsExisting: m.GetBlankKeepsExisting()}
		if r := m.GetRules(); r != nil {
			ms.Rules = &fieldRulesSpec{Required: r.GetRequired(), Min: r.GetMin(), Max: r.GetMax(), MinLength: int(r.GetMinLength()), MaxLength: int(r.GetMaxLength()),
				Pattern: r.GetPattern(), Allowed: r.GetAllowed(), Unique: r.GetUnique()}
		}
		if x := m.GetCrossReference(); x != nil {
			ms.CrossReference = &xrefUseSpec{Table: x.GetTable(), DefaultValue: x.GetDefaultValue()}
			if x.GetUnknown() != ferryv1.UnknownValue_UNKNOWN_VALUE_UNSPECIFIED {
				ms.CrossReference.Unknown = strings.ToLower(strings.TrimPrefix(x.GetUnknown().String(), "UNKNOWN_VALUE_"))
			}
		}
		spec.Mappings = append(spec.Mappings, ms)
	}
	if s.GetWriteMode() != ferryv1.WriteMode_WRITE_MODE_UNSPECIFIED {
		spec.WriteMode = writeModeName(s.GetWriteMode())
	}
	if s.GetHeaderMatch() != ferryv1.HeaderMatch_HEADER_MATCH_UNSPECIFIED {
		spec.HeaderMatch = strings.ToLower(strings.TrimPrefix(s.GetHeaderMatch().String(), "HEADER_MATCH_"))
	}
	spec.TimeZone = s.GetTimeZone()
	for _, r := range s.GetRules() {
		spec.Rules = append(spec.Rules, rowRuleSpec{Name: r.GetName(), Expr: r.GetExpr(), Message: r.GetMessage()})
	}
	if e := s.GetErrorPolicy(); e != nil && (e.GetMaxRejectedRows() != 0 || e.GetMaxRejectedPercent() != 0) {
		spec.ErrorPolicy = &errorPolicySpec{MaxRejectedRows: e.GetMaxRejectedRows(), MaxRejectedPercent: e.GetMaxRejectedPercent()}
	}
	if m := s.GetMirror(); m != nil && m.GetMaxChangePercent() != 0 {
		spec.Mirror = &mirrorSpec{MaxChangePercent: m.GetMaxChangePercent()}
	}
	spec.SFTPSource = sftpSourceResource(s.GetSftpSource())
	spec.Status = enumName(int32(s.GetStatus()), ferryv1.ProfileStatus_name, "PROFILE_STATUS_")
	spec.Triggers = triggersResource(s.GetTriggers())
	if e := s.GetEvents(); e != nil {
		spec.Events = &eventsSpec{BatchSize: e.GetBatchSize(), BatchWindowMs: e.GetBatchWindowMs()}
	}
	spec.PublishChanges = s.GetPublishChanges()
	return &resource{APIVersion: apiVersion, Kind: kindImportProfile, Metadata: resourceMeta{Name: p.GetName()}, Spec: spec}
}

// xrefResource is the document form of a cross-reference table. A table
// listed without its entries prints without them, and applying that
// document leaves the entries as they are.
func xrefResource(x *ferryv1.CrossReference) *resource {
	spec := &xrefSpec{CaseInsensitive: x.GetCaseInsensitive()}
	for _, e := range x.GetEntries() {
		spec.Entries = append(spec.Entries, entrySpec{External: e.GetExternal(), Internal: e.GetInternal(), Primary: e.GetPrimary()})
	}
	return &resource{APIVersion: apiVersion, Kind: kindCrossReference, Metadata: resourceMeta{Name: x.GetName()}, Spec: spec}
}

// enumNames lists the lowercase names of an enum's values after its zero
// value, in number order: FIELD_TYPE_STRING becomes "string".
func enumNames(names map[int32]string, prefix string) []string {
	nums := make([]int32, 0, len(names))
	for n := range names {
		if n != 0 {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	out := make([]string, 0, len(nums))
	for _, n := range nums {
		out = append(out, strings.ToLower(strings.TrimPrefix(names[n], prefix)))
	}
	return out
}

// parseEnum finds the value whose lowercase name is s; the zero value never matches.
func parseEnum(values map[string]int32, prefix, s string) (int32, bool) {
	if s == "" || s != strings.ToLower(s) {
		return 0, false
	}
	n, ok := values[prefix+strings.ToUpper(s)]
	return n, ok && n != 0
}

func fieldTypeNames() []string { return enumNames(ferryv1.FieldType_name, "FIELD_TYPE_") }

func fieldTypeName(t ferryv1.FieldType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "FIELD_TYPE_"))
}

func parseFieldType(s string) (ferryv1.FieldType, bool) {
	n, ok := parseEnum(ferryv1.FieldType_value, "FIELD_TYPE_", s)
	return ferryv1.FieldType(n), ok
}

func writeModeNames() []string { return enumNames(ferryv1.WriteMode_name, "WRITE_MODE_") }

func writeModeName(m ferryv1.WriteMode) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "WRITE_MODE_"))
}

func parseWriteMode(s string) (ferryv1.WriteMode, bool) {
	n, ok := parseEnum(ferryv1.WriteMode_value, "WRITE_MODE_", s)
	return ferryv1.WriteMode(n), ok
}

func runStatusNames() []string { return enumNames(ferryv1.RunStatus_name, "RUN_STATUS_") }

func runStatusName(st ferryv1.RunStatus) string {
	return strings.ToLower(strings.TrimPrefix(st.String(), "RUN_STATUS_"))
}

// parseRunStatus accepts "succeeded_with_errors", "succeeded-with-errors" and
// the British "cancelled".
func parseRunStatus(s string) (ferryv1.RunStatus, bool) {
	s = strings.ReplaceAll(strings.ToLower(s), "-", "_")
	if s == "cancelled" {
		s = "canceled"
	}
	n, ok := parseEnum(ferryv1.RunStatus_value, "RUN_STATUS_", s)
	return ferryv1.RunStatus(n), ok
}

// decoder fills Go values from decoded JSON strictly: a key the target has
// no field for is an error naming its path, as is a value of the wrong type.
type decoder struct {
	doc  *document
	errs []error
}

func (d *decoder) errorf(path, format string, args ...any) {
	d.errs = append(d.errs, &docError{doc: d.doc, path: path, msg: fmt.Sprintf(format, args...)})
}

// decodeValue fills *dst from v.
func (d *decoder) decodeValue(path string, v any, dst any) {
	d.decode(path, v, reflectValue(dst))
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// describe names a decoded value in an error message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return v.String()
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("%v", v)
	}
}
