-- Orchestration: dataset changes that wake export profiles, the claims that
-- make a trigger fire exactly once, and the outbox of the change feed.

-- A log of dataset changes: one row per transaction that changed rows of a
-- dataset (an applied import run, a batch of change events). xid is the
-- changing transaction: a change is covered by a trigger fire when it is
-- visible in the snapshot the fire recorded (trigger_fires.snapshot), so a
-- change that commits while a fire is being claimed is never lost. Rows
-- older than a week are pruned by the profile service.
CREATE TABLE ferry.dataset_changes (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES ferry.tenants (id),
    dataset    text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX dataset_changes_dataset ON ferry.dataset_changes (tenant_id, dataset, changed_at);

-- A trigger fire of a profile, claimed in the transaction that creates its
-- run: the primary key makes one source fire a profile once across
-- replicas. source is "run/<upstream run id>" for a run-ended trigger and
-- "change/<seq of the first change of the window>" for a dataset change.
CREATE TABLE ferry.trigger_fires (
    profile_id uuid NOT NULL,
    source     text NOT NULL,
    tenant_id  uuid NOT NULL REFERENCES ferry.tenants (id),
    -- the run started; NULL when the fire asked an SFTP source to poll.
    run_id     uuid,
    -- the snapshot of the claiming transaction (dataset-change fires): the
    -- changes visible in it are in the run.
    snapshot   pg_snapshot,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_id, source)
);
CREATE INDEX trigger_fires_run ON ferry.trigger_fires (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX trigger_fires_latest ON ferry.trigger_fires (profile_id, created_at);

-- The change feed's outbox: written in the transaction that changes the
-- rows, published in seq order by the delivery service's relay, deleted
-- once the stream acknowledged it. A rolled-back change writes nothing; a
-- crash after commit leaves the rows for the next relay.
CREATE TABLE ferry.change_outbox (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES ferry.tenants (id),
    tenant_name text NOT NULL,
    dataset     text NOT NULL,
    op          text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    -- key and fields as objects of texts.
    key         jsonb NOT NULL,
    fields      jsonb NOT NULL DEFAULT '{}',
    run_id      uuid,
    profile     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
