-- faxhub job store, schema 11: several nodes on one store (on PostgreSQL; SQLite has one).
-- Each node says it is alive (heartbeat_at, database time in ms) and whether it drains.
CREATE TABLE nodes (
    name            TEXT PRIMARY KEY,
    version         TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    heartbeat_at    BIGINT NOT NULL,
    draining        BIGINT NOT NULL DEFAULT 0,
    stopped_at      BIGINT
);
-- Work a node claimed holds a lease (database time in ms) it renews while the work runs; work
-- whose lease expired is taken back by another node. A call also names its line, so that the
-- channels of a line are counted across the nodes.
ALTER TABLE recipients ADD COLUMN node TEXT;
ALTER TABLE recipients ADD COLUMN line TEXT;
ALTER TABLE recipients ADD COLUMN lease_until BIGINT;
ALTER TABLE jobs ADD COLUMN node TEXT;
ALTER TABLE jobs ADD COLUMN lease_until BIGINT;
ALTER TABLE outbox ADD COLUMN node TEXT;
ALTER TABLE outbox ADD COLUMN lease_until BIGINT;
CREATE INDEX recipients_number ON recipients (number, status);
CREATE INDEX recipients_line ON recipients (line, status);
