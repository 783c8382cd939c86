-- How often the profile service drove a run again because it made no
-- progress (a lost message), and when it last did: an import's split is
-- started again from its stored file (or its apply asked for again), an
-- export is read again; after a few times without progress the run fails
-- with the reason.
ALTER TABLE ferry.runs ADD COLUMN redrives int NOT NULL DEFAULT 0;
ALTER TABLE ferry.runs ADD COLUMN redriven_at timestamptz;
-- When each formatted part of an export was recorded: an export run's
-- progress, for the same watchdog.
ALTER TABLE ferry.export_parts ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();
