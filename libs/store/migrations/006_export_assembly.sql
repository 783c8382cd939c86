-- Export runs are read by parallel readers, formatted by transform and
-- assembled by delivery. delivery keeps a ledger of the formatted batches
-- of each read attempt and the manifest that says how many there are; the
-- first manifest of a run is the attempt that counts.
CREATE TABLE ferry.export_manifests (
    run_id     uuid PRIMARY KEY REFERENCES ferry.runs (id) ON DELETE CASCADE,
    attempt    text NOT NULL,
    -- the ExportManifest protobuf.
    manifest   bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ferry.export_parts (
    run_id  uuid NOT NULL REFERENCES ferry.runs (id) ON DELETE CASCADE,
    attempt text NOT NULL,
    query   int NOT NULL,
    range   int NOT NULL,
    seq     bigint NOT NULL,
    -- the ExportPartReady protobuf.
    part    bytea NOT NULL,
    PRIMARY KEY (run_id, attempt, query, range, seq)
);
