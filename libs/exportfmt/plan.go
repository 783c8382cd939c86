package exportfmt

import (
	"fmt"
	"strings"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/formats/filename"
	"github.com/ferrydata/ferry/libs/formats/outfile"
)

// Query is one dataset read by a run: the profile's dataset, or one part of
// a database export.
type Query struct {
	Dataset   *ferryv1.Dataset
	Template  *ferryv1.TemplateSpec
	Table     string
	Selection string
	Sort      []*ferryv1.SortKey
	MaxRows   int64
	// FileName is the file-name template of the query's file.
	FileName string
}

// Queries are the datasets a run reads, in file order.
func Queries(snap *ferryv1.ExportSnapshot) []Query {
	if len(snap.GetParts()) == 0 {
		s := snap.GetSpec()
		return []Query{{Dataset: snap.GetDataset(), Template: snap.GetTemplate(), Table: snap.GetTable(), Selection: s.GetSelection(),
			Sort: s.GetSort(), MaxRows: s.GetMaxRows(), FileName: s.GetFileName()}}
	}
	var out []Query
	for _, p := range snap.GetParts() {
		e := p.GetEntry()
		out = append(out, Query{Dataset: p.GetDataset(), Template: p.GetTemplate(), Table: p.GetTable(), Selection: e.GetSelection(),
			Sort: e.GetSort(), MaxRows: e.GetMaxRows(), FileName: e.GetFileName()})
	}
	return out
}

// File is one file of a run.
type File struct {
	// Query is the index of the query whose rows the file holds.
	Query int
	// Role is "rows", "deleted", "added", "changed" or "removed"; in a
	// database export, the dataset's name.
	Role string
	Name string
	Cols []outfile.Column
}

// Plan is the files of a run and how they are written.
type Plan struct {
	Files []File
	// Zip, when set, names the one archive that holds every file.
	Zip     string
	Options outfile.Options
	// ContentType and Extension are those of each file (not of the archive).
	ContentType, Extension string
	// Delta, Separate and Tombstones are how an incremental run writes
	// deleted rows: delta files (added, changed, removed), a separate file,
	// or a _deleted column.
	Delta, Separate, Tombstones bool
	// bundle says the run is a database export: file i holds query i.
	bundle bool
}

// NewPlan plans a run's files. The columns are compiled without
// cross-reference tables: what a file's columns are does not depend on them.
func NewPlan(snap *ferryv1.ExportSnapshot) (*Plan, error) {
	spec := snap.GetSpec()
	p := &Plan{Options: FileOptions(spec), ContentType: ContentType(spec), Extension: Extension(spec)}
	fill := func(tmpl, dataset string, ext string) (string, error) {
		return filename.Fill(tmpl, snap.GetProfile(), dataset, snap.GetRunId(), snap.GetProfileVersion(), snap.GetCreateTime().AsTime(), ext)
	}
	queries := Queries(snap)
	if len(snap.GetParts()) > 0 {
		p.bundle = true
		for i, q := range queries {
			cols, err := Columns(q.Dataset, q.Template, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", q.Dataset.GetName(), err)
			}
			name, err := fill(q.FileName, q.Dataset.GetName(), p.Extension)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", q.Dataset.GetName(), err)
			}
			p.Files = append(p.Files, File{Query: i, Role: q.Dataset.GetName(), Name: name, Cols: FileColumns(cols)})
		}
		if spec.GetZip() {
			name, err := fill(spec.GetFileName(), "bundle", "zip")
			if err != nil {
				return nil, err
			}
			p.Zip = name
		}
		return p, nil
	}
	q := queries[0]
	cols, err := Columns(q.Dataset, q.Template, nil)
	if err != nil {
		return nil, err
	}
	fcols := FileColumns(cols)
	base, err := fill(q.FileName, q.Dataset.GetName(), p.Extension)
	if err != nil {
		return nil, err
	}
	name := func(role string) string {
		if role == "rows" {
			return base
		}
		if i := strings.LastIndex(base, "."); i > 0 {
			return base[:i] + "_" + role + base[i:]
		}
		return base + "_" + role
	}
	incremental := spec.GetMode() == ferryv1.ExportMode_EXPORT_MODE_INCREMENTAL && snap.GetWatermark() != ""
	p.Delta = incremental && spec.GetDeltaFiles()
	p.Separate = incremental && !p.Delta && spec.GetDeletions() == ferryv1.Deletions_DELETIONS_SEPARATE_FILE
	p.Tombstones = incremental && !p.Delta && spec.GetDeletions() == ferryv1.Deletions_DELETIONS_TOMBSTONES
	switch {
	case p.Delta:
		for _, role := range []string{"added", "changed", "removed"} {
			p.Files = append(p.Files, File{Role: role, Name: name(role), Cols: fcols})
		}
	default:
		rowCols := fcols
		if p.Tombstones {
			rowCols = append(append([]outfile.Column{}, fcols...), outfile.Column{Header: "_deleted", Kind: outfile.Bool})
		}
		p.Files = append(p.Files, File{Role: "rows", Name: name("rows"), Cols: rowCols})
		if p.Separate {
			p.Files = append(p.Files, File{Role: "deleted", Name: name("deleted"), Cols: fcols})
		}
	}
	return p, nil
}

// route is the index in p.Files of the file a row of query q goes to, or
// -1 when it goes to none (a row added and removed since the last run).
func (p *Plan) route(q int, deleted, createdBefore bool) int {
	switch {
	case p.bundle:
		return q
	case p.Delta && deleted && createdBefore:
		return 2
	case p.Delta && deleted:
		return -1
	case p.Delta && createdBefore:
		return 1
	case p.Delta:
		return 0
	case p.Separate && deleted:
		return 1
	}
	return 0
}

// ContentType is the content type of a file of the profile's format.
func ContentType(spec *ferryv1.ExportProfileSpec) string {
	switch spec.GetFormat() {
	case ferryv1.ExportFormat_EXPORT_FORMAT_XLSX:
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case ferryv1.ExportFormat_EXPORT_FORMAT_JSONL:
		return "application/x-ndjson"
	}
	return "text/csv; charset=" + spec.GetCsv().GetEncoding()
}

// Extension is the file extension of the profile's format.
func Extension(spec *ferryv1.ExportProfileSpec) string {
	switch spec.GetFormat() {
	case ferryv1.ExportFormat_EXPORT_FORMAT_XLSX:
		return "xlsx"
	case ferryv1.ExportFormat_EXPORT_FORMAT_JSONL:
		return "jsonl"
	}
	return "csv"
}

// FileOptions are the writer options of the profile's format.
func FileOptions(spec *ferryv1.ExportProfileSpec) outfile.Options {
	o := outfile.Options{AllowFormulas: spec.GetAllowFormulas(), ReplaceUnencodable: spec.GetUnencodable() == ferryv1.Unencodable_UNENCODABLE_REPLACE}
	switch spec.GetFormat() {
	case ferryv1.ExportFormat_EXPORT_FORMAT_XLSX:
		o.Format = outfile.XLSX
	case ferryv1.ExportFormat_EXPORT_FORMAT_JSONL:
		o.Format = outfile.JSONL
	default:
		c := spec.GetCsv()
		o.Format, o.QuoteAll, o.LF, o.Encoding, o.BOM = outfile.CSV, c.GetQuoteAll(), c.GetLineEnding() == "lf", c.GetEncoding(), c.GetBom()
		if d := c.GetDelimiter(); d != "" {
			o.Delimiter = d[0]
		}
	}
	return o
}

// PartObject is the object-store name of what batch (query, range, seq) of
// a run's read attempt holds for file.
func PartObject(run, attempt string, query, rng int32, seq int64, file int32) string {
	return fmt.Sprintf("exports/%s/.parts/%s/%d-%d-%d/%d", run, attempt, query, rng, seq, file)
}

// OutputObject is the object-store name of a run's output file.
func OutputObject(run, name string) string { return "exports/" + run + "/" + name }
