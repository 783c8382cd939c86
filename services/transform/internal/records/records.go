// Package records turns a chunk of CSV records into a batch of dataset rows:
// parse, map, validate, and keep the last row of each key within the chunk.
package records

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/formats/delimited"
	"github.com/ferrydata/ferry/libs/formats/filespec"
	"github.com/ferrydata/ferry/libs/mapping"
)

// Plans caches resolved plans by run, so a run's mapping is resolved once
// per process rather than once per chunk.
type Plans struct {
	mu    sync.Mutex
	plans map[string]*mapping.Plan
}

// maxPlans bounds the cache; it is emptied when full.
const maxPlans = 256

// Get returns the run's plan for header.
func (p *Plans) Get(snap *ferryv1.RunSnapshot, header []string, encoding string) (*mapping.Plan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl, ok := p.plans[snap.GetRunId()]; ok {
		return pl, nil
	}
	pl, err := mapping.Resolve(snap.GetSpec(), snap.GetDataset(), header)
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

// Build maps a chunk into a record batch.
func Build(c *ferryv1.Chunk, plan *mapping.Plan) (*ferryv1.RecordBatch, error) {
	b := &ferryv1.RecordBatch{Run: c.GetRun(), Seq: c.GetSeq(), Columns: plan.Columns()}
	r := delimited.NewReader(c.GetData(), c.GetFirstRow(), options(c))
	var (
		out    bytes.Buffer
		starts []int
		last   = map[string]int{}
		dups   bool
	)
	out.Grow(len(c.GetData()) + len(c.GetData())/4)
	for {
		row, fields, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		b.Read++
		var recErr *delimited.RecordError
		if errors.As(err, &recErr) {
			b.Rejects = append(b.Rejects, &ferryv1.Reject{Row: recErr.Row, Column: column(c.GetHeader(), recErr.Column), Reason: recErr.Reason})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read chunk %d: %w", c.GetSeq(), err)
		}
		start := out.Len()
		key, rej := plan.Row(row, fields, &out)
		if rej != nil {
			b.Rejects = append(b.Rejects, &ferryv1.Reject{Row: rej.Row, Column: rej.Column, Value: rej.Value, Reason: rej.Reason})
			continue
		}
		if _, seen := last[key]; seen {
			dups = true
		}
		last[key] = len(b.Keys)
		starts = append(starts, start)
		b.Keys = append(b.Keys, key)
		b.Rows = append(b.Rows, row)
	}
	if !dups {
		b.CopyData = out.Bytes()
		return b, nil
	}
	// Within a file the row with the highest row number wins for a key.
	data := out.Bytes()
	var kept bytes.Buffer
	kept.Grow(len(data))
	keys, rows := b.Keys[:0:0], b.Rows[:0:0]
	for i, k := range b.Keys {
		if last[k] != i {
			b.Superseded++
			continue
		}
		end := len(data)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		kept.Write(data[starts[i]:end])
		keys = append(keys, k)
		rows = append(rows, b.Rows[i])
	}
	b.CopyData, b.Keys, b.Rows = kept.Bytes(), keys, rows
	return b, nil
}

func column(header []string, col int) string {
	if col >= 1 && col <= len(header) {
		return header[col-1]
	}
	return ""
}
