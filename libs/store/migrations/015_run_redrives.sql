-- How often the profile service drove an import run again because it made
-- no progress (a lost message), and when it last did: the run's split is
-- started again from its stored file (or its apply asked for again), and
-- after a few times without progress the run fails with the reason.
ALTER TABLE ferry.runs ADD COLUMN redrives int NOT NULL DEFAULT 0;
ALTER TABLE ferry.runs ADD COLUMN redriven_at timestamptz;
