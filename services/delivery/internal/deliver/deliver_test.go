package deliver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/destinations"
	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/libs/store/storetest"
	"github.com/ferrydata/ferry/libs/testkit"
	"github.com/ferrydata/ferry/services/delivery/internal/send"
)

// script is a sender whose outcomes a test decides, per destination.
type script struct {
	mu       sync.Mutex
	outcomes map[string][]error // popped per attempt; nil: success
	calls    map[string]int
	got      map[string][]string // file contents seen
	secrets  map[string]string
	rounds   map[string][]int // job.Round of every call
}

func (s *script) Send(ctx context.Context, dest string, spec *ferryv1.DestinationSpec, job send.Job) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[dest]++
	s.rounds[dest] = append(s.rounds[dest], job.Round)
	s.secrets[dest] = spec.GetSftp().GetPassword()
	if q := s.outcomes[dest]; len(q) > 0 {
		s.outcomes[dest] = q[1:]
		if q[0] != nil {
			return nil, q[0]
		}
	}
	var locs []string
	for _, f := range job.Files {
		r, err := f.Open(ctx)
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(r)
		r.Close()
		s.got[dest] = append(s.got[dest], string(b))
		locs = append(locs, "/out/"+f.Name)
	}
	return locs, nil
}

type env struct {
	pool    *pgxpool.Pool
	js      jetstream.JetStream
	files   jetstream.ObjectStore
	keys    *secrets.Keyring
	tenant  uuid.UUID
	profile uuid.UUID
	sender  *script
	d       *Deliverer
}

func setup(t *testing.T) *env {
	ctx := context.Background()
	pool := storetest.Open(t)
	_, js := testkit.JetStream(t)
	files, err := js.ObjectStore(ctx, bus.FilesBucket)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := secrets.GenerateSpec("k1")
	keys, _ := secrets.Parse(spec)
	e := &env{pool: pool, js: js, files: files, keys: keys, tenant: uuid.New(), profile: uuid.New(),
		sender: &script{outcomes: map[string][]error{}, calls: map[string]int{}, got: map[string][]string{}, secrets: map[string]string{}, rounds: map[string][]int{}}}
	e.exec(t, `INSERT INTO ferry.tenants (id, name, schema_name) VALUES ($1, 't', 'tenant_t')`, e.tenant)
	e.exec(t, `INSERT INTO ferry.export_profiles (id, tenant_id, name, current_version, watermark, watermark_run_seq) VALUES ($1, $2, 'p', 1, 'old', NULL)`, e.profile, e.tenant)
	e.d = &Deliverer{Pool: pool, JS: js, Files: files, Keyring: keys, Senders: map[string]send.Sender{"sftp": e.sender},
		Log: testkit.Log(t), Workers: 2, Poll: 50 * time.Millisecond, Lease: time.Minute}
	return e
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// destination stores an SFTP destination with a password and a fast retry policy.
func (e *env) destination(t *testing.T, name, password string, attempts int32) {
	id := uuid.New()
	full := &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Sftp{Sftp: &ferryv1.SFTPDestination{
		Host: "sftp.example", Username: "u", Password: password, HostKey: "SHA256:x", Directory: "/out"}},
		Retry: &ferryv1.RetryPolicy{MaxAttempts: attempts, InitialBackoffSeconds: 1, MaxBackoffSeconds: 1}}
	pub, creds := destinations.Split(full)
	sealed, err := destinations.Seal(e.keys, e.tenant, id, creds)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := protojson.Marshal(pub)
	e.exec(t, `INSERT INTO ferry.destinations (id, tenant_id, name, kind, spec, secrets, secrets_set) VALUES ($1, $2, $3, 'sftp', $4, $5, $6)`,
		id, e.tenant, name, js, sealed, destinations.Names(creds))
}

// run stores an assembled incremental export run delivering to dests, as
// assembly leaves it.
func (e *env) run(t *testing.T, watermark string, dests ...string) uuid.UUID {
	ctx := context.Background()
	run := uuid.New()
	outs, _ := protojson.Marshal(&ferryv1.RunOutputs{Outputs: []*ferryv1.RunOutput{{Name: "people.csv", Size: 9, Rows: 1, Format: "csv"}}})
	e.exec(t, `INSERT INTO ferry.runs (id, tenant_id, export_profile_id, profile_name, profile_version, dataset_name, trigger, status, kind,
		snapshot, outputs, watermark, advance_watermark) VALUES ($1, $2, $3, 'p', 1, 'people', 'manual', 'running', 'export', '', $4, $5, true)`,
		run, e.tenant, e.profile, outs, watermark)
	if _, err := e.files.Put(ctx, jetstream.ObjectMeta{Name: "exports/" + run.String() + "/people.csv"}, bytes.NewReader([]byte("id\r\n0001\r\n"))); err != nil {
		t.Fatal(err)
	}
	for _, d := range dests {
		e.exec(t, `INSERT INTO ferry.deliveries (id, tenant_id, run_id, destination_id, destination, kind)
			SELECT $1, $2, $3, d.id, $4, 'sftp' FROM (SELECT 1) one LEFT JOIN ferry.destinations d ON d.tenant_id = $2 AND d.name = $4`,
			uuid.New(), e.tenant, run, d)
	}
	return run
}

func (e *env) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (e *env) wait(t *testing.T, run uuid.UUID) (status, reason string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if err := e.pool.QueryRow(context.Background(), `SELECT status, error FROM ferry.runs WHERE id = $1`, run).Scan(&status, &reason); err != nil {
			t.Fatal(err)
		}
		if status != "running" {
			return status, reason
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("run %s still running", run)
	return "", ""
}

type attempt struct {
	number                  int
	outcome, class, message string
	next                    bool
}

func (e *env) attempts(t *testing.T, run uuid.UUID, dest string) (string, []attempt) {
	ctx := context.Background()
	var status string
	var id uuid.UUID
	if err := e.pool.QueryRow(ctx, `SELECT id, status FROM ferry.deliveries WHERE run_id = $1 AND destination = $2`, run, dest).Scan(&id, &status); err != nil {
		t.Fatal(err)
	}
	rows, err := e.pool.Query(ctx, `SELECT number, outcome, error_class, message, next_attempt_at IS NOT NULL FROM ferry.delivery_attempts
		WHERE delivery_id = $1 ORDER BY number`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []attempt
	for rows.Next() {
		var a attempt
		if err := rows.Scan(&a.number, &a.outcome, &a.class, &a.message, &a.next); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return status, out
}

func (e *env) watermark(t *testing.T) string {
	var w string
	if err := e.pool.QueryRow(context.Background(), `SELECT watermark FROM ferry.export_profiles WHERE id = $1`, e.profile).Scan(&w); err != nil {
		t.Fatal(err)
	}
	return w
}

var errRefused = errors.New("dial tcp 127.0.0.1:22: connection refused")

// Transient errors are tried again after a backoff and recorded with the
// time of the next attempt; the run succeeds and the watermark moves only
// when every destination has the file.
func TestTransientThenDelivered(t *testing.T) {
	e := setup(t)
	e.destination(t, "district", "s3cret-pw", 5)
	e.destination(t, "backup", "other-pw", 5)
	e.sender.outcomes["district"] = []error{send.Retry(errRefused), send.Retry(errRefused)}
	run := e.run(t, "snap-1", "district", "backup")
	e.start(t)
	if status, reason := e.wait(t, run); status != "succeeded" {
		t.Fatalf("run %s: %s", status, reason)
	}
	status, atts := e.attempts(t, run, "district")
	if status != "succeeded" || len(atts) != 3 {
		t.Fatalf("district: %s after %+v", status, atts)
	}
	for i, a := range atts[:2] {
		if a.outcome != "retry" || a.class != "transient" || !a.next || !strings.Contains(a.message, "connection refused") {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
	}
	if atts[2].outcome != "succeeded" || atts[2].message != "/out/people.csv" {
		t.Errorf("last attempt: %+v", atts[2])
	}
	if got := e.sender.got["district"]; len(got) != 1 || got[0] != "id\r\n0001\r\n" {
		t.Errorf("district got %q", got)
	}
	if e.sender.secrets["district"] != "s3cret-pw" {
		t.Errorf("the sender did not get the opened credentials")
	}
	if w := e.watermark(t); w != "snap-1" {
		t.Errorf("watermark %q, want snap-1", w)
	}

	// Delivered again (what `ferry runs redeliver` does): a second round.
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `UPDATE ferry.deliveries SET status = 'pending', attempts = 0, round = round + 1, next_attempt_at = now(),
		lease_until = NULL WHERE run_id = $1 AND destination = 'district'`, run); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE ferry.runs SET status = 'running', finished_at = NULL WHERE id = $1`, run); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `SELECT pg_notify('ferry_deliveries', $1)`, run.String()); err != nil {
		t.Fatal(err)
	}
	if status, reason := e.wait(t, run); status != "succeeded" {
		t.Fatalf("redelivered run %s: %s", status, reason)
	}
	e.sender.mu.Lock()
	defer e.sender.mu.Unlock()
	if got := e.sender.rounds["district"]; !slices.Equal(got, []int{1, 1, 1, 2}) {
		t.Errorf("district's attempts were in rounds %v, want [1 1 1 2]", got)
	}
}

// A permanent error fails the delivery at once, the other destination
// still gets its file, the run fails naming the destination, and the
// watermark stays.
func TestPermanentFailsAtOnceOthersDelivered(t *testing.T) {
	e := setup(t)
	e.destination(t, "district", "wrong", 5)
	e.destination(t, "backup", "pw", 5)
	e.sender.outcomes["district"] = []error{send.Fail(errors.New("authentication refused for u@sftp.example"))}
	run := e.run(t, "snap-1", "district", "backup")
	e.start(t)
	status, reason := e.wait(t, run)
	if status != "failed" || !strings.Contains(reason, "district: authentication refused") || strings.Contains(reason, "backup") {
		t.Fatalf("run %s: %q", status, reason)
	}
	if e.sender.calls["district"] != 1 {
		t.Errorf("a permanent error was tried %d times", e.sender.calls["district"])
	}
	if st, _ := e.attempts(t, run, "backup"); st != "succeeded" {
		t.Errorf("backup %s", st)
	}
	if w := e.watermark(t); w != "old" {
		t.Errorf("watermark moved to %q after a failed delivery", w)
	}
}

// Transient errors end after the policy's attempts.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	e := setup(t)
	e.destination(t, "district", "pw", 3)
	e.sender.outcomes["district"] = []error{send.Retry(errRefused), send.Retry(errRefused), send.Retry(errRefused), nil}
	run := e.run(t, "snap-1", "district")
	e.start(t)
	status, reason := e.wait(t, run)
	if status != "failed" || !strings.Contains(reason, "gave up after 3 attempts") {
		t.Fatalf("run %s: %q", status, reason)
	}
	_, atts := e.attempts(t, run, "district")
	if len(atts) != 3 || atts[2].outcome != "failed" || atts[2].next {
		t.Errorf("attempts %+v", atts)
	}
}

// A destination that does not exist fails its delivery with a reason.
func TestMissingDestination(t *testing.T) {
	e := setup(t)
	run := e.run(t, "snap-1", "nowhere")
	e.start(t)
	if status, reason := e.wait(t, run); status != "failed" || !strings.Contains(reason, "destination nowhere does not exist") {
		t.Fatalf("run %s: %q", status, reason)
	}
}

// A canceled run's pending deliveries are canceled, not attempted.
func TestCanceledRun(t *testing.T) {
	e := setup(t)
	e.destination(t, "district", "pw", 5)
	run := e.run(t, "snap-1", "district")
	e.exec(t, `UPDATE ferry.runs SET status = 'canceled' WHERE id = $1`, run)
	e.start(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, atts := e.attempts(t, run, "district")
		if st == "canceled" {
			if len(atts) != 0 || e.sender.calls["district"] != 0 {
				t.Fatalf("a canceled run was delivered: %+v", atts)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The watermark never moves back: a run that finishes delivering after a
// later run succeeded leaves the later run's watermark.
func TestWatermarkNeverMovesBack(t *testing.T) {
	e := setup(t)
	e.destination(t, "district", "pw", 5)
	early := e.run(t, "snap-early", "district")
	late := e.run(t, "snap-late", "district")
	ctx := context.Background()
	// Deliver the later run first.
	e.exec(t, `UPDATE ferry.deliveries SET next_attempt_at = now() + interval '1 hour' WHERE run_id = $1`, early)
	e.start(t)
	if status, _ := e.wait(t, late); status != "succeeded" {
		t.Fatal(status)
	}
	e.exec(t, `UPDATE ferry.deliveries SET next_attempt_at = now() WHERE run_id = $1`, early)
	if _, err := e.pool.Exec(ctx, `SELECT pg_notify($1, '')`, Channel); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.wait(t, early); status != "succeeded" {
		t.Fatal(status)
	}
	if w := e.watermark(t); w != "snap-late" {
		t.Errorf("watermark %q, want snap-late", w)
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	r := destinations.Retry{MaxAttempts: 10, Initial: 30 * time.Second, Max: 30 * time.Minute}
	var total time.Duration
	for n := 1; n < r.MaxAttempts; n++ {
		w := Backoff(r, n)
		want := min(r.Initial<<(n-1), r.Max)
		if w < want*8/10-time.Second || w > want*12/10+time.Second {
			t.Errorf("wait after attempt %d: %s, want %s ±20%%", n, w, want)
		}
		total += w
	}
	// About two hours in all by default.
	if total < 90*time.Minute || total > 150*time.Minute {
		t.Errorf("the default policy waits %s in all", total)
	}
}
