-- Stage first, decide, then apply: delivery copies each chunk's mapped rows
-- into a staging table of the run (schema ferry_stage), and applies the run
-- in one transaction once every chunk is staged.
CREATE SCHEMA IF NOT EXISTS ferry_stage;

ALTER TABLE ferry.runs
    ADD COLUMN dry_run       boolean NOT NULL DEFAULT false,
    ADD COLUMN preview_rows  integer NOT NULL DEFAULT 0,
    -- a dry run's Preview message in protojson.
    ADD COLUMN preview       jsonb,
    ADD COLUMN parent_run    uuid REFERENCES ferry.runs (id),
    ADD COLUMN note          text NOT NULL DEFAULT '',
    ADD COLUMN approved      boolean NOT NULL DEFAULT false,
    -- apply_requested says the apply command has been published.
    ADD COLUMN apply_requested boolean NOT NULL DEFAULT false,
    ADD COLUMN rows_deleted  bigint NOT NULL DEFAULT 0,
    ADD COLUMN rows_held     bigint NOT NULL DEFAULT 0,
    -- the file's header, for the reject report.
    ADD COLUMN header        text[],
    -- the header name of each field read from a column, for rejects found
    -- when the run is applied.
    ADD COLUMN field_columns jsonb;

ALTER TABLE ferry.run_chunks
    DROP COLUMN keys,
    ADD COLUMN rows_staged bigint NOT NULL DEFAULT 0,
    ADD COLUMN rows_held   bigint NOT NULL DEFAULT 0;

ALTER TABLE ferry.run_rejects
    ADD COLUMN rule   text NOT NULL DEFAULT '',
    -- the row's original fields, when known.
    ADD COLUMN record text[];

-- Rows held as "needs cross-reference", with their original fields.
CREATE TABLE ferry.run_held (
    run_id       uuid NOT NULL REFERENCES ferry.runs (id),
    row_number   bigint NOT NULL,
    tenant_id    uuid NOT NULL,
    column_name  text NOT NULL DEFAULT '',
    value        text NOT NULL DEFAULT '',
    table_name   text NOT NULL DEFAULT '',
    reason       text NOT NULL,
    record       text[] NOT NULL,
    reapplied_by uuid REFERENCES ferry.runs (id),
    PRIMARY KEY (run_id, row_number)
);

-- Mirror and delete modes soft-delete rows.
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tn.schema_name, d.table_name FROM ferry.datasets d JOIN ferry.tenants tn ON tn.id = d.tenant_id LOOP
        EXECUTE format('ALTER TABLE %I.%I ADD COLUMN IF NOT EXISTS _ferry_deleted_at timestamptz', t.schema_name, t.table_name);
    END LOOP;
END $$;
