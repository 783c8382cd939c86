package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/auth"
	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/expr"
	"github.com/ferrydata/ferry/libs/selection"
	"github.com/ferrydata/ferry/libs/telemetry"
	"github.com/ferrydata/ferry/services/profile/internal/catalog"
)

func toTemplate(v version) (*ferryv1.Template, error) {
	t := &ferryv1.Template{Name: v.Name, Version: v.Version, Spec: &ferryv1.TemplateSpec{},
		CreateTime: timestamppb.New(v.Created), UpdateTime: timestamppb.New(v.Updated)}
	if err := protojson.Unmarshal(v.Spec, t.Spec); err != nil {
		return nil, fmt.Errorf("decode template %s: %w", v.Name, err)
	}
	return t, nil
}

// ApplyTemplate creates a template or stores a new version of it.
func (s *Store) ApplyTemplate(ctx context.Context, p auth.Principal, name string, spec *ferryv1.TemplateSpec) (*ferryv1.Template, string, error) {
	spec, err := catalog.ValidateTemplate(name, spec)
	if err != nil {
		return nil, "", err
	}
	v, outcome, err := templatesKind.apply(ctx, s.pool, p, name, spec)
	if err != nil {
		return nil, "", err
	}
	t, err := toTemplate(v)
	return t, outcome, err
}

// GetTemplate returns the current version of a template.
func (s *Store) GetTemplate(ctx context.Context, p auth.Principal, name string) (*ferryv1.Template, error) {
	v, err := templatesKind.get(ctx, s.pool, p, name, 0)
	if err != nil {
		return nil, err
	}
	return toTemplate(v)
}

// ListTemplates lists templates by name.
func (s *Store) ListTemplates(ctx context.Context, p auth.Principal) ([]*ferryv1.Template, error) {
	vs, err := templatesKind.list(ctx, s.pool, p)
	if err != nil {
		return nil, err
	}
	out := make([]*ferryv1.Template, 0, len(vs))
	for _, v := range vs {
		t, err := toTemplate(v)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// ApplyExportProfile creates an export profile or stores a new version. A
// profile that cannot run (no dataset yet, a field gone) is stored all the
// same, and reads back invalid with the reasons.
func (s *Store) ApplyExportProfile(ctx context.Context, p auth.Principal, name string, spec *ferryv1.ExportProfileSpec) (*ferryv1.ExportProfile, string, error) {
	spec, err := catalog.ValidateExportProfile(name, spec)
	if err != nil {
		return nil, "", err
	}
	unlock, err := s.checkTriggerCycle(ctx, p, ferryv1.RunKind_RUN_KIND_EXPORT, name, spec.GetTriggers().GetAfter())
	if err != nil {
		return nil, "", err
	}
	defer unlock()
	v, outcome, err := exportProfilesKind.apply(ctx, s.pool, p, name, spec)
	if err != nil {
		return nil, "", err
	}
	ep, _, err := s.toExportProfile(ctx, p, v)
	return ep, outcome, err
}

// GetExportProfile returns a version of an export profile (0: the current
// one) with its validity now.
func (s *Store) GetExportProfile(ctx context.Context, p auth.Principal, name string, n int64) (*ferryv1.ExportProfile, error) {
	v, err := exportProfilesKind.get(ctx, s.pool, p, name, n)
	if err != nil {
		return nil, err
	}
	ep, _, err := s.toExportProfile(ctx, p, v)
	return ep, err
}

// ListExportProfiles lists export profiles by name, with their validity.
func (s *Store) ListExportProfiles(ctx context.Context, p auth.Principal) ([]*ferryv1.ExportProfile, error) {
	vs, err := exportProfilesKind.list(ctx, s.pool, p)
	if err != nil {
		return nil, err
	}
	out := make([]*ferryv1.ExportProfile, 0, len(vs))
	for _, v := range vs {
		ep, _, err := s.toExportProfile(ctx, p, v)
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, nil
}

// resolved is what an export run needs besides the profile.
type resolved struct {
	dataset  *ferryv1.Dataset
	template *ferryv1.TemplateSpec
	// parts are a bundle's entries.
	parts []*ferryv1.ExportPart
}

func (s *Store) toExportProfile(ctx context.Context, p auth.Principal, v version) (*ferryv1.ExportProfile, *resolved, error) {
	ep := &ferryv1.ExportProfile{Name: v.Name, Version: v.Version, Spec: &ferryv1.ExportProfileSpec{},
		CreateTime: timestamppb.New(v.Created), UpdateTime: timestamppb.New(v.Updated)}
	if err := protojson.Unmarshal(v.Spec, ep.Spec); err != nil {
		return nil, nil, fmt.Errorf("decode export profile %s: %w", v.Name, err)
	}
	r, problems, err := s.exportValidity(ctx, p, ep.GetSpec())
	if err != nil {
		return nil, nil, err
	}
	dp, err := s.destinationProblems(ctx, p, ep.GetSpec())
	if err != nil {
		return nil, nil, err
	}
	problems = append(problems, dp...)
	tp, err := s.triggerProblems(ctx, p, ep.GetSpec())
	if err != nil {
		return nil, nil, err
	}
	problems = append(problems, tp...)
	ep.Problems, ep.Valid = problems, len(problems) == 0
	ep.NextFireTimes = nextFireTimes(ep.GetSpec().GetStatus(), ep.GetSpec().GetTriggers())
	return ep, r, nil
}

// exportValidity lists why an export profile cannot run now. For a bundle
// it checks every entry and returns the resolved entries.
func (s *Store) exportValidity(ctx context.Context, p auth.Principal, spec *ferryv1.ExportProfileSpec) (*resolved, []string, error) {
	if len(spec.GetBundle()) == 0 {
		return s.entryValidity(ctx, p, spec)
	}
	r := &resolved{}
	var problems []string
	for i, e := range spec.GetBundle() {
		one := &ferryv1.ExportProfileSpec{Dataset: e.GetDataset(), Selection: e.GetSelection(), Sort: e.GetSort(), Template: e.GetTemplate()}
		er, eps, err := s.entryValidity(ctx, p, one)
		if err != nil {
			return nil, nil, err
		}
		for _, prob := range eps {
			problems = append(problems, fmt.Sprintf("entry %d (%s): %s", i+1, e.GetDataset(), prob))
		}
		r.parts = append(r.parts, &ferryv1.ExportPart{Entry: e, Dataset: er.dataset, Template: er.template, Table: e.GetDataset()})
	}
	return r, problems, nil
}

// entryValidity lists why one dataset's export cannot run now.
func (s *Store) entryValidity(ctx context.Context, p auth.Principal, spec *ferryv1.ExportProfileSpec) (*resolved, []string, error) {
	var problems []string
	r := &resolved{template: &ferryv1.TemplateSpec{}}
	ds, err := s.GetDataset(ctx, p, spec.GetDataset())
	switch {
	case spec.GetDataset() == "":
		return r, []string{"it names no dataset"}, nil
	case errs.Is(err, errs.KindNotFound):
		return r, []string{fmt.Sprintf("dataset %q does not exist", spec.GetDataset())}, nil
	case err != nil:
		return nil, nil, err
	}
	r.dataset = ds
	fields := map[string]bool{}
	for _, f := range ds.GetFields() {
		fields[f.GetName()] = true
	}
	if spec.GetTemplate() != "" {
		t, err := s.GetTemplate(ctx, p, spec.GetTemplate())
		switch {
		case errs.Is(err, errs.KindNotFound):
			problems = append(problems, fmt.Sprintf("template %q does not exist", spec.GetTemplate()))
		case err != nil:
			return nil, nil, err
		default:
			r.template = t.GetSpec()
		}
	}
	tables, err := s.xrefNames(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range r.template.GetColumns() {
		if c.GetField() != "" && !fields[c.GetField()] {
			problems = append(problems, fmt.Sprintf("column %q shows field %q, which dataset %q no longer has", c.GetHeader(), c.GetField(), ds.GetName()))
		}
		if c.GetExpr() != "" {
			if _, err := expr.Compile(c.GetExpr(), expr.Options{Tables: tables, Fields: true}); err != nil {
				problems = append(problems, fmt.Sprintf("column %q: expression %s", c.GetHeader(), err))
			}
		}
		if x := c.GetCrossReference(); x != "" && !slices.Contains(tables, x) {
			problems = append(problems, fmt.Sprintf("column %q: cross-reference table %q does not exist", c.GetHeader(), x))
		}
	}
	if err := selection.Check(spec.GetSelection(), ds.GetFields()); err != nil {
		problems = append(problems, fmt.Sprintf("selection: %s", err))
	}
	for _, k := range spec.GetSort() {
		if !fields[k.GetField()] {
			problems = append(problems, fmt.Sprintf("sort field %q is not a field of dataset %q", k.GetField(), ds.GetName()))
		}
	}
	return r, problems, nil
}

func (s *Store) xrefNames(ctx context.Context, p auth.Principal) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM ferry.cross_references WHERE tenant_id = $1`, p.TenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// CreateExportRun creates a queued run of the current version of an export
// profile and returns it with the snapshot the export service runs. A
// profile that is not valid does not run.
func (s *Store) CreateExportRun(ctx context.Context, p auth.Principal, name string, trigger ferryv1.RunTrigger) (*ferryv1.Run, *ferryv1.ExportSnapshot, error) {
	return s.CreateExportRunClaimed(ctx, p, name, trigger, nil)
}

// Claim runs in the transaction that creates a run, before the run's row is
// written, with the new run's id: an error rolls the run back. Schedules
// claim their instant with it, idempotency keys their key.
type Claim func(ctx context.Context, tx pgx.Tx, runID uuid.UUID, profileVersion int64) error

// CreateExportRunClaimed is CreateExportRun with claim (nil: none) in the
// run's transaction.
func (s *Store) CreateExportRunClaimed(ctx context.Context, p auth.Principal, name string, trigger ferryv1.RunTrigger, claim Claim) (*ferryv1.Run, *ferryv1.ExportSnapshot, error) {
	v, err := exportProfilesKind.get(ctx, s.pool, p, name, 0)
	if err != nil {
		return nil, nil, err
	}
	ep, r, err := s.toExportProfile(ctx, p, v)
	if err != nil {
		return nil, nil, err
	}
	if !ep.GetValid() {
		return nil, nil, errs.FailedPrecondition("export profile %q cannot run: %s", name, strings.Join(ep.GetProblems(), "; "))
	}
	if ep.GetSpec().GetStatus() != ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE && trigger != ferryv1.RunTrigger_RUN_TRIGGER_MANUAL {
		return nil, nil, errs.FailedPrecondition("export profile %q is a draft: it runs by hand, never by a %s trigger", name, triggerName(trigger))
	}
	runID := uuid.New()
	snap := &ferryv1.ExportSnapshot{TenantId: p.TenantID.String(), RunId: runID.String(), Profile: name, ProfileVersion: ep.GetVersion(),
		Spec: ep.GetSpec(), Template: r.template, Dataset: r.dataset, Schema: p.Schema, Table: r.dataset.GetName(), Parts: r.parts}
	datasetName := r.dataset.GetName()
	if len(r.parts) > 0 {
		var names []string
		for _, part := range r.parts {
			names = append(names, part.GetDataset().GetName())
		}
		datasetName = strings.Join(names, ",")
	}
	if v.Watermark != nil && ep.GetSpec().GetMode() == ferryv1.ExportMode_EXPORT_MODE_INCREMENTAL {
		snap.Watermark = *v.Watermark
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if claim != nil {
			if err := claim(ctx, tx, runID, ep.GetVersion()); err != nil {
				return err
			}
		}
		var (
			seq     int64
			created time.Time
		)
		err := tx.QueryRow(ctx, `INSERT INTO ferry.runs (id, tenant_id, export_profile_id, profile_name, profile_version, dataset_name,
				trigger, status, kind, snapshot, trace_context) VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 'export', '', $8) RETURNING seq, created_at`,
			runID, p.TenantID, v.ID, name, ep.GetVersion(), datasetName, triggerName(trigger), telemetry.TraceContext(ctx)).Scan(&seq, &created)
		if err != nil {
			return fmt.Errorf("create export run of %s: %w", name, err)
		}
		snap.RunSeq, snap.CreateTime = seq, timestamppb.New(created)
		blob, err := proto.Marshal(snap)
		if err == nil {
			_, err = tx.Exec(ctx, `UPDATE ferry.runs SET snapshot = $2 WHERE id = $1`, runID, blob)
		}
		if err != nil {
			return fmt.Errorf("store snapshot of run %s: %w", runID, err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	row, err := s.getRun(ctx, runID)
	if err != nil {
		return nil, nil, err
	}
	return row.Run, snap, nil
}
