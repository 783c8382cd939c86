// Package events applies the change events upstream systems publish on
// ferry.events.<tenant>.<dataset> with the tenant's active event import
// profile of the dataset: each event is mapped and validated as a record of
// a file would be, and the events of a micro-batch are applied in order of
// arrival in one transaction. An event applies only when its version (or
// timestamp) is newer than the stored row's; a repeated event id changes
// nothing; an event that cannot be applied is published, with the reason,
// as a dead letter.
package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/mapping"
	"github.com/ferrydata/ferry/libs/orchestration"
)

// Defaults of EventImport.
const (
	DefaultBatchSize   = 500
	DefaultBatchWindow = time.Second
	// keepIDs is how long event ids are remembered: as long as the events
	// stream keeps events.
	keepIDs = 7 * 24 * time.Hour
)

// Message is an event as it arrived.
type Message struct {
	Subject     string
	Data        []byte
	ContentType string
	// StreamSeq is its sequence in the events stream: a redelivery has the
	// same, a repeat published again a new one.
	StreamSeq uint64
}

// Outcome is what applying a batch did, by event.
type Outcome struct {
	Applied, Ignored, Rejected int64
	// Redelivered counts events of an earlier batch that committed but was
	// not acknowledged: they were counted then.
	Redelivered int64
	// Reasons are the dead letters' reasons, in order.
	Reasons []string
}

// Applier applies batches of change events.
type Applier struct {
	Pool *pgxpool.Pool
	JS   jetstream.JetStream
	Log  *slog.Logger
	// Tables loads a tenant's cross-reference table; nil when none can be
	// loaded.
	Tables func(ctx context.Context, tenantID, name string) (mapping.Table, error)

	mu      sync.Mutex
	cleaned map[string]time.Time
}

// profile is the active event import profile of a dataset.
type profile struct {
	id       uuid.UUID
	name     string
	spec     *ferryv1.ImportProfileSpec
	tenantID uuid.UUID
	schema   string
	dataset  *ferryv1.Dataset
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// loadProfile returns the active event import profile of a tenant's
// dataset, nil when there is none. Applying profiles keeps it to one; were
// there two, the first by name would be used.
func loadProfile(ctx context.Context, q querier, tenant, dataset string) (*profile, error) {
	rows, err := q.Query(ctx, `SELECT p.id, p.name, v.spec, tn.id, tn.schema_name, d.definition
		FROM ferry.tenants tn
		JOIN ferry.import_profiles p ON p.tenant_id = tn.id
		JOIN ferry.import_profile_versions v ON v.profile_id = p.id AND v.version = p.current_version
		JOIN ferry.datasets d ON d.tenant_id = tn.id AND d.name = $2
		WHERE tn.name = $1 AND v.spec->>'dataset' = $2 AND v.spec ? 'events' AND v.spec->>'status' = 'PROFILE_STATUS_ACTIVE'
		ORDER BY p.name LIMIT 1`, tenant, dataset)
	if err != nil {
		return nil, fmt.Errorf("look up event import profile of %s/%s: %w", tenant, dataset, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	var (
		p         profile
		spec, def []byte
	)
	if err := rows.Scan(&p.id, &p.name, &spec, &p.tenantID, &p.schema, &def); err != nil {
		return nil, err
	}
	p.spec, p.dataset = &ferryv1.ImportProfileSpec{}, &ferryv1.Dataset{}
	if err := protojson.Unmarshal(spec, p.spec); err != nil {
		return nil, fmt.Errorf("decode profile %s: %w", p.name, err)
	}
	if err := protojson.Unmarshal(def, p.dataset); err != nil {
		return nil, fmt.Errorf("decode dataset %s: %w", dataset, err)
	}
	p.dataset.Name = dataset
	return &p, rows.Err()
}

// Settings returns the batch size and window of a dataset's event import
// profile; ok is false when it has none.
func (a *Applier) Settings(ctx context.Context, tenant, dataset string) (size int, window time.Duration, ok bool, err error) {
	p, err := loadProfile(ctx, a.Pool, tenant, dataset)
	if err != nil || p == nil {
		return 0, 0, false, err
	}
	size, window = int(p.spec.GetEvents().GetBatchSize()), time.Duration(p.spec.GetEvents().GetBatchWindowMs())*time.Millisecond
	if size <= 0 {
		size = DefaultBatchSize
	}
	if window <= 0 {
		window = DefaultBatchWindow
	}
	return size, window, true, nil
}

// SplitSubject returns the tenant and dataset of an events subject.
func SplitSubject(subject string) (tenant, dataset string, ok bool) {
	parts := strings.Split(subject, ".")
	if len(parts) != 4 || parts[0] != "ferry" || parts[1] != "events" || parts[2] == "" || parts[3] == "" {
		return "", "", false
	}
	return parts[2], parts[3], true
}

// item is one event of a batch on its way.
type item struct {
	msg    Message
	ev     *Event
	reason string // why it is dead-lettered
	// skip: a repeated id (counted ignored) or a redelivery (not counted).
	skip, redelivered bool
	values            []*string // the mapped fields' texts, nil for NULL
	stmt              *statement
	applied           bool
}

// Apply applies the events of one tenant's dataset, in order, in one
// transaction, and publishes the dead letters before it commits. An error
// is transient: nothing was committed and the batch may be tried again.
func (a *Applier) Apply(ctx context.Context, tenant, dataset string, msgs []Message) (Outcome, error) {
	items := make([]*item, len(msgs))
	for i, m := range msgs {
		it := &item{msg: m}
		items[i] = it
		ev, err := Decode(m.Data, m.ContentType)
		switch {
		case err != nil:
			it.reason = err.Error()
		case ev.Tenant != "" && ev.Tenant != tenant:
			it.reason = fmt.Sprintf("event names tenant %s but was published for tenant %s", ev.Tenant, tenant)
		default:
			it.ev = ev
		}
	}
	var out Outcome
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		out = Outcome{}
		for _, it := range items {
			it.skip, it.redelivered, it.values, it.stmt, it.applied = false, false, nil, nil, false
			if it.ev != nil {
				it.reason = ""
			}
		}
		p, err := loadProfile(ctx, tx, tenant, dataset)
		if err != nil {
			return err
		}
		if p == nil {
			reason := fmt.Sprintf("no active event import profile for dataset %s", dataset)
			for _, it := range items {
				if it.ev != nil {
					it.reason = reason
				}
			}
			return a.deadLetters(ctx, tenant, dataset, "", items, &out)
		}
		b := &batch{a: a, tx: tx, p: p, tenant: tenant, items: items, out: &out}
		return b.run(ctx)
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("apply events of %s/%s: %w", tenant, dataset, err)
	}
	return out, nil
}

// deadLetters publishes the dead letters of a batch, each acknowledged by
// the stream; the message id makes a batch tried again publish each once.
func (a *Applier) deadLetters(ctx context.Context, tenant, dataset, profileName string, items []*item, out *Outcome) error {
	for _, it := range items {
		if it.reason == "" || it.redelivered {
			continue
		}
		out.Rejected++
		out.Reasons = append(out.Reasons, it.reason)
		data, err := proto.Marshal(&ferryv1.DeadLetter{Subject: it.msg.Subject, Payload: it.msg.Data, Reason: it.reason,
			Profile: profileName, Time: timestamppb.Now()})
		if err != nil {
			return err
		}
		m := nats.NewMsg(bus.DeadLetterSubject(tenant, dataset))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("deadletter/%d", it.msg.StreamSeq))
		if _, err := a.JS.PublishMsg(ctx, m); err != nil {
			return fmt.Errorf("publish dead letter: %w", err)
		}
		a.Log.Info("event dead-lettered", "tenant", tenant, "dataset", dataset, "profile", profileName, "stream_seq", it.msg.StreamSeq, "reason", it.reason)
	}
	return nil
}

// batch is one batch's transaction.
type batch struct {
	a      *Applier
	tx     pgx.Tx
	p      *profile
	tenant string
	items  []*item
	out    *Outcome
	// runID and runSeq mark the rows the batch writes, as a run's would be.
	runID  uuid.UUID
	runSeq int64
	plans  map[string]*planned
	tables map[string]mapping.Table
}

func (b *batch) dataset() string { return b.p.dataset.GetName() }

func (b *batch) run(ctx context.Context) error {
	tx, p := b.tx, b.p
	// One batch of a dataset at a time: events apply in order of arrival.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 2))`, p.tenantID.String()+"/events/"+b.dataset()); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('ferry.runs', 'seq'))`).Scan(&b.runSeq); err != nil {
		return fmt.Errorf("take a run sequence: %w", err)
	}
	b.runID = uuid.New()
	if err := b.dedupe(ctx); err != nil {
		return err
	}
	if err := b.loadTables(ctx); err != nil {
		return err
	}
	for _, it := range b.items {
		if it.ev != nil && !it.skip {
			b.mapEvent(it)
		}
	}
	if err := b.write(ctx); err != nil {
		return err
	}
	if err := b.record(ctx); err != nil {
		return err
	}
	// Published before commit: a crash between them publishes again (the
	// message id keeps one) and counts once.
	return b.a.deadLetters(ctx, b.tenant, b.dataset(), p.name, b.items, b.out)
}

// dedupe marks repeated event ids: of an earlier batch, or earlier in this
// one. A rejected event's id may come again, fixed.
func (b *batch) dedupe(ctx context.Context) error {
	var ids []string
	for _, it := range b.items {
		if it.ev != nil {
			ids = append(ids, it.ev.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	type seen struct {
		seq     int64
		outcome string
	}
	known := map[string]seen{}
	rows, err := b.tx.Query(ctx, `SELECT event_id, stream_seq, outcome FROM ferry.event_ids
		WHERE tenant_id = $1 AND dataset = $2 AND event_id = ANY($3)`, b.p.tenantID, b.dataset(), ids)
	if err != nil {
		return fmt.Errorf("look up event ids: %w", err)
	}
	for rows.Next() {
		var (
			id string
			s  seen
		)
		if err := rows.Scan(&id, &s.seq, &s.outcome); err != nil {
			rows.Close()
			return err
		}
		known[id] = s
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up event ids: %w", err)
	}
	inBatch := map[string]bool{}
	for _, it := range b.items {
		if it.ev == nil {
			continue
		}
		s, ok := known[it.ev.ID]
		switch {
		case ok && s.seq == int64(it.msg.StreamSeq):
			it.skip, it.redelivered = true, true
			b.out.Redelivered++
		case inBatch[it.ev.ID], ok && s.outcome != "rejected":
			it.skip = true
			b.out.Ignored++
		}
		if !it.skip {
			inBatch[it.ev.ID] = true
		}
	}
	return nil
}

func (b *batch) loadTables(ctx context.Context) error {
	names, err := mapping.Tables(b.p.spec)
	if err != nil || len(names) == 0 {
		return nil // a spec that does not compile rejects each event
	}
	b.tables = map[string]mapping.Table{}
	for _, n := range names {
		if b.a.Tables == nil {
			return fmt.Errorf("cross-reference table %q cannot be loaded here", n)
		}
		t, err := b.a.Tables(ctx, b.p.tenantID.String(), n)
		if err != nil {
			return fmt.Errorf("load cross-reference table %q: %w", n, err)
		}
		b.tables[n] = t
	}
	return nil
}

// planned is a mapping plan for one shape of event (its op and names).
type planned struct {
	plan   *mapping.Plan
	err    error
	fields []string
	stmt   *statement
}

// plan returns the plan of an event's shape. A delete maps the key only.
func (b *batch) plan(op string, header []string) *planned {
	k := op + "\x00" + strings.Join(header, "\x00")
	if pl, ok := b.plans[k]; ok {
		return pl
	}
	if b.plans == nil {
		b.plans = map[string]*planned{}
	}
	spec := b.p.spec
	if op == "delete" {
		spec = proto.Clone(spec).(*ferryv1.ImportProfileSpec)
		isKey := map[string]bool{}
		for _, k := range b.p.dataset.GetKey() {
			isKey[k] = true
		}
		var keep []*ferryv1.FieldMapping
		for _, m := range spec.GetMappings() {
			if isKey[m.GetField()] {
				keep = append(keep, m)
			}
		}
		if len(spec.GetMappings()) == 0 {
			for _, k := range b.p.dataset.GetKey() {
				keep = append(keep, &ferryv1.FieldMapping{Field: k, Column: k})
			}
		}
		spec.Mappings, spec.Rules, spec.WriteMode = keep, nil, ferryv1.WriteMode_WRITE_MODE_DELETE
	}
	pl := &planned{}
	pl.plan, pl.err = mapping.Resolve(spec, b.p.dataset, header, b.tables)
	if pl.err == nil {
		for _, c := range pl.plan.Columns() {
			if c != mapping.RowColumn && c != mapping.SourceColumn {
				pl.fields = append(pl.fields, c)
			}
		}
		pl.stmt = b.statement(op, pl.fields)
	}
	b.plans[k] = pl
	return pl
}

// mapEvent maps and validates an event as a record of a file.
func (b *batch) mapEvent(it *item) {
	ev := it.ev
	if len(b.p.spec.GetMappings()) == 0 {
		for _, k := range b.p.dataset.GetKey() {
			if _, ok := ev.Key[k]; !ok {
				it.reason = fmt.Sprintf("key field %q is missing from the event's key", k)
				return
			}
		}
		for _, f := range b.p.dataset.GetFields() {
			_, inFields := ev.Fields[f.GetName()]
			_, inKey := ev.Key[f.GetName()]
			if f.GetRequired() && ev.Op == "upsert" && !inFields && !inKey {
				it.reason = fmt.Sprintf("required field %q is missing from the event's fields", f.GetName())
				return
			}
		}
	}
	header, record := ev.Record()
	pl := b.plan(ev.Op, header)
	if pl.err != nil {
		// The plan's errors speak of a file's header: here it is the
		// event's names.
		msg := strings.ReplaceAll(pl.err.Error(), "the file's header", "the event")
		it.reason = "the event does not fit import profile " + b.p.name + ": " + msg
		return
	}
	var line bytes.Buffer
	res := pl.plan.Row(int64(it.msg.StreamSeq), record, &line)
	switch {
	case res.Reject != nil:
		r := res.Reject
		if r.Column != "" {
			it.reason = fmt.Sprintf("field %q value %q: %s (rule %s)", r.Column, r.Value, r.Reason, r.Rule)
		} else {
			it.reason = fmt.Sprintf("%s (rule %s)", r.Reason, r.Rule)
		}
		return
	case res.Held != nil:
		h := res.Held
		it.reason = fmt.Sprintf("field %q value %q: %s (rule cross_reference)", h.Column, h.Value, h.Reason)
		return
	}
	values, err := parseCopyLine(line.Bytes())
	if err != nil || len(values) < len(pl.fields) {
		it.reason = fmt.Sprintf("internal error: mapped row cannot be read back: %v", err)
		return
	}
	it.values, it.stmt = values[:len(pl.fields)], pl.stmt
}

// parseCopyLine reads back one CSV line as mapping.Plan.Row writes it: an
// unquoted empty field is NULL, every value is quoted.
func parseCopyLine(line []byte) ([]*string, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	var out []*string
	for i := 0; ; {
		if i >= len(line) || line[i] == ',' {
			out = append(out, nil)
		} else if line[i] == '"' {
			var v strings.Builder
			i++
			for {
				if i >= len(line) {
					return nil, errors.New("unterminated quoted field")
				}
				if line[i] == '"' {
					if i+1 < len(line) && line[i+1] == '"' {
						v.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				v.WriteByte(line[i])
				i++
			}
			s := v.String()
			out = append(out, &s)
		} else {
			j := bytes.IndexByte(line[i:], ',')
			if j < 0 {
				j = len(line) - i
			}
			s := string(line[i : i+j])
			out = append(out, &s)
			i += j
		}
		if i >= len(line) {
			return out, nil
		}
		if line[i] != ',' {
			return nil, fmt.Errorf("unexpected %q at byte %d", line[i], i)
		}
		i++
		if i == len(line) {
			return append(out, nil), nil
		}
	}
}

// write runs the events' statements in one round trip, in order. When
// PostgreSQL refuses one for its data, the batch is written again event by
// event, each under a savepoint, and the refused ones are dead-lettered.
func (b *batch) write(ctx context.Context) error {
	var todo []*item
	for _, it := range b.items {
		if it.stmt != nil && it.reason == "" {
			todo = append(todo, it)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if _, err := b.tx.Exec(ctx, "SAVEPOINT before_events"); err != nil {
		return err
	}
	pb := &pgx.Batch{}
	for _, it := range todo {
		pb.Queue(it.stmt.sql, it.stmt.args(b, it)...)
	}
	res := b.tx.SendBatch(ctx, pb)
	var failed error
	for _, it := range todo {
		var n int64
		if err := res.QueryRow().Scan(&n); err != nil {
			failed = err
			break
		}
		it.applied = n > 0
	}
	if err := res.Close(); err != nil && failed == nil {
		failed = err
	}
	if failed == nil {
		return nil
	}
	if !permanent(failed) {
		return failed
	}
	if _, err := b.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT before_events"); err != nil {
		return err
	}
	for _, it := range todo {
		it.applied = false
		if _, err := b.tx.Exec(ctx, "SAVEPOINT one_event"); err != nil {
			return err
		}
		var n int64
		err := b.tx.QueryRow(ctx, it.stmt.sql, it.stmt.args(b, it)...).Scan(&n)
		switch {
		case err == nil:
			it.applied = n > 0
			if _, err := b.tx.Exec(ctx, "RELEASE SAVEPOINT one_event"); err != nil {
				return err
			}
		case permanent(err):
			var pgErr *pgconn.PgError
			errors.As(err, &pgErr)
			it.reason = "the dataset refused the event: " + pgErr.Message
			if _, err := b.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT one_event"); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return nil
}

// permanent reports whether PostgreSQL refused a statement for its data (22)
// or a constraint (23).
func permanent(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23"))
}

// record writes the batch's event ids, counters and dataset change.
func (b *batch) record(ctx context.Context) error {
	var (
		ids, outcomes     []string
		versions, seqs    []int64
		applied, rejected int64
		last              = map[string]int{}
	)
	for _, it := range b.items {
		if it.skip {
			continue
		}
		if it.reason != "" {
			rejected++
		}
		if it.ev == nil {
			continue
		}
		outcome := "ignored"
		switch {
		case it.reason != "":
			outcome = "rejected"
		case it.applied:
			outcome = "applied"
			applied++
		default:
			b.out.Ignored++
		}
		// ON CONFLICT may touch a row once per statement: keep the last.
		if i, ok := last[it.ev.ID]; ok {
			versions[i], seqs[i], outcomes[i] = it.ev.Order, int64(it.msg.StreamSeq), outcome
			continue
		}
		last[it.ev.ID] = len(ids)
		ids, versions, seqs, outcomes = append(ids, it.ev.ID), append(versions, it.ev.Order), append(seqs, int64(it.msg.StreamSeq)), append(outcomes, outcome)
	}
	b.out.Applied = applied
	if len(ids) > 0 {
		if _, err := b.tx.Exec(ctx, `INSERT INTO ferry.event_ids (tenant_id, dataset, event_id, version, stream_seq, outcome)
			SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::text[])
			ON CONFLICT (tenant_id, dataset, event_id) DO UPDATE SET version = EXCLUDED.version, stream_seq = EXCLUDED.stream_seq,
				outcome = EXCLUDED.outcome, applied_at = now()`,
			b.p.tenantID, b.dataset(), ids, versions, seqs, outcomes); err != nil {
			return fmt.Errorf("record event ids: %w", err)
		}
	}
	if _, err := b.tx.Exec(ctx, `INSERT INTO ferry.event_import_counts AS c (profile_id, tenant_id, applied, rejected, ignored)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (profile_id) DO UPDATE SET applied = c.applied + EXCLUDED.applied,
			rejected = c.rejected + EXCLUDED.rejected, ignored = c.ignored + EXCLUDED.ignored, updated_at = now()`,
		b.p.id, b.p.tenantID, applied, rejected, b.out.Ignored); err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	if applied > 0 {
		if err := orchestration.RecordChange(ctx, b.tx, b.p.tenantID, b.dataset()); err != nil {
			return err
		}
		if b.p.spec.GetPublishChanges() {
			if _, err := orchestration.WriteRunChanges(ctx, b.tx,
				orchestration.Feed{TenantID: b.p.tenantID, Dataset: b.dataset(), RunID: b.runID, Profile: b.p.name},
				orchestration.Table{Schema: b.p.schema, Name: b.dataset(), Key: b.p.dataset.GetKey()}); err != nil {
				return err
			}
		}
	}
	return b.cleanup(ctx)
}

// cleanup forgets a dataset's event ids older than a week, at most every
// ten minutes per process.
func (b *batch) cleanup(ctx context.Context) error {
	k := b.p.tenantID.String() + "/" + b.dataset()
	b.a.mu.Lock()
	due := time.Since(b.a.cleaned[k]) > 10*time.Minute
	if due {
		if b.a.cleaned == nil {
			b.a.cleaned = map[string]time.Time{}
		}
		b.a.cleaned[k] = time.Now()
	}
	b.a.mu.Unlock()
	if !due {
		return nil
	}
	_, err := b.tx.Exec(ctx, `DELETE FROM ferry.event_ids WHERE tenant_id = $1 AND dataset = $2 AND applied_at < now() - $3::interval`,
		b.p.tenantID, b.dataset(), fmt.Sprintf("%d seconds", int(keepIDs.Seconds())))
	if err != nil {
		return fmt.Errorf("forget old event ids: %w", err)
	}
	return nil
}
