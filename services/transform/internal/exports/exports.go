// Package exports formats the row batches of export runs: each batch
// becomes a part of every file of the run it has rows for, stored in the
// object store, and a notice to delivery, which assembles the parts.
package exports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/exportfmt"
)

// Formatter formats batches.
type Formatter struct {
	JS    jetstream.JetStream
	Files jetstream.ObjectStore
	// Fetch loads a tenant's cross-reference table.
	Fetch func(ctx context.Context, tenant, name string) (exportfmt.Reverser, error)

	mu    sync.Mutex
	cache map[string]*exportfmt.Formatter
}

// maxFormatters bounds the cache; it is emptied when full.
const maxFormatters = 256

// formatter is the compiled query of a batch, cached per read attempt.
func (f *Formatter) formatter(ctx context.Context, b *ferryv1.ExportBatch) (*exportfmt.Formatter, error) {
	key := fmt.Sprintf("%s/%s/%d", b.GetRun().GetRunId(), b.GetAttempt(), b.GetQuery())
	f.mu.Lock()
	fm := f.cache[key]
	f.mu.Unlock()
	if fm != nil {
		return fm, nil
	}
	snap := b.GetRun()
	queries := exportfmt.Queries(snap)
	if int(b.GetQuery()) >= len(queries) || b.GetQuery() < 0 {
		return nil, bus.Permanent(fmt.Errorf("batch of query %d; the run has %d", b.GetQuery(), len(queries)))
	}
	tables, err := exportfmt.LoadTables(ctx, snap.GetTenantId(), queries[b.GetQuery()].Template, f.Fetch)
	if err != nil {
		// The profile service will answer again.
		return nil, err
	}
	fm, err = exportfmt.NewFormatter(snap, int(b.GetQuery()), tables)
	if err != nil {
		// The export service compiled the same template before reading.
		return nil, bus.Permanent(err)
	}
	f.mu.Lock()
	if f.cache == nil || len(f.cache) >= maxFormatters {
		f.cache = map[string]*exportfmt.Formatter{}
	}
	f.cache[key] = fm
	f.mu.Unlock()
	return fm, nil
}

// Handle formats one batch, stores its parts and tells delivery.
func (f *Formatter) Handle(ctx context.Context, msg jetstream.Msg) error {
	var b ferryv1.ExportBatch
	if err := proto.Unmarshal(msg.Data(), &b); err != nil {
		return bus.Permanent(fmt.Errorf("decode export batch on %s: %w", msg.Subject(), err))
	}
	snap := b.GetRun()
	if msg.Subject() != bus.ExportRowsSubject(snap.GetTenantId(), snap.GetRunId()) {
		return bus.Permanent(fmt.Errorf("export batch on %s names run %s of tenant %s", msg.Subject(), snap.GetRunId(), snap.GetTenantId()))
	}
	ready := &ferryv1.ExportPartReady{TenantId: snap.GetTenantId(), RunId: snap.GetRunId(), Attempt: b.GetAttempt(),
		Query: b.GetQuery(), Range: b.GetRange(), Seq: b.GetSeq(), RowsRead: b.GetRows()}
	fm, err := f.formatter(ctx, &b)
	if err != nil {
		if !bus.IsPermanent(err) {
			return err
		}
		ready.Error = err.Error()
	} else {
		parts, err := fm.Format(b.GetData(), b.GetRows())
		var re *exportfmt.RowError
		switch {
		case errors.As(err, &re):
			ready.Error, ready.ErrorRow = re.Msg, re.Row
		case err != nil:
			return bus.Permanent(fmt.Errorf("export batch %d-%d-%d of run %s: %w", b.GetQuery(), b.GetRange(), b.GetSeq(), snap.GetRunId(), err))
		}
		for _, p := range parts {
			if len(p.Data) > 0 {
				name := exportfmt.PartObject(snap.GetRunId(), b.GetAttempt(), b.GetQuery(), b.GetRange(), b.GetSeq(), int32(p.File))
				if _, err := f.Files.Put(ctx, jetstream.ObjectMeta{Name: name}, bytes.NewReader(p.Data)); err != nil {
					return fmt.Errorf("store part %s: %w", name, err)
				}
			}
			ready.Files = append(ready.Files, &ferryv1.ExportPartFile{File: int32(p.File), Role: fm.Plan().Files[p.File].Role, Rows: p.Rows,
				Bytes: int64(len(p.Data)), Replaced: p.Replaced, Unencodable: exportfmt.UnencodableRows(p.Unencodable)})
		}
	}
	id := fmt.Sprintf("xpart/%s/%s/%d-%d-%d", snap.GetRunId(), b.GetAttempt(), b.GetQuery(), b.GetRange(), b.GetSeq())
	return bus.Publish(ctx, f.JS, bus.ExportPartsSubject(snap.GetTenantId(), snap.GetRunId()), id,
		&ferryv1.ExportAssembly{Event: &ferryv1.ExportAssembly_Part{Part: ready}})
}
