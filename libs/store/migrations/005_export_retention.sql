-- Export files are kept for a retention period; then their objects are
-- deleted and the run remembers when.
ALTER TABLE ferry.runs ADD COLUMN outputs_deleted_at timestamptz;
CREATE INDEX runs_export_retention ON ferry.runs (finished_at) WHERE kind = 'export' AND outputs IS NOT NULL AND outputs_deleted_at IS NULL;
