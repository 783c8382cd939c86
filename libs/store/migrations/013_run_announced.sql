-- The status of a run whose lifecycle event (ferry.runs.<tenant>.<profile>.<status>)
-- was last published: a progress event redelivered after JetStream's
-- duplicate window finds it and publishes nothing (nor counts the run as
-- finished) a second time. Runs that ended before this column existed were
-- announced then.
ALTER TABLE ferry.runs ADD COLUMN announced text NOT NULL DEFAULT '';
UPDATE ferry.runs SET announced = status WHERE status NOT IN ('queued', 'running');
