-- Destinations and deliveries: where export files go, and the history of
-- every (run, destination) delivery with its attempts.
CREATE TABLE ferry.destinations (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES ferry.tenants (id),
    name        text NOT NULL,
    -- "sftp", "webhook" or "nats".
    kind        text NOT NULL,
    -- the DestinationSpec in protojson, its credentials emptied.
    spec        jsonb NOT NULL,
    -- the credentials (a JSON object) sealed with the server's key, bound
    -- to the tenant and "destination/<id>"; NULL when none are set.
    secrets     bytea,
    -- the names of the credentials that are set, so reading them needs no key.
    secrets_set text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE ferry.deliveries (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES ferry.tenants (id),
    run_id          uuid NOT NULL REFERENCES ferry.runs (id) ON DELETE CASCADE,
    destination_id  uuid REFERENCES ferry.destinations (id) ON DELETE SET NULL,
    -- the destination's name when the run was assembled.
    destination     text NOT NULL,
    kind            text NOT NULL DEFAULT '',
    -- "pending", "succeeded", "failed" or "canceled".
    status          text NOT NULL DEFAULT 'pending',
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- a worker owns the delivery until then; a crashed worker's lease runs out.
    lease_until     timestamptz,
    error           text NOT NULL DEFAULT '',
    locations       text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, destination)
);
CREATE INDEX deliveries_due ON ferry.deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE ferry.delivery_attempts (
    delivery_id     uuid NOT NULL REFERENCES ferry.deliveries (id) ON DELETE CASCADE,
    number          int NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    -- "succeeded", "retry" or "failed".
    outcome         text NOT NULL DEFAULT '',
    error_class     text NOT NULL DEFAULT '',
    message         text NOT NULL DEFAULT '',
    next_attempt_at timestamptz,
    PRIMARY KEY (delivery_id, number)
);

-- An export run with destinations is assembled, then delivered: the
-- watermark it read with moves to its profile only when every delivery
-- succeeded, and never backwards past a later run's.
ALTER TABLE ferry.runs ADD COLUMN advance_watermark boolean NOT NULL DEFAULT false;
ALTER TABLE ferry.export_profiles ADD COLUMN watermark_run_seq bigint;
