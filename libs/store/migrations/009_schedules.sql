-- Schedules and API triggers.

-- One row per scheduled instant of a profile that a scheduler fired: the
-- primary key is the claim that makes one run per instant however many
-- profile replicas run schedulers. The row is written in the transaction
-- that creates the run (export profiles) or requests the poll (import
-- profiles), so a crash neither loses nor repeats an instant.
CREATE TABLE ferry.schedule_fires (
    -- "export" or "import".
    profile_kind    text NOT NULL,
    profile_id      uuid NOT NULL,
    instant         timestamptz NOT NULL,
    tenant_id       uuid NOT NULL REFERENCES ferry.tenants (id),
    profile_version bigint NOT NULL,
    -- the export run started; NULL for an import profile's poll, or when
    -- the profile could not run (error says why).
    run_id          uuid,
    error           text NOT NULL DEFAULT '',
    -- when the export command was published; a fire whose run is still
    -- queued without it is published again.
    published_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_kind, profile_id, instant),
    CHECK (profile_kind IN ('export', 'import'))
);
CREATE INDEX schedule_fires_unpublished ON ferry.schedule_fires (created_at)
    WHERE run_id IS NOT NULL AND published_at IS NULL;

-- Idempotency keys of StartRun and StartExport: the same key returns the
-- run it first created. Keys are kept seven days.
CREATE TABLE ferry.idempotency_keys (
    tenant_id  uuid NOT NULL REFERENCES ferry.tenants (id),
    key        text NOT NULL,
    run_id     uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_created ON ferry.idempotency_keys (created_at);

-- A schedule asks an SFTP source to poll now: the poller treats a pending
-- request as due (and polls once more shortly after, so that a file seen
-- by the requested poll is taken by the next one).
ALTER TABLE ferry.sftp_sources
    ADD COLUMN poll_requested_at timestamptz,
    -- the poll after a requested one (once).
    ADD COLUMN poll_again_at timestamptz;
