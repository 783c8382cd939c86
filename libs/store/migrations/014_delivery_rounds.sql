-- The round of attempts a delivery is in: 1 for the first, one more for each
-- `ferry runs redeliver`. A NATS destination's message ids carry the round,
-- so that a redelivery is published again rather than dropped as a
-- duplicate, while a retry within the round resumes after what the
-- subscriber's stream already holds.
ALTER TABLE ferry.deliveries ADD COLUMN round int NOT NULL DEFAULT 1;
