-- Cross-reference tables: a tenant's named maps between external values (in
-- files) and internal values (in datasets).
CREATE TABLE ferry.cross_references (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES ferry.tenants (id),
    name             text NOT NULL,
    case_insensitive boolean NOT NULL DEFAULT false,
    -- increases with every change of settings or entries.
    version          bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE ferry.cross_reference_entries (
    xref_id    uuid NOT NULL REFERENCES ferry.cross_references (id) ON DELETE CASCADE,
    tenant_id  uuid NOT NULL,
    -- external and internal are stored exactly as given.
    external   text NOT NULL,
    -- the compared form of external (libs/xref.MatchKey): trimmed and
    -- case-folded in a case-insensitive table, external itself otherwise.
    match_key  text NOT NULL,
    internal   text NOT NULL,
    is_primary boolean NOT NULL DEFAULT false,
    PRIMARY KEY (xref_id, match_key),
    -- at most one primary external value per internal value; checked at
    -- commit, so that one statement may move the mark from one entry to another.
    EXCLUDE USING btree (xref_id WITH =, internal WITH =) WHERE (is_primary) DEFERRABLE INITIALLY DEFERRED
);
-- Pages in byte order of the external value, the order Go compares strings in.
CREATE UNIQUE INDEX cross_reference_entries_external ON ferry.cross_reference_entries (xref_id, external COLLATE "C");
-- Internal to external lookups.
CREATE INDEX cross_reference_entries_internal ON ferry.cross_reference_entries (xref_id, internal);
