// Package assemble ends export runs: it keeps a ledger of the batches that
// transform formatted and, once the manifest says every batch of the read
// is there, assembles the parts in order into the run's files, records the
// outputs, and either ends the run (moving the incremental watermark) or,
// when the profile names destinations, hands it to the deliverer; all at
// most once per run.
package assemble

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/exportfmt"
	"github.com/ferrydata/ferry/services/delivery/internal/deliver"
)

// Assembler assembles export runs.
type Assembler struct {
	Pool  *pgxpool.Pool
	JS    jetstream.JetStream
	Files jetstream.ObjectStore
	Log   *slog.Logger
}

type objects struct{ store jetstream.ObjectStore }

func (o objects) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	return o.store.Get(ctx, name)
}

func (o objects) Put(ctx context.Context, name string, r io.Reader) error {
	_, err := o.PutHashed(ctx, name, r)
	return err
}

// PutHashed stores r and returns the SHA-256 the object store computed.
func (o objects) PutHashed(ctx context.Context, name string, r io.Reader) ([]byte, error) {
	info, err := o.store.Put(ctx, jetstream.ObjectMeta{Name: name}, r)
	if err != nil {
		return nil, err
	}
	sum, err := jetstream.DecodeObjectDigest(info.Digest)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("object %s: digest %q: %v", name, info.Digest, err)
	}
	return sum, nil
}

// Handle records a formatted batch or a manifest and assembles the run if
// it is complete.
func (a *Assembler) Handle(ctx context.Context, msg jetstream.Msg) error {
	var ev ferryv1.ExportAssembly
	if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
		return bus.Permanent(fmt.Errorf("decode export assembly on %s: %w", msg.Subject(), err))
	}
	var tenant, run string
	switch e := ev.GetEvent().(type) {
	case *ferryv1.ExportAssembly_Part:
		tenant, run = e.Part.GetTenantId(), e.Part.GetRunId()
	case *ferryv1.ExportAssembly_Manifest:
		tenant, run = e.Manifest.GetRun().GetTenantId(), e.Manifest.GetRun().GetRunId()
	default:
		return bus.Permanent(fmt.Errorf("empty export assembly message on %s", msg.Subject()))
	}
	if msg.Subject() != bus.ExportPartsSubject(tenant, run) {
		return bus.Permanent(fmt.Errorf("export assembly message on %s names run %s of tenant %s", msg.Subject(), run, tenant))
	}
	if err := a.record(ctx, &ev); err != nil {
		return err
	}
	status, err := a.Assemble(ctx, run)
	if err != nil || status == "" {
		return err
	}
	// Reported again by every later message of an ended run: the first
	// report may have been lost between commit and publish. The message
	// id makes it count once.
	return bus.PublishProgress(ctx, a.JS, tenant, run, "exported/"+status,
		&ferryv1.Progress{Event: &ferryv1.Progress_RunApplied{RunApplied: &ferryv1.RunApplied{}}})
}

// record writes the message into the ledger; a redelivered one changes nothing.
func (a *Assembler) record(ctx context.Context, ev *ferryv1.ExportAssembly) error {
	var err error
	switch e := ev.GetEvent().(type) {
	case *ferryv1.ExportAssembly_Part:
		p := e.Part
		blob, merr := proto.Marshal(p)
		if merr != nil {
			return merr
		}
		_, err = a.Pool.Exec(ctx, `INSERT INTO ferry.export_parts (run_id, attempt, query, range, seq, part)
			SELECT id, $2, $3, $4, $5, $6 FROM ferry.runs WHERE id = $1 ON CONFLICT DO NOTHING`,
			p.GetRunId(), p.GetAttempt(), p.GetQuery(), p.GetRange(), p.GetSeq(), blob)
	case *ferryv1.ExportAssembly_Manifest:
		m := e.Manifest
		blob, merr := proto.Marshal(m)
		if merr != nil {
			return merr
		}
		_, err = a.Pool.Exec(ctx, `INSERT INTO ferry.export_manifests (run_id, attempt, manifest)
			SELECT id, $2, $3 FROM ferry.runs WHERE id = $1 ON CONFLICT DO NOTHING`, m.GetRun().GetRunId(), m.GetAttempt(), blob)
	}
	if err != nil {
		return fmt.Errorf("record export assembly message: %w", err)
	}
	return nil
}

// Assemble ends run if every batch of its read is formatted: it writes the
// files and records the outcome. It returns the run's status once it has
// ended ("succeeded", "failed", or what ended it before), "" while batches
// are missing.
func (a *Assembler) Assemble(ctx context.Context, run string) (string, error) {
	tx, err := a.Pool.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// One assembler per run at a time; the others wait and then find the
	// run ended.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 2))`, run); err != nil {
		return "", err
	}
	var status string
	if err := tx.QueryRow(ctx, `SELECT status FROM ferry.runs WHERE id = $1`, run).Scan(&status); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return "", bus.Permanent(fmt.Errorf("export run %s does not exist", run))
		}
		return "", err
	}
	if status != "running" {
		return status, a.cleanup(ctx, tx, run)
	}
	var attempt string
	var blob []byte
	err = tx.QueryRow(ctx, `SELECT attempt, manifest FROM ferry.export_manifests WHERE run_id = $1`, run).Scan(&attempt, &blob)
	if errors.Is(err, pgx.ErrNoRows) {
		// Assembled and now delivering: a late or redelivered part leaves
		// nothing behind.
		var delivering bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ferry.deliveries WHERE run_id = $1)`, run).Scan(&delivering); err != nil {
			return "", err
		}
		if delivering {
			return "", a.cleanup(ctx, tx, run)
		}
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var m ferryv1.ExportManifest
	if err := proto.Unmarshal(blob, &m); err != nil {
		return "", bus.Permanent(fmt.Errorf("export run %s: manifest: %w", run, err))
	}
	var expected int64
	for _, q := range m.GetQueries() {
		for _, n := range q.GetRangeBatches() {
			expected += n
		}
	}
	// Counted first: every notice of a run comes here, and only the last
	// one needs the parts themselves.
	var got int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM ferry.export_parts WHERE run_id = $1 AND attempt = $2`, run, attempt).Scan(&got); err != nil {
		return "", err
	}
	if got < expected {
		return "", nil
	}
	rows, err := tx.Query(ctx, `SELECT part FROM ferry.export_parts WHERE run_id = $1 AND attempt = $2 ORDER BY query, range, seq`, run, attempt)
	if err != nil {
		return "", err
	}
	batches, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*ferryv1.ExportPartReady, error) {
		var b []byte
		if err := row.Scan(&b); err != nil {
			return nil, err
		}
		var p ferryv1.ExportPartReady
		return &p, proto.Unmarshal(b, &p)
	})
	if err != nil {
		return "", err
	}
	snap := m.GetRun()
	plan, err := exportfmt.NewPlan(snap)
	if err != nil {
		return a.fail(ctx, tx, run, err.Error(), nil)
	}
	res, err := exportfmt.Assemble(ctx, run, plan, batches, objects{a.Files})
	var fe *exportfmt.FailedError
	switch {
	case errors.As(err, &fe):
		return a.fail(ctx, tx, run, fe.Msg, res.Objects)
	case err != nil:
		return "", err
	}
	note := ""
	if res.Replaced > 0 {
		note = fmt.Sprintf("%d characters that %s cannot hold were replaced", res.Replaced, snap.GetSpec().GetCsv().GetEncoding())
	}
	outs, err := protojson.Marshal(&ferryv1.RunOutputs{Outputs: res.Outputs})
	if err != nil {
		return "", err
	}
	incremental := snap.GetSpec().GetMode() == ferryv1.ExportMode_EXPORT_MODE_INCREMENTAL
	if _, err := tx.Exec(ctx, `UPDATE ferry.runs SET outputs = $2, rows_read = $3, watermark = $4, note = $5, advance_watermark = $6
		WHERE id = $1`, run, outs, res.RowsRead, m.GetWatermark(), note, incremental); err != nil {
		return "", err
	}
	runID, err := uuid.Parse(run)
	if err != nil {
		return "", bus.Permanent(fmt.Errorf("export run id %q: %w", run, err))
	}
	dests := snap.GetSpec().GetDestinations()
	status = "succeeded"
	if len(dests) == 0 {
		// The watermark moves only with a run that succeeded: to the
		// snapshot this run read.
		if err := deliver.Succeed(ctx, tx, runID); err != nil {
			return "", err
		}
	} else {
		// The run stays running until every destination has its files;
		// the deliverer ends it and moves the watermark.
		status = ""
		for _, d := range dests {
			if _, err := tx.Exec(ctx, `INSERT INTO ferry.deliveries (id, tenant_id, run_id, destination_id, destination, kind)
				SELECT $1, $2, $3, d.id, $4, coalesce(d.kind, '') FROM (SELECT 1) one
				LEFT JOIN ferry.destinations d ON d.tenant_id = $2 AND d.name = $4
				ON CONFLICT (run_id, destination) DO NOTHING`, uuid.New(), snap.GetTenantId(), runID, d); err != nil {
				return "", fmt.Errorf("record the deliveries of run %s: %w", run, err)
			}
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, deliver.Channel, run); err != nil {
			return "", err
		}
	}
	if err := a.cleanup(ctx, tx, run); err != nil {
		return "", err
	}
	a.Log.InfoContext(ctx, "export run assembled", "tenant", snap.GetTenantId(), "run", run, "profile", snap.GetProfile(), "rows", res.RowsRead,
		"files", len(res.Outputs), "destinations", len(dests))
	return status, nil
}

// fail ends the run with reason and deletes what it wrote.
func (a *Assembler) fail(ctx context.Context, tx pgx.Tx, run, reason string, written []string) (string, error) {
	if _, err := tx.Exec(ctx, `UPDATE ferry.runs SET status = 'failed', error = $2, finished_at = now() WHERE id = $1`, run, reason); err != nil {
		return "", err
	}
	if err := a.cleanup(ctx, tx, run); err != nil {
		return "", err
	}
	for _, o := range written {
		if err := a.Files.Delete(context.WithoutCancel(ctx), o); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			a.Log.WarnContext(ctx, "deleting the file of a failed export failed", "run", run, "object", o, "err", err)
		}
	}
	return "failed", nil
}

// cleanup deletes a run's ledger, commits, and then deletes the parts: a
// part left behind by a crash in between takes space, never a wrong file.
func (a *Assembler) cleanup(ctx context.Context, tx pgx.Tx, run string) error {
	rows, err := tx.Query(ctx, `DELETE FROM ferry.export_parts WHERE run_id = $1 RETURNING part`, run)
	if err != nil {
		return err
	}
	lists, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]string, error) {
		var b []byte
		if err := row.Scan(&b); err != nil {
			return nil, err
		}
		var p ferryv1.ExportPartReady
		if err := proto.Unmarshal(b, &p); err != nil {
			return nil, err
		}
		var names []string
		for _, f := range p.GetFiles() {
			if f.GetBytes() > 0 {
				names = append(names, exportfmt.PartObject(run, p.GetAttempt(), p.GetQuery(), p.GetRange(), p.GetSeq(), f.GetFile()))
			}
		}
		return names, nil
	})
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM ferry.export_manifests WHERE run_id = $1`, run); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for _, names := range lists {
		for _, n := range names {
			if err := a.Files.Delete(context.WithoutCancel(ctx), n); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				a.Log.WarnContext(ctx, "deleting an export part failed", "run", run, "object", n, "err", err)
			}
		}
	}
	return nil
}
