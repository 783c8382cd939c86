package apply

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/ferrydata/ferry/libs/orchestration"
)

// recordChanges tells the triggers that the run changed its dataset and,
// when the profile publishes its changes, writes each changed row to the
// change feed's outbox — in the apply transaction, so that a rolled-back
// apply leaves neither.
func (r *runApply) recordChanges(ctx context.Context) error {
	c := r.counts
	if r.snap.GetDryRun() || c.GetInserted()+c.GetUpdated()+c.GetDeleted() == 0 {
		return nil
	}
	tenant, err := uuid.Parse(r.snap.GetTenantId())
	if err != nil {
		return fmt.Errorf("tenant id %q: %w", r.snap.GetTenantId(), err)
	}
	run, err := uuid.Parse(r.snap.GetRunId())
	if err != nil {
		return fmt.Errorf("run id %q: %w", r.snap.GetRunId(), err)
	}
	dataset := r.snap.GetDataset().GetName()
	if dataset == "" {
		dataset = r.snap.GetTable()
	}
	if err := orchestration.RecordChange(ctx, r.tx, tenant, dataset); err != nil {
		return err
	}
	if !r.spec.GetPublishChanges() {
		return nil
	}
	_, err = orchestration.WriteRunChanges(ctx, r.tx,
		orchestration.Feed{TenantID: tenant, Dataset: dataset, RunID: run, Profile: r.snap.GetProfile()},
		orchestration.Table{Schema: r.snap.GetSchema(), Name: r.snap.GetTable(), Key: r.keys()})
	return err
}
