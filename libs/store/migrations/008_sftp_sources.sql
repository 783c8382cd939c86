-- SFTP sources: import profiles that pull files from an SFTP directory.
-- One row per profile schedules its polls across ingest replicas: a replica
-- polls only while it holds the lease, and only once the interval has
-- passed since the last poll by anyone.
CREATE TABLE ferry.sftp_sources (
    profile_id       uuid PRIMARY KEY REFERENCES ferry.import_profiles (id) ON DELETE CASCADE,
    tenant_id        uuid NOT NULL REFERENCES ferry.tenants (id),
    lease_owner      text NOT NULL DEFAULT '',
    lease_until      timestamptz,
    last_poll_at     timestamptz,
    -- why the last poll failed ("" when it did not), and whether retrying
    -- can help ("transient") or a person must act ("permanent").
    last_error       text NOT NULL DEFAULT '',
    last_error_class text NOT NULL DEFAULT '',
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The ledger of the files an SFTP source saw and took. A file is its name,
-- size and modification time: replaced with other content it is a new file.
CREATE TABLE ferry.sftp_source_files (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES ferry.tenants (id),
    profile_id        uuid NOT NULL REFERENCES ferry.import_profiles (id) ON DELETE CASCADE,
    name              text NOT NULL,
    size              bigint NOT NULL,
    mtime             timestamptz NOT NULL,
    -- hex digest of the file's bytes, once read.
    sha256            text NOT NULL DEFAULT '',
    -- "seen": listed once, taken when the next poll lists it unchanged;
    -- "importing": its run was created (run_id) and has not ended;
    -- "imported": the run succeeded (with or without rejected rows);
    -- "failed": the run failed or was canceled, or the file was refused
    -- before a run could be created (error says why);
    -- "duplicate": the same name and content were imported before
    -- (duplicate_of), so no run was started.
    state             text NOT NULL,
    run_id            uuid,
    duplicate_of      uuid,
    error             text NOT NULL DEFAULT '',
    -- what became of the file once its run ended: "" (not yet), "archived",
    -- "deleted", "moved-to-error", or "gone" (no longer there as it was).
    disposition       text NOT NULL DEFAULT '',
    -- where it was moved to.
    disposed_to       text NOT NULL DEFAULT '',
    -- why the last attempt to archive, delete or move it failed; retried
    -- on later polls.
    disposition_error text NOT NULL DEFAULT '',
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (state IN ('seen', 'importing', 'imported', 'failed', 'duplicate')),
    CHECK (disposition IN ('', 'archived', 'deleted', 'moved-to-error', 'gone'))
);
-- A file is taken once: while its row is open (not yet disposed of), no
-- second row, so no second run, can exist for it. Once it has been moved
-- away, the same name, size and time appearing again is checked anew.
CREATE UNIQUE INDEX sftp_source_files_open ON ferry.sftp_source_files (profile_id, name, size, mtime)
    WHERE disposition = '';
CREATE INDEX sftp_source_files_pending ON ferry.sftp_source_files (profile_id, state)
    WHERE disposition = '' AND state <> 'seen';
CREATE INDEX sftp_source_files_content ON ferry.sftp_source_files (profile_id, name, size)
    WHERE state = 'imported';
