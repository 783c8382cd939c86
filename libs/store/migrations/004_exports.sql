-- Exports: templates, export profiles (versioned like import profiles),
-- export runs in ferry.runs, and share links to their files.
CREATE TABLE ferry.templates (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES ferry.tenants (id),
    name            text NOT NULL,
    current_version bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE ferry.template_versions (
    tenant_id   uuid NOT NULL REFERENCES ferry.tenants (id),
    template_id uuid NOT NULL REFERENCES ferry.templates (id),
    version     bigint NOT NULL,
    -- the TemplateSpec in protojson.
    spec        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);

CREATE TABLE ferry.export_profiles (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES ferry.tenants (id),
    name            text NOT NULL,
    current_version bigint NOT NULL,
    -- the pg_snapshot the last successful incremental run read with: rows
    -- written by transactions it does not see are in the next run.
    watermark       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE ferry.export_profile_versions (
    tenant_id   uuid NOT NULL REFERENCES ferry.tenants (id),
    profile_id  uuid NOT NULL REFERENCES ferry.export_profiles (id),
    version     bigint NOT NULL,
    -- the ExportProfileSpec in protojson.
    spec        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_id, version)
);

ALTER TABLE ferry.runs
    ALTER COLUMN profile_id DROP NOT NULL,
    ADD COLUMN kind              text NOT NULL DEFAULT 'import',
    ADD COLUMN export_profile_id uuid REFERENCES ferry.export_profiles (id),
    -- the files an export run wrote: RunOutput messages in protojson.
    ADD COLUMN outputs           jsonb,
    -- the pg_snapshot an export run read with.
    ADD COLUMN watermark         text,
    ADD CONSTRAINT runs_one_profile CHECK ((profile_id IS NULL) <> (export_profile_id IS NULL));
CREATE INDEX runs_tenant_export_profile ON ferry.runs (tenant_id, export_profile_id, seq DESC);

CREATE TABLE ferry.share_links (
    -- sha256 of the token; tokens are random 32-byte values, never stored.
    token_hash        bytea PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES ferry.tenants (id),
    run_id            uuid REFERENCES ferry.runs (id),
    export_profile_id uuid REFERENCES ferry.export_profiles (id),
    output            text NOT NULL DEFAULT '',
    expires_at        timestamptz NOT NULL,
    revoked_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((run_id IS NULL) <> (export_profile_id IS NULL))
);

-- Delta files tell added rows from changed ones: the inserting transaction.
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tn.schema_name, d.table_name FROM ferry.datasets d JOIN ferry.tenants tn ON tn.id = d.tenant_id LOOP
        EXECUTE format('ALTER TABLE %I.%I ADD COLUMN IF NOT EXISTS _ferry_created_xid xid8 NOT NULL DEFAULT pg_current_xact_id()', t.schema_name, t.table_name);
    END LOOP;
END $$;
