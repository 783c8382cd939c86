-- Change events in: the version of each row an event wrote, the event ids
-- already seen, and the counters of event import profiles.

-- The ordering key (version, or timestamp in microseconds) of the event that
-- last wrote a row; NULL for rows written by files. An event applies only
-- when its key is greater.
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tn.schema_name, d.name FROM ferry.datasets d JOIN ferry.tenants tn ON tn.id = d.tenant_id LOOP
        EXECUTE format('ALTER TABLE %I.%I ADD COLUMN IF NOT EXISTS _ferry_version bigint', t.schema_name, t.name);
    END LOOP;
END $$;

-- Event ids seen per dataset, kept for a week (as long as the events
-- stream keeps events): a repeated id changes nothing. stream_seq tells a
-- redelivery of the same message (already counted) from a repeat; outcome
-- is applied, ignored or rejected (a rejected id may be sent again, fixed).
CREATE TABLE ferry.event_ids (
    tenant_id  uuid NOT NULL REFERENCES ferry.tenants (id),
    dataset    text NOT NULL,
    event_id   text NOT NULL,
    version    bigint NOT NULL,
    stream_seq bigint NOT NULL,
    outcome    text NOT NULL CHECK (outcome IN ('applied', 'ignored', 'rejected')),
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, dataset, event_id)
);
CREATE INDEX event_ids_age ON ferry.event_ids (tenant_id, dataset, applied_at);

-- The counters of an event import profile, written in the transaction of
-- each batch.
CREATE TABLE ferry.event_import_counts (
    profile_id uuid PRIMARY KEY REFERENCES ferry.import_profiles (id),
    tenant_id  uuid NOT NULL REFERENCES ferry.tenants (id),
    applied    bigint NOT NULL DEFAULT 0,
    rejected   bigint NOT NULL DEFAULT 0,
    ignored    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
