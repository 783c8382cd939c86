package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/destinations"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/secrets"
	"github.com/ferrydata/ferry/services/profile/internal/catalog"
)

// noKeyHint says how to give the server a key, for errors about credentials.
const noKeyHint = "start the server with " + secrets.EnvKey + " or " + secrets.EnvKeyFile + " set (generate a key with `openssl rand -base64 32`)"

// credentialNames are the credentials a kind of destination has.
var credentialNames = map[string][]string{
	"sftp":    {destinations.Password, destinations.PrivateKey, destinations.Passphrase},
	"webhook": {destinations.Secret},
}

// toDestination is the API form of a stored destination: the public spec
// and the names of the credentials that are set, never their values.
func toDestination(l *destinations.Loaded) *ferryv1.Destination {
	// Split again: whatever the row holds, no credential leaves here.
	pub, _ := destinations.Split(l.Public)
	return &ferryv1.Destination{Name: l.Name, Spec: pub, SecretsSet: append([]string{}, l.SecretsSet...),
		CreateTime: timestamppb.New(l.Created), UpdateTime: timestamppb.New(l.Updated)}
}

// ApplyDestination creates a destination or updates it. Credentials given
// in spec replace the stored ones; credentials left empty keep them, so a
// document applied again without its secrets keeps them. When the kind
// changes, the credentials of the old kind are dropped. The merged spec must
// be valid. Credentials are sealed with k, bound to the tenant and the
// destination; outcome is "created", "updated" or "unchanged".
func (s *Store) ApplyDestination(ctx context.Context, p auth.Principal, name string, spec *ferryv1.DestinationSpec, k *secrets.Keyring) (*ferryv1.Destination, string, error) {
	if err := catalog.ValidateDestinationName(name); err != nil {
		return nil, "", err
	}
	if spec == nil {
		spec = &ferryv1.DestinationSpec{}
	}
	if spec.GetInternal() && !p.Admin {
		return nil, "", errs.Permission("destination %q: internal (reaching private and loopback addresses) needs an admin key", name)
	}
	pub, given := destinations.Split(spec)
	if len(given) > 0 && k == nil {
		return nil, "", errs.FailedPrecondition("destination %q: the server has no key to seal credentials with: %s", name, noKeyHint)
	}
	kind := destinations.Kind(pub)
	specJSON, err := protojson.Marshal(pub)
	if err != nil {
		return nil, "", err
	}
	var (
		out     *destinations.Loaded
		outcome string
	)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The advisory lock serialises creating a name; the row lock keeps
		// any other writer of an existing row out until the end.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, p.TenantID.String()+"/destination/"+name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM ferry.destinations WHERE tenant_id = $1 AND name = $2 FOR UPDATE`, p.TenantID, name); err != nil {
			return err
		}
		cur, err := destinations.Get(ctx, tx, p.TenantID, name)
		if err != nil && !errors.Is(err, destinations.ErrNotFound) {
			return err
		}
		stored := map[string]string{}
		if cur != nil && cur.Kind == kind && len(cur.Sealed) > 0 {
			if k == nil {
				return errs.FailedPrecondition("destination %q has stored credentials and the server has no key to open them: %s", name, noKeyHint)
			}
			if stored, err = destinations.Open(k, p.TenantID, cur.ID, cur.Sealed); err != nil {
				// Giving every stored credential again replaces them all.
				var missing []string
				for _, n := range cur.SecretsSet {
					if given[n] == "" {
						missing = append(missing, n)
					}
				}
				if len(missing) > 0 {
					return errs.FailedPrecondition("destination %q: its stored credentials do not open with the server's keys (was the key that sealed them removed?); give every credential again (missing: %s)",
						name, strings.Join(missing, ", "))
				}
				stored = map[string]string{}
			}
		}
		creds := map[string]string{}
		for _, n := range credentialNames[kind] {
			if v := given[n]; v != "" {
				creds[n] = v
			} else if v := stored[n]; v != "" {
				creds[n] = v
			}
		}
		if problems := destinations.Validate(destinations.Merge(pub, creds)); len(problems) > 0 {
			return errs.Invalid("destination %q: %s", name, strings.Join(problems, "; "))
		}
		if cur != nil && proto.Equal(cur.Public, pub) && maps.Equal(stored, creds) {
			out, outcome = cur, "unchanged"
			return nil
		}
		id := uuid.New()
		if cur != nil {
			id = cur.ID
		}
		var sealed []byte
		switch {
		case cur != nil && cur.Kind == kind && maps.Equal(stored, creds):
			sealed = cur.Sealed // the same credentials: no need to seal them again
		default:
			if sealed, err = destinations.Seal(k, p.TenantID, id, creds); err != nil {
				return fmt.Errorf("seal credentials: %w", err)
			}
		}
		names := destinations.Names(creds)
		if names == nil {
			names = []string{}
		}
		if cur == nil {
			_, err = tx.Exec(ctx, `INSERT INTO ferry.destinations (id, tenant_id, name, kind, spec, secrets, secrets_set)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, p.TenantID, name, kind, specJSON, sealed, names)
			outcome = "created"
		} else {
			_, err = tx.Exec(ctx, `UPDATE ferry.destinations SET kind = $2, spec = $3, secrets = $4, secrets_set = $5, updated_at = now()
				WHERE id = $1`, id, kind, specJSON, sealed, names)
			outcome = "updated"
		}
		if err != nil {
			return err
		}
		out, err = destinations.GetByID(ctx, tx, id)
		return err
	})
	if err != nil {
		if errs.KindOf(err) != errs.KindUnknown {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("apply destination %s: %w", name, err)
	}
	return toDestination(out), outcome, nil
}

// LoadDestination returns a stored destination of the caller's tenant with
// its sealed credentials, for the process that connects to it.
func (s *Store) LoadDestination(ctx context.Context, p auth.Principal, name string) (*destinations.Loaded, error) {
	l, err := destinations.Get(ctx, s.pool, p.TenantID, name)
	if errors.Is(err, destinations.ErrNotFound) {
		return nil, errs.NotFound("destination %q not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get destination %s: %w", name, err)
	}
	return l, nil
}

// GetDestination returns a destination without its credentials.
func (s *Store) GetDestination(ctx context.Context, p auth.Principal, name string) (*ferryv1.Destination, error) {
	l, err := s.LoadDestination(ctx, p, name)
	if err != nil {
		return nil, err
	}
	return toDestination(l), nil
}

// ListDestinations lists the tenant's destinations by name, without their
// credentials.
func (s *Store) ListDestinations(ctx context.Context, p auth.Principal) ([]*ferryv1.Destination, error) {
	list, err := destinations.List(ctx, s.pool, p.TenantID)
	if err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	out := make([]*ferryv1.Destination, 0, len(list))
	for _, l := range list {
		out = append(out, toDestination(l))
	}
	return out, nil
}

// RewrapDestinations seals again, with the primary key of k, every
// destination's credentials that another key of k sealed, and returns how
// many it sealed again. It does nothing without a keyring.
func (s *Store) RewrapDestinations(ctx context.Context, k *secrets.Keyring) (int, error) {
	if k == nil {
		return 0, nil
	}
	n, err := destinations.Rewrap(ctx, s.pool, k)
	if err != nil {
		return n, fmt.Errorf("re-wrap destination credentials: %w", err)
	}
	return n, nil
}

// destinationProblems lists why an export profile's destinations cannot
// take its runs now: a name that is no destination of the tenant, or a NATS
// destination publishing rows of a file that is not JSON lines.
func (s *Store) destinationProblems(ctx context.Context, p auth.Principal, spec *ferryv1.ExportProfileSpec) ([]string, error) {
	if len(spec.GetDestinations()) == 0 {
		return nil, nil
	}
	list, err := destinations.List(ctx, s.pool, p.TenantID)
	if err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	byName := map[string]*destinations.Loaded{}
	for _, l := range list {
		byName[l.Name] = l
	}
	var problems []string
	for _, name := range spec.GetDestinations() {
		l, ok := byName[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("destination %q does not exist", name))
			continue
		}
		if n := l.Public.GetNats(); n != nil && n.GetMode() != ferryv1.NATSMode_NATS_MODE_NOTICE &&
			spec.GetFormat() != ferryv1.ExportFormat_EXPORT_FORMAT_JSONL {
			problems = append(problems, fmt.Sprintf("destination %q publishes rows on NATS, which needs format jsonl (or the destination's mode notice)", name))
		}
		if destinations.Unpinned(l.Public) {
			problems = append(problems, fmt.Sprintf("destination %q has no pinned host key: run `ferry destinations test %s` and pin the key it shows", name, name))
		}
	}
	return problems, nil
}

// checkSFTPSource checks that an import profile's SFTP source names an SFTP
// destination of the tenant.
func (s *Store) checkSFTPSource(ctx context.Context, p auth.Principal, name string, spec *ferryv1.ImportProfileSpec) error {
	src := spec.GetSftpSource()
	if src == nil {
		return nil
	}
	l, err := destinations.Get(ctx, s.pool, p.TenantID, src.GetConnection())
	switch {
	case errors.Is(err, destinations.ErrNotFound):
		return errs.Invalid("import profile %q: sftpSource.connection %q is not a destination; apply an SFTP destination of that name first", name, src.GetConnection())
	case err != nil:
		return fmt.Errorf("get destination %s: %w", src.GetConnection(), err)
	case l.Kind != "sftp":
		return errs.Invalid("import profile %q: sftpSource.connection %q is a %s destination; it must be an sftp one", name, src.GetConnection(), l.Kind)
	}
	return nil
}

// deliveryStatus maps a stored delivery status to the API's.
func deliveryStatus(s string) ferryv1.DeliveryStatus {
	return ferryv1.DeliveryStatus(ferryv1.DeliveryStatus_value["DELIVERY_STATUS_"+strings.ToUpper(s)])
}

// deliveries returns a run's deliveries by destination, each with its
// attempts by number.
func (s *Store) deliveries(ctx context.Context, q destinations.Queryer, runID uuid.UUID) ([]*ferryv1.Delivery, error) {
	rows, err := q.Query(ctx, `SELECT id, destination, kind, status, error, next_attempt_at, locations
		FROM ferry.deliveries WHERE run_id = $1 ORDER BY destination`, runID)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of run %s: %w", runID, err)
	}
	var (
		out   []*ferryv1.Delivery
		byID  = map[uuid.UUID]*ferryv1.Delivery{}
		dID   uuid.UUID
		st    string
		next  time.Time
		local []string
	)
	for rows.Next() {
		d := &ferryv1.Delivery{}
		if err := rows.Scan(&dID, &d.Destination, &d.Kind, &st, &d.Error, &next, &local); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list deliveries of run %s: %w", runID, err)
		}
		d.Status, d.Locations = deliveryStatus(st), local
		if d.Status == ferryv1.DeliveryStatus_DELIVERY_STATUS_PENDING {
			d.NextAttemptTime = timestamppb.New(next)
		}
		out = append(out, d)
		byID[dID] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries of run %s: %w", runID, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	rows, err = q.Query(ctx, `SELECT a.delivery_id, a.number, a.started_at, a.finished_at, a.outcome, a.error_class, a.message, a.next_attempt_at
		FROM ferry.delivery_attempts a JOIN ferry.deliveries d ON d.id = a.delivery_id
		WHERE d.run_id = $1 ORDER BY a.delivery_id, a.number`, runID)
	if err != nil {
		return nil, fmt.Errorf("list delivery attempts of run %s: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			a                 ferryv1.DeliveryAttempt
			started           time.Time
			finished, nextTry *time.Time
		)
		if err := rows.Scan(&dID, &a.Number, &started, &finished, &a.Outcome, &a.ErrorClass, &a.Message, &nextTry); err != nil {
			return nil, fmt.Errorf("list delivery attempts of run %s: %w", runID, err)
		}
		a.StartTime = timestamppb.New(started)
		if finished != nil {
			a.EndTime = timestamppb.New(*finished)
		}
		if nextTry != nil {
			a.NextAttemptTime = timestamppb.New(*nextTry)
		}
		if d := byID[dID]; d != nil {
			d.Attempts = append(d.Attempts, &a)
		}
	}
	return out, rows.Err()
}

// RedeliverRun delivers the files of an ended export run again, to every
// destination of the run or to the one named: the deliveries start a new
// round of attempts now and the run is running again until they end. The
// delivery engine is woken with a notification on ferry_deliveries.
func (s *Store) RedeliverRun(ctx context.Context, p auth.Principal, id, destination string) (*ferryv1.Run, error) {
	u, err := parseRunID(id)
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			kind, status string
			deleted      *time.Time
			n            int
		)
		err := tx.QueryRow(ctx, `SELECT kind, status, outputs_deleted_at, (SELECT count(*) FROM ferry.deliveries WHERE run_id = r.id)
			FROM ferry.runs r WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, u, p.TenantID).Scan(&kind, &status, &deleted, &n)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return errs.NotFound("run %q not found", id)
		case err != nil:
			return err
		case kind != "export":
			return errs.FailedPrecondition("run %s is an %s run; only export runs deliver files", id, kind)
		case status != "succeeded" && status != "failed":
			return errs.FailedPrecondition("run %s is %s; only a succeeded or failed export run can be delivered again", id, status)
		case deleted != nil:
			return errs.FailedPrecondition("run %s's files were deleted after their retention period (%s); there is nothing to deliver", id, deleted.UTC().Format(time.RFC3339))
		case n == 0:
			return errs.FailedPrecondition("run %s has no deliveries: its profile named no destinations when it ran", id)
		}
		const reset = `UPDATE ferry.deliveries SET status = 'pending', attempts = 0, round = round + 1, next_attempt_at = now(), error = '',
			lease_until = NULL, updated_at = now() WHERE run_id = $1`
		if destination != "" {
			tag, err := tx.Exec(ctx, reset+` AND destination = $2`, u, destination)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return errs.NotFound("run %s has no delivery to destination %q", id, destination)
			}
		} else if _, err := tx.Exec(ctx, reset, u); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE ferry.runs SET status = 'running', error = '', finished_at = NULL, note = 'redelivering' WHERE id = $1`, u); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify('ferry_deliveries', $1)`, u.String())
		return err
	})
	if err != nil {
		if errs.KindOf(err) != errs.KindUnknown {
			return nil, err
		}
		return nil, fmt.Errorf("redeliver run %s: %w", id, err)
	}
	return s.GetRun(ctx, p, id)
}
