-- faxhub job store, schema 15 (PostgreSQL schema 7): the webhooks' outbox. One row per event
-- and endpoint, written in the transaction of the change it tells; delivered in `seq` order per
-- endpoint, at least once, until sent or given up.
CREATE TABLE webhook_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL,          -- the event's id (webhook-id), the same for each endpoint
    endpoint        TEXT NOT NULL,          -- the [[webhooks]] name
    type            TEXT NOT NULL,          -- fax.queued, fax.delivered…
    payload         TEXT NOT NULL,          -- the JSON body, as signed
    created_at      BIGINT NOT NULL,
    state           TEXT NOT NULL,          -- queued | sent | failed
    tries           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    sent_at         BIGINT
);
CREATE UNIQUE INDEX webhook_events_id ON webhook_events (endpoint, id);
CREATE INDEX webhook_events_due ON webhook_events (endpoint, state, seq);
