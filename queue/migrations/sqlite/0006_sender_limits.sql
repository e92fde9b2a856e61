-- faxhub job store, schema 6: per-sender limits and counters.
-- A sender's jobs of the last day (its numbers, calls and pages) are found by this index.
CREATE INDEX jobs_sender ON jobs (return_path, received_at);
-- Events counted since the store was made (e.g. a sender's new destinations spiking), for the
-- CLI today and metrics later.
CREATE TABLE counters (
    name            TEXT PRIMARY KEY,
    value           BIGINT NOT NULL
);
