-- The control plane. Every row carries its tenant; dataset tables live in each
-- tenant's own schema and are created by the profile service.
CREATE SCHEMA IF NOT EXISTS ferry;

CREATE TABLE ferry.tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    schema_name text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ferry.api_keys (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES ferry.tenants (id),
    name         text NOT NULL,
    admin        boolean NOT NULL DEFAULT false,
    -- sha256 of the secret; secrets are random 32-byte tokens, never stored.
    secret_hash  bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant ON ferry.api_keys (tenant_id);

CREATE TABLE ferry.datasets (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES ferry.tenants (id),
    name        text NOT NULL,
    version     bigint NOT NULL,
    -- fields and key as the API's Dataset message in protojson.
    definition  jsonb NOT NULL,
    table_name  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE ferry.import_profiles (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES ferry.tenants (id),
    name            text NOT NULL,
    current_version bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE ferry.import_profile_versions (
    tenant_id   uuid NOT NULL REFERENCES ferry.tenants (id),
    profile_id  uuid NOT NULL REFERENCES ferry.import_profiles (id),
    version     bigint NOT NULL,
    -- the ImportProfileSpec in protojson.
    spec        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_id, version)
);

CREATE TABLE ferry.runs (
    id              uuid PRIMARY KEY,
    -- seq orders runs; across runs the later run wins for a key.
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    tenant_id       uuid NOT NULL REFERENCES ferry.tenants (id),
    profile_id      uuid NOT NULL REFERENCES ferry.import_profiles (id),
    profile_name    text NOT NULL,
    profile_version bigint NOT NULL,
    dataset_name    text NOT NULL,
    trigger         text NOT NULL,
    status          text NOT NULL,
    error           text NOT NULL DEFAULT '',
    file_name       text NOT NULL DEFAULT '',
    file_size       bigint NOT NULL DEFAULT 0,
    file_sha256     text NOT NULL DEFAULT '',
    -- the RunSnapshot protobuf the run was created with.
    snapshot        bytea NOT NULL,
    chunks_total    bigint,
    chunks_done     bigint NOT NULL DEFAULT 0,
    rows_read       bigint NOT NULL DEFAULT 0,
    rows_inserted   bigint NOT NULL DEFAULT 0,
    rows_updated    bigint NOT NULL DEFAULT 0,
    rows_unchanged  bigint NOT NULL DEFAULT 0,
    rows_rejected   bigint NOT NULL DEFAULT 0,
    rows_superseded bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz
);
CREATE INDEX runs_tenant_created ON ferry.runs (tenant_id, seq DESC);
CREATE INDEX runs_tenant_profile_created ON ferry.runs (tenant_id, profile_id, seq DESC);

-- The chunk ledger: one row per applied chunk, written in the same transaction
-- as the chunk's rows. A redelivered chunk finds its row and changes nothing.
CREATE TABLE ferry.run_chunks (
    run_id      uuid NOT NULL REFERENCES ferry.runs (id),
    seq         bigint NOT NULL,
    tenant_id   uuid NOT NULL,
    rows_read       bigint NOT NULL,
    rows_inserted   bigint NOT NULL,
    rows_updated    bigint NOT NULL,
    rows_unchanged  bigint NOT NULL,
    rows_rejected   bigint NOT NULL,
    rows_superseded bigint NOT NULL,
    -- the canonical keys of the chunk's rows, so that an earlier chunk applied
    -- later can drop rows that a later row of the same file overrides.
    keys        text[],
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE ferry.run_rejects (
    run_id      uuid NOT NULL REFERENCES ferry.runs (id),
    row_number  bigint NOT NULL,
    tenant_id   uuid NOT NULL,
    column_name text NOT NULL DEFAULT '',
    value       text NOT NULL DEFAULT '',
    reason      text NOT NULL,
    PRIMARY KEY (run_id, row_number)
);
