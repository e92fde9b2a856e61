-- faxhub job store, schema 4: receipts and mail out.
-- What the call of an attempt did (the far end's ident, speed, ECM, transport), as JSON.
ALTER TABLE attempts ADD COLUMN call TEXT;
-- Which report a recipient has had: NULL none yet, 'delay' the one delay report, 'final' the
-- success or failure report (or none wanted: NOTIFY=NEVER, null return path).
ALTER TABLE recipients ADD COLUMN reported TEXT;
-- Mail faxhub sends: receipts to senders and received faxes to their owners. The message is
-- a spool file, written and synced before its row is committed; a row is sent once.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,          -- delivered | failed | delayed | fax
    job_id          TEXT,                   -- the job a receipt reports on
    mail_from       TEXT NOT NULL,          -- '' for the null return path (receipts)
    rcpt_to         TEXT NOT NULL,
    path            TEXT NOT NULL,          -- relative to the spool
    created_at      BIGINT NOT NULL,
    state           TEXT NOT NULL,          -- queued | sent | failed
    tries           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
