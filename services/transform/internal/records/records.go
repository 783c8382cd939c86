// Package records turns a chunk of CSV records into a batch of dataset rows:
// parse, map, validate, and keep the last row of each key within the chunk.
package records

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/formats/delimited"
	"github.com/ferrydata/ferry/libs/formats/filespec"
	"github.com/ferrydata/ferry/libs/formats/textenc"
	"github.com/ferrydata/ferry/libs/mapping"
)

// Plans caches resolved plans by run, so a run's mapping is compiled once
// per process rather than once per chunk, and its cross-reference tables are
// fetched once.
type Plans struct {
	// Fetch loads a tenant's cross-reference table.
	Fetch func(ctx context.Context, tenant, name string) (mapping.Table, error)

	mu    sync.Mutex
	plans map[string]*mapping.Plan
}

// maxPlans bounds the cache; it is emptied when full.
const maxPlans = 256

// Get returns the run's plan for header.
func (p *Plans) Get(ctx context.Context, snap *ferryv1.RunSnapshot, header []string, encoding string) (*mapping.Plan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl, ok := p.plans[snap.GetRunId()]; ok {
		return pl, nil
	}
	names, err := mapping.Tables(snap.GetSpec())
	if err != nil {
		return nil, err
	}
	tables := map[string]mapping.Table{}
	for _, n := range names {
		if p.Fetch == nil {
			return nil, errs.FailedPrecondition("cross-reference table %q cannot be loaded here", n)
		}
		t, err := p.Fetch(ctx, snap.GetTenantId(), n)
		if err != nil {
			return nil, fmt.Errorf("load cross-reference table %q: %w", n, err)
		}
		tables[n] = t
	}
	pl, err := mapping.Resolve(snap.GetSpec(), snap.GetDataset(), header, tables)
	if err != nil {
		return nil, err
	}
	pl.Encoding = encoding
	if p.plans == nil || len(p.plans) >= maxPlans {
		p.plans = map[string]*mapping.Plan{}
	}
	p.plans[snap.GetRunId()] = pl
	return pl, nil
}

// options reads a chunk as ingest cut it. ingest enforced the size limits
// already, so the chunk's own size bounds every record and field here.
func options(c *ferryv1.Chunk) delimited.Options {
	n := len(c.GetData()) + 1
	return filespec.ChunkOptions(c.GetRun().GetSpec(), c.GetStandardCsv(), filespec.Limits{MaxRecordSize: n, MaxFieldSize: n, MaxColumns: 1 << 20})
}

// Build maps a chunk into a record batch. Every valid row is kept, in file
// order: which row of a key wins is decided when the run is applied.
func Build(c *ferryv1.Chunk, plan *mapping.Plan) (*ferryv1.RecordBatch, error) {
	b := &ferryv1.RecordBatch{Run: c.GetRun(), Seq: c.GetSeq(), Columns: plan.Columns(), Header: c.GetHeader(), FieldColumns: plan.FieldColumns()}
	r := delimited.NewReader(c.GetData(), c.GetFirstRow(), options(c))
	var out bytes.Buffer
	out.Grow(len(c.GetData()) + len(c.GetData())/4)
	for {
		row, fields, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		b.Read++
		var recErr *delimited.RecordError
		if errors.As(err, &recErr) {
			b.Rejects = append(b.Rejects, &ferryv1.Reject{Row: recErr.Row, Column: column(c.GetHeader(), recErr.Column),
				Reason: recErr.Reason, Rule: "format"})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read chunk %d: %w", c.GetSeq(), err)
		}
		res := plan.Row(row, fields, &out)
		switch {
		case res.Reject != nil:
			rej := res.Reject
			b.Rejects = append(b.Rejects, &ferryv1.Reject{Row: rej.Row, Column: rej.Column, Value: rej.Value, Reason: rej.Reason,
				Rule: rej.Rule, Record: textenc.StorableAll(fields)})
		case res.Held != nil:
			h := res.Held
			b.Held = append(b.Held, &ferryv1.HeldRecord{
				Row:    &ferryv1.HeldRow{Row: h.Row, Column: h.Column, Value: h.Value, Table: h.Table, Reason: h.Reason},
				Record: textenc.StorableAll(fields),
			})
		default:
			b.Staged++
		}
	}
	b.CopyData = out.Bytes()
	return b, nil
}

func column(header []string, col int) string {
	if col >= 1 && col <= len(header) {
		return header[col-1]
	}
	return ""
}
