package pull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/destinations"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/sftpconn"
	"github.com/ferrydata/ferry/libs/telemetry"
)

// configError is a source that cannot work until a person changes it.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func badConfig(format string, args ...any) error {
	return &configError{err: fmt.Errorf(format, args...)}
}

// classOf says whether polling again may help: SFTP errors carry their
// class, a bad configuration is Permanent, the rest (database, bus) Transient.
func classOf(err error) sftpconn.Class {
	var se *sftpconn.Error
	var ce *configError
	switch {
	case errors.As(err, &se):
		return se.Class
	case errors.As(err, &ce):
		return sftpconn.Permanent
	}
	return sftpconn.Transient
}

// file is a row of the ledger.
type file struct {
	id    uuid.UUID
	name  string
	size  int64
	mtime time.Time
	state string
}

// poll settles the runs that ended, disposes of their files, and takes the
// files that are new and stable.
func (p *Poller) poll(ctx context.Context, s source, start time.Time, log *slog.Logger) error {
	if err := p.settle(ctx, s, log); err != nil {
		return err
	}
	cfg, d, err := p.connection(ctx, s)
	if err != nil {
		return err
	}
	c, err := sftpconn.Dial(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connection %s: %w", s.spec.GetConnection(), err)
	}
	defer c.Close()
	w := &worker{p: p, s: s, c: c, d: d, timeout: cfg.Timeout, log: log}
	if err := w.disposeAll(ctx); err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, w.timeout)
	entries, err := c.List(lctx, d.source)
	cancel()
	if err != nil {
		return err
	}
	var listed []sftpconn.Entry
	for _, e := range entries {
		if selectable(e, s.spec.GetGlob()) {
			listed = append(listed, e)
		}
	}
	stable, err := p.observe(ctx, s, listed, start)
	if err != nil {
		return err
	}
	for _, f := range stable {
		if err := w.take(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// dirs are a source's directories on the server.
type dirs struct {
	source, archive, errors string
}

// resolveDirs confines the source's directory under the connection's base
// and the archive and error directories under the source's.
func resolveDirs(base string, s *ferryv1.SFTPSource) (dirs, error) {
	if base == "" {
		base = "."
	}
	var d dirs
	var err error
	if d.source, _, err = sftpconn.Confine(base, s.GetDirectory(), "x"); err != nil {
		return d, &configError{err: fmt.Errorf("sftp_source.directory: %w", err)}
	}
	under := func(field, dir, def string) (string, error) {
		if dir == "" {
			dir = def
		}
		out, _, err := sftpconn.Confine(d.source, dir, "x")
		if err != nil {
			return "", &configError{err: fmt.Errorf("sftp_source.%s: %w", field, err)}
		}
		if out == d.source {
			return "", badConfig("sftp_source.%s %q is the source directory itself; name a subdirectory", field, dir)
		}
		return out, nil
	}
	if d.archive, err = under("archive_directory", s.GetArchiveDirectory(), "archive"); err != nil {
		return d, err
	}
	if d.errors, err = under("error_directory", s.GetErrorDirectory(), "error"); err != nil {
		return d, err
	}
	return d, nil
}

// selectable says whether a listed entry is a file the source takes: a
// regular file whose name matches the glob and does not start with a dot,
// which also leaves out the ".name.random.part" files of uploads under way.
func selectable(e sftpconn.Entry, glob string) bool {
	if !e.Regular() || e.Name == "" || e.Name[0] == '.' {
		return false
	}
	if _, _, err := sftpconn.Confine("/", "", e.Name); err != nil {
		return false // a name Ferry could not move safely
	}
	if glob == "" {
		return true
	}
	ok, err := path.Match(glob, e.Name)
	return ok && err == nil
}

// connection loads the source's SFTP destination with its credentials.
func (p *Poller) connection(ctx context.Context, s source) (sftpconn.Config, dirs, error) {
	name := s.spec.GetConnection()
	if name == "" {
		return sftpconn.Config{}, dirs{}, badConfig("sftp_source names no connection")
	}
	if g := s.spec.GetGlob(); g != "" {
		if _, err := path.Match(g, ""); err != nil {
			return sftpconn.Config{}, dirs{}, badConfig("sftp_source.glob %q: %v", g, err)
		}
	}
	l, err := destinations.Get(ctx, p.pool, s.tenant, name)
	if errors.Is(err, destinations.ErrNotFound) {
		return sftpconn.Config{}, dirs{}, &configError{err: fmt.Errorf("sftp_source.connection: %w", err)}
	}
	if err != nil {
		return sftpconn.Config{}, dirs{}, fmt.Errorf("load connection %s: %w", name, err)
	}
	spec, err := l.Spec(p.keyring)
	if err != nil {
		return sftpconn.Config{}, dirs{}, &configError{err: err}
	}
	sf := spec.GetSftp()
	if sf == nil {
		return sftpconn.Config{}, dirs{}, badConfig("sftp_source.connection %q is a %s destination, not sftp", name, l.Kind)
	}
	d, err := resolveDirs(sf.GetDirectory(), s.spec)
	if err != nil {
		return sftpconn.Config{}, dirs{}, err
	}
	return destinations.SFTPConfig(sf), d, nil
}

// settle moves the files whose run ended on to imported or failed, and
// lets go of files whose process died before their run was created.
func (p *Poller) settle(ctx context.Context, s source, log *slog.Logger) error {
	rows, err := p.pool.Query(ctx, `UPDATE ferry.sftp_source_files f SET
			state = CASE WHEN r.status IN ('succeeded', 'succeeded_with_errors') THEN 'imported' ELSE 'failed' END,
			error = r.error, updated_at = now()
		FROM ferry.runs r
		WHERE f.profile_id = $1 AND f.state = 'importing' AND f.disposition = '' AND r.id = f.run_id
			AND r.status IN ('succeeded', 'succeeded_with_errors', 'failed', 'canceled')
		RETURNING f.name, f.run_id, r.status`, s.profileID)
	if err != nil {
		return fmt.Errorf("settle sftp files: %w", err)
	}
	for rows.Next() {
		var (
			name, status string
			run          uuid.UUID
		)
		if err := rows.Scan(&name, &run, &status); err != nil {
			rows.Close()
			return fmt.Errorf("settle sftp files: %w", err)
		}
		log.Info("sftp file run ended", "file", name, "run", run, "status", status)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("settle sftp files: %w", err)
	}
	// Files are taken one at a time under the lease, so no file of this
	// source is being taken now: one whose run does not exist after the
	// grace period never got it.
	tag, err := p.pool.Exec(ctx, `DELETE FROM ferry.sftp_source_files f
		WHERE f.profile_id = $1 AND f.state = 'importing' AND f.disposition = ''
			AND f.updated_at < now() - make_interval(secs => $2)
			AND NOT EXISTS (SELECT 1 FROM ferry.runs r WHERE r.id = f.run_id)`, s.profileID, p.opts.Orphan.Seconds())
	if err != nil {
		return fmt.Errorf("release orphaned sftp files: %w", err)
	}
	if n := tag.RowsAffected(); n > 0 {
		log.Warn("sftp files taken without a run are taken again", "files", n)
	}
	return nil
}

// observe records the listed files and returns those that the previous
// poll saw unchanged and nobody has taken.
func (p *Poller) observe(ctx context.Context, s source, listed []sftpconn.Entry, start time.Time) ([]file, error) {
	names := make([]string, len(listed))
	sizes := make([]int64, len(listed))
	mtimes := make([]time.Time, len(listed))
	for i, e := range listed {
		names[i], sizes[i], mtimes[i] = e.Name, e.Size, e.ModTime
	}
	var out []file
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		// A file seen before that has changed or gone starts over.
		if _, err := tx.Exec(ctx, `DELETE FROM ferry.sftp_source_files
			WHERE profile_id = $1 AND state = 'seen' AND disposition = ''
				AND (name, size, mtime) NOT IN (SELECT * FROM unnest($2::text[], $3::bigint[], $4::timestamptz[]))`,
			s.profileID, names, sizes, mtimes); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ferry.sftp_source_files (id, tenant_id, profile_id, name, size, mtime, state)
			SELECT gen_random_uuid(), $1, $2, u.name, u.size, u.mtime, 'seen'
			FROM unnest($3::text[], $4::bigint[], $5::timestamptz[]) AS u (name, size, mtime)
			ON CONFLICT (profile_id, name, size, mtime) WHERE disposition = '' DO NOTHING`,
			s.tenant, s.profileID, names, sizes, mtimes); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, name, size, mtime, state FROM ferry.sftp_source_files
			WHERE profile_id = $1 AND state = 'seen' AND disposition = '' AND first_seen_at < $2
			ORDER BY mtime, name`, s.profileID, start)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanFile)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record listed sftp files: %w", err)
	}
	return out, nil
}

func scanFile(r pgx.CollectableRow) (file, error) {
	var f file
	return f, r.Scan(&f.id, &f.name, &f.size, &f.mtime, &f.state)
}

// worker does one poll's work on the server.
type worker struct {
	p       *Poller
	s       source
	c       *sftpconn.Client
	d       dirs
	timeout time.Duration
	log     *slog.Logger
}

func (w *worker) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, w.timeout)
}

// disposeAll disposes of the files whose run ended. A file that cannot be
// moved keeps its reason and is tried again next poll; trouble with the
// connection ends the poll.
func (w *worker) disposeAll(ctx context.Context) error {
	rows, err := w.p.pool.Query(ctx, `SELECT id, name, size, mtime, state FROM ferry.sftp_source_files
		WHERE profile_id = $1 AND disposition = '' AND state IN ('imported', 'failed', 'duplicate')
		ORDER BY first_seen_at, name`, w.s.profileID)
	if err != nil {
		return fmt.Errorf("list sftp files to dispose of: %w", err)
	}
	files, err := pgx.CollectRows(rows, scanFile)
	if err != nil {
		return fmt.Errorf("list sftp files to dispose of: %w", err)
	}
	for _, f := range files {
		if err := w.dispose(ctx, f); err != nil && classOf(err) == sftpconn.Transient {
			return err
		}
	}
	return nil
}

// dispose archives or deletes a file whose run succeeded and moves a file
// whose run failed to the error directory, and records it. A file that is
// gone, or is no longer the file that was imported, is left alone.
func (w *worker) dispose(ctx context.Context, f file) error {
	log := w.log.With("file", f.name)
	full := path.Join(w.d.source, f.name)
	disposition, to, err := w.move(ctx, f, full)
	if err != nil {
		log.Warn("sftp file not disposed of; tried again next poll", "class", classOf(err), "err", err)
		if _, derr := w.p.pool.Exec(context.WithoutCancel(ctx), `UPDATE ferry.sftp_source_files SET disposition_error = $2, updated_at = now() WHERE id = $1`,
			f.id, err.Error()); derr != nil {
			log.Warn("record sftp disposition error", "err", derr)
		}
		return err
	}
	if _, err := w.p.pool.Exec(context.WithoutCancel(ctx), `UPDATE ferry.sftp_source_files
		SET disposition = $2, disposed_to = $3, disposition_error = '', updated_at = now() WHERE id = $1`, f.id, disposition, to); err != nil {
		return fmt.Errorf("record disposition of sftp file %s: %w", f.name, err)
	}
	log.Info("sftp file disposed of", "disposition", disposition, "to", to, "state", f.state)
	return nil
}

func (w *worker) move(ctx context.Context, f file, full string) (string, string, error) {
	octx, cancel := w.op(ctx)
	defer cancel()
	e, err := w.c.Lstat(octx, full)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "gone", "", nil
	case err != nil:
		return "", "", err
	case !e.Regular() || e.Size != f.size || !e.ModTime.Equal(f.mtime):
		// Replaced under the same name: the new file is a file of its own.
		return "gone", "", nil
	}
	switch {
	case f.state != "failed" && w.s.spec.GetAfterSuccess() == ferryv1.AfterImport_AFTER_IMPORT_DELETE:
		if err := w.c.Remove(octx, full); err != nil {
			return "", "", err
		}
		return "deleted", "", nil
	case f.state != "failed":
		to, err := w.moveInto(octx, full, w.d.archive)
		return "archived", to, err
	default:
		to, err := w.moveInto(octx, full, w.d.errors)
		return "moved-to-error", to, err
	}
}

func (w *worker) moveInto(ctx context.Context, full, dir string) (string, error) {
	if err := w.c.MkdirAll(ctx, dir); err != nil {
		return "", err
	}
	return w.c.MoveInto(ctx, full, dir)
}

// take imports a stable file in a run of its own. The file's ledger row
// moves to "importing" with the run's id before the run is created, so a
// file is never taken twice; when the run could not be created, or the file
// could not be read whole, the row is dropped and the file is taken again
// at a later poll.
func (w *worker) take(ctx context.Context, f file) error {
	log := w.log.With("file", f.name)
	var runID uuid.UUID
	err := w.p.pool.QueryRow(ctx, `UPDATE ferry.sftp_source_files SET state = 'importing', run_id = gen_random_uuid(), updated_at = now()
		WHERE id = $1 AND state = 'seen' AND disposition = '' RETURNING run_id`, f.id).Scan(&runID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("take sftp file %s: %w", f.name, err)
	}
	full := path.Join(w.d.source, f.name)
	bg := context.WithoutCancel(ctx)
	drop := func(why error) {
		if _, err := w.p.pool.Exec(bg, `DELETE FROM ferry.sftp_source_files WHERE id = $1 AND state = 'importing'`, f.id); err != nil {
			log.Error("release sftp file", "err", err)
		}
		if ctx.Err() == nil {
			log.Warn("sftp file not taken; taken again at a later poll", "err", why)
		}
	}

	dup, err := w.duplicate(ctx, f, full)
	if err != nil {
		drop(err)
		return passOn(err)
	}
	if dup != nil {
		if _, err := w.p.pool.Exec(bg, `UPDATE ferry.sftp_source_files SET state = 'duplicate', run_id = NULL, duplicate_of = $2,
			sha256 = $3, updated_at = now() WHERE id = $1`, f.id, dup.run, dup.sha256); err != nil {
			return fmt.Errorf("record duplicate sftp file %s: %w", f.name, err)
		}
		log.Info("sftp file already imported under this name; not imported again", "imported_by", dup.run, "sha256", dup.sha256)
		f.state = "duplicate"
		if err := w.dispose(ctx, f); err != nil && classOf(err) == sftpconn.Transient {
			return err
		}
		return nil
	}

	r, err := w.c.Open(ctx, full, w.timeout)
	if err != nil {
		drop(err)
		return passOn(err)
	}
	src := w.check(ctx, f, full, r)
	// A pulled file's run is a trace of its own.
	rctx, span := telemetry.Tracer().Start(ctx, "run "+w.s.profile, trace.WithNewRoot(), trace.WithAttributes(
		attribute.String("ferry.profile", w.s.profile), attribute.String("ferry.run", runID.String()), attribute.String("ferry.trigger", "sftp_source")))
	run, err := w.p.imp.ImportReader(rctx, &ferryv1.RunCreateRequest{
		TenantId: w.s.tenant.String(), RunId: runID.String(), Profile: w.s.profile,
		// A run of its own per pulled file.
		Trigger: ferryv1.RunTrigger_RUN_TRIGGER_SFTP_SOURCE,
		File:    &ferryv1.RunFile{Name: f.name, Size: f.size},
	}, src)
	span.End()
	_ = r.Close()
	switch {
	case src.err != nil:
		drop(src.err)
		return passOn(src.err)
	case err != nil && errs.KindOf(err) == errs.KindInvalid:
		// The file itself is refused (too large, a bad name): it fails.
		log.Warn("sftp file refused", "run", run.GetId(), "err", err)
		if run != nil {
			return nil // its run has failed; settling moves the file
		}
		if _, derr := w.p.pool.Exec(bg, `UPDATE ferry.sftp_source_files SET state = 'failed', run_id = NULL, error = $2, updated_at = now()
			WHERE id = $1`, f.id, err.Error()); derr != nil {
			return fmt.Errorf("record refused sftp file %s: %w", f.name, derr)
		}
		f.state = "failed"
		if err := w.dispose(ctx, f); err != nil && classOf(err) == sftpconn.Transient {
			return err
		}
		return nil
	case err != nil:
		// Nothing was queued for import: the file is taken again.
		drop(err)
		return fmt.Errorf("import sftp file %s: %w", f.name, err)
	}
	if _, err := w.p.pool.Exec(bg, `UPDATE ferry.sftp_source_files SET sha256 = $2, updated_at = now() WHERE id = $1`,
		f.id, run.GetFile().GetSha256()); err != nil {
		log.Warn("record sha256 of sftp file", "err", err)
	}
	log.Info("sftp file taken", "run", runID, "bytes", run.GetFile().GetSize(), "status", run.GetStatus())
	return nil
}

// passOn returns the errors that end the poll: trouble with the connection.
// A file that changed while it was read only waits for the next poll.
func passOn(err error) error {
	if errors.Is(err, errChanged) || (classOf(err) == sftpconn.Permanent && errors.Is(err, os.ErrNotExist)) {
		return nil
	}
	return err
}

type imported struct {
	run    uuid.UUID
	sha256 string
}

// duplicate returns the import of the same name and content, when there is
// one. The file is read to hash it only when an imported file had its name
// and size.
func (w *worker) duplicate(ctx context.Context, f file, full string) (*imported, error) {
	rows, err := w.p.pool.Query(ctx, `SELECT run_id, sha256 FROM ferry.sftp_source_files
		WHERE profile_id = $1 AND name = $2 AND size = $3 AND state = 'imported' AND sha256 <> '' AND run_id IS NOT NULL
		ORDER BY updated_at DESC`, w.s.profileID, f.name, f.size)
	if err != nil {
		return nil, fmt.Errorf("look up earlier imports of %s: %w", f.name, err)
	}
	prior, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (imported, error) {
		var i imported
		return i, r.Scan(&i.run, &i.sha256)
	})
	if err != nil {
		return nil, fmt.Errorf("look up earlier imports of %s: %w", f.name, err)
	}
	if len(prior) == 0 {
		return nil, nil
	}
	r, err := w.c.Open(ctx, full, w.timeout)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h := sha256.New()
	src := w.check(ctx, f, full, r)
	if _, err := io.Copy(h, src); err != nil {
		return nil, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	for _, p := range prior {
		if p.sha256 == sum {
			return &p, nil
		}
	}
	return nil, nil
}

// errChanged says a file changed while it was read.
var errChanged = errors.New("the file changed while it was read")

// check wraps r so that reading fails when the file is not, at its end,
// the file that was listed: another size or modification time.
func (w *worker) check(ctx context.Context, f file, full string, r io.Reader) *checked {
	return &checked{r: r, want: f.size, done: func() error {
		ctx, cancel := w.op(ctx)
		defer cancel()
		e, err := w.c.Lstat(ctx, full)
		if err != nil {
			return err
		}
		if e.Size != f.size || !e.ModTime.Equal(f.mtime) {
			return fmt.Errorf("%s: %w (now %d bytes, modified %s)", f.name, errChanged, e.Size, e.ModTime.UTC().Format(time.RFC3339))
		}
		return nil
	}}
}

// checked is a file's reader that remembers its own error, to tell trouble
// with the source from trouble with the run.
type checked struct {
	r    io.Reader
	n    int64
	want int64
	done func() error
	err  error
}

func (c *checked) Read(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(b)
	c.n += int64(n)
	switch {
	case c.n > c.want:
		err = fmt.Errorf("%w: more than the %d bytes listed", errChanged, c.want)
	case errors.Is(err, io.EOF) && c.n != c.want:
		err = fmt.Errorf("%w: %d bytes instead of the %d listed", errChanged, c.n, c.want)
	case errors.Is(err, io.EOF):
		if derr := c.done(); derr != nil {
			err = derr
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		c.err = err
	}
	return n, err
}
