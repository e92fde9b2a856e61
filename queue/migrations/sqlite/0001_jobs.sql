-- faxhub job store, schema 1. Portable SQL (SQLite and PostgreSQL): times are integer
-- milliseconds since the Unix epoch, enums are lower-case text.

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    origin          TEXT NOT NULL,
    return_path     TEXT NOT NULL,          -- envelope sender; '' for the null return path
    from_header     TEXT,
    subject         TEXT,
    received_at     BIGINT NOT NULL,
    env_id          TEXT,                   -- RFC 3461 ENVID
    ret             TEXT,                   -- RFC 3461 RET: FULL or HDRS
    message_path    TEXT NOT NULL,          -- relative to the spool
    size            BIGINT NOT NULL,
    conversion      TEXT NOT NULL,          -- pending | converting | converted | failed
    pages           INTEGER,
    pages_path      TEXT,                   -- relative to the spool
    finished_at     BIGINT
);

CREATE TABLE recipients (
    job_id          TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx             INTEGER NOT NULL,
    number          TEXT NOT NULL,          -- E.164
    address         TEXT NOT NULL,          -- as received
    display_name    TEXT,
    subaddress      TEXT,                   -- RFC 3192 T33S
    notify          TEXT,                   -- RFC 3461 NOTIFY as received, normalised
    orcpt           TEXT,                   -- RFC 3461 ORCPT as received
    status          TEXT NOT NULL,
    tries           INTEGER NOT NULL DEFAULT 0,
    dials           INTEGER NOT NULL DEFAULT 0,
    pages_sent      INTEGER NOT NULL DEFAULT 0,
    status_code     TEXT,
    reason          TEXT,
    next_attempt_at BIGINT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (job_id, idx)
);

CREATE INDEX recipients_due ON recipients (status, next_attempt_at);

CREATE TABLE attempts (
    job_id          TEXT NOT NULL,
    rcpt_idx        INTEGER NOT NULL,
    n               INTEGER NOT NULL,       -- 1 for the first attempt of this recipient
    line            TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    status_code     TEXT,
    reason          TEXT,
    pages_sent      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, rcpt_idx, n),
    FOREIGN KEY (job_id, rcpt_idx) REFERENCES recipients(job_id, idx) ON DELETE CASCADE
);
