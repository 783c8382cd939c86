package exportfmt

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/expr"
	"github.com/ferrydata/ferry/libs/formats/outfile"
)

// LoadTables loads the cross-reference tables a template uses, each once,
// with fetch.
func LoadTables(ctx context.Context, tenant string, t *ferryv1.TemplateSpec,
	fetch func(ctx context.Context, tenant, name string) (Reverser, error)) (map[string]Reverser, error) {
	tables := map[string]Reverser{}
	for _, c := range t.GetColumns() {
		x := c.GetCrossReference()
		if x == "" || tables[x] != nil {
			continue
		}
		rt, err := fetch(ctx, tenant, x)
		if err != nil {
			return nil, fmt.Errorf("load cross-reference table %q: %w", x, err)
		}
		tables[x] = rt
	}
	return tables, nil
}

// Formatter formats the batches of one query of a run into parts.
type Formatter struct {
	plan   *Plan
	query  int
	fields []*ferryv1.Field
	cols   []*Column
}

// NewFormatter compiles query q of the run with its cross-reference tables.
func NewFormatter(snap *ferryv1.ExportSnapshot, q int, tables map[string]Reverser) (*Formatter, error) {
	plan, err := NewPlan(snap)
	if err != nil {
		return nil, err
	}
	queries := Queries(snap)
	if q < 0 || q >= len(queries) {
		return nil, fmt.Errorf("the run has no query %d", q)
	}
	if tables == nil {
		tables = map[string]Reverser{}
	}
	cols, err := Columns(queries[q].Dataset, queries[q].Template, tables)
	if err != nil {
		return nil, err
	}
	return &Formatter{plan: plan, query: q, fields: queries[q].Dataset.GetFields(), cols: cols}, nil
}

// Plan is the run's plan.
func (f *Formatter) Plan() *Plan { return f.plan }

// Part is what one batch holds for one file.
type Part struct {
	// File is the index of the file in the plan.
	File int
	Data []byte
	Rows int64
	// Replaced counts characters replaced because the encoding cannot hold them.
	Replaced int64
	// Unencodable lists the batch's rows (numbered within the batch) with
	// characters the encoding cannot hold, when replacing is off.
	Unencodable *outfile.UnencodableError
}

// RowError is a cell that cannot be formatted, in row Row of the batch.
type RowError struct {
	Row int64
	Msg string
}

func (e *RowError) Error() string { return fmt.Sprintf("row %d of the batch, %s", e.Row, e.Msg) }

// partWriter collects one file's part of a batch.
type partWriter struct {
	part Part
	buf  bytes.Buffer
	w    outfile.Writer // CSV and JSONL; XLSX parts are typed cells
}

// Format formats a batch of n rows (AppendRow form) into a part for every
// file of the query that gets rows. A cell that cannot be formatted is a
// *RowError; a broken batch is another error.
func (f *Formatter) Format(data []byte, n int64) ([]Part, error) {
	fields := f.fields
	// identity: the file's columns are the fields, in order, as they are.
	exprs, identity := false, len(f.cols) == len(fields) && !f.plan.Tombstones
	for i, c := range f.cols {
		exprs = exprs || c.prog != nil
		identity = identity && c.field == i && c.xref == nil
	}
	// Typed values feed expressions only.
	var typed map[string]any
	if exprs {
		typed = make(map[string]any, len(fields))
	}
	vals := make([]outfile.Value, len(fields))
	line := make([]outfile.Value, len(f.cols), len(f.cols)+1)
	// mapped are the columns that line is made of; with identity, the
	// fields' values are the cells.
	mapped := f.cols
	if identity {
		mapped = nil
	}
	in := &expr.Input{Fields: typed}
	parts := map[int]*partWriter{}
	var order []int
	xlsx := f.plan.Options.Format == outfile.XLSX
	// One copy of the batch as a string: every text value is a substring of
	// it, not an allocation of its own.
	src := string(data)
	raw := make([]string, len(fields)+2)
	null := make([]bool, len(fields)+2)
	var err error
	for row := int64(1); row <= n; row++ {
		if src, err = nextRow(src, raw, null); err != nil {
			return nil, fmt.Errorf("row %d of the batch: %w", row, err)
		}
		for i, fd := range fields {
			// In place: a Value is too large to copy around per cell.
			if err := cell(&vals[i], fd.GetType(), raw[i], null[i]); err != nil {
				return nil, fmt.Errorf("row %d of the batch, field %s: %w", row, fd.GetName(), err)
			}
			if exprs {
				typed[fd.GetName()] = typedValue(fd.GetType(), &vals[i])
			}
		}
		deleted := isTrue(raw[len(fields)])
		createdBefore := isTrue(raw[len(fields)+1])
		file := f.plan.route(f.query, deleted, createdBefore)
		if file < 0 {
			continue
		}
		for i, c := range mapped {
			var v outfile.Value
			if c.field >= 0 {
				v = vals[c.field]
			} else {
				res, err := c.prog.Eval(in)
				if err != nil {
					return nil, &RowError{Row: row, Msg: fmt.Sprintf("column %q: %v", c.out.Header, err)}
				}
				v = exprValue(res)
			}
			if c.xref != nil && v.Kind != outfile.Null {
				ext, ok, err := c.xref.Reverse(text(v))
				switch {
				case err != nil:
					return nil, &RowError{Row: row, Msg: fmt.Sprintf("column %q: %v", c.out.Header, err)}
				case !ok:
					return nil, &RowError{Row: row, Msg: fmt.Sprintf("column %q: value %q is not an internal value of cross-reference table %q",
						c.out.Header, text(v), c.xname)}
				}
				v = outfile.Value{Kind: outfile.String, Text: ext}
			}
			line[i] = v
		}
		cells := line
		if identity {
			cells = vals
		}
		if f.plan.Tombstones {
			cells = append(line, outfile.Value{Kind: outfile.Bool, Bool: deleted})
		}
		pw := parts[file]
		if pw == nil {
			pw = &partWriter{part: Part{File: file}}
			if len(order) == 0 {
				// The first file's part is about as large as the batch.
				pw.buf.Grow(len(data) + len(data)/8)
			}
			if !xlsx {
				o := f.plan.Options
				o.NoHeader = true
				if pw.w, err = outfile.New(&pw.buf, f.plan.Files[file].Cols, o); err != nil {
					return nil, err
				}
			}
			parts[file] = pw
			order = append(order, file)
		}
		if xlsx {
			pw.buf.Write(AppendCells(pw.buf.AvailableBuffer(), row, cells))
			pw.part.Rows++
			continue
		}
		if err := pw.w.WriteRow(row, cells); err != nil {
			var ce *outfile.CellError
			var ue *outfile.UnencodableError
			switch {
			case errors.As(err, &ue):
			case errors.As(err, &ce):
				return nil, &RowError{Row: row, Msg: fmt.Sprintf("column %q: %v", ce.Column, ce.Err)}
			default:
				return nil, err
			}
		}
	}
	if len(src) != 0 {
		return nil, fmt.Errorf("the batch holds more than its %d rows", n)
	}
	out := make([]Part, 0, len(order))
	for _, file := range order {
		pw := parts[file]
		if pw.w != nil {
			stats, err := pw.w.Close()
			var ue *outfile.UnencodableError
			switch {
			case errors.As(err, &ue):
				pw.part.Unencodable = ue
			case err != nil:
				return nil, err
			}
			pw.part.Rows, pw.part.Replaced = stats.Rows, stats.Replaced
		}
		pw.part.Data = pw.buf.Bytes()
		out = append(out, pw.part)
	}
	return out, nil
}
