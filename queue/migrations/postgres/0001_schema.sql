-- faxhub job store on PostgreSQL, schema 1: the same tables as SQLite's schema 10 (see
-- migrations/sqlite for what each column means and when it came). Integers are all BIGINT (one
-- integer type through sqlx's Any driver), times integer milliseconds since the Unix epoch,
-- enums lower-case text. Later versions expand, then contract: a column or table a running
-- node of the previous version reads is dropped only in a version after the one that stopped
-- reading it.

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    origin          TEXT NOT NULL,
    return_path     TEXT NOT NULL,
    from_header     TEXT,
    subject         TEXT,
    received_at     BIGINT NOT NULL,
    env_id          TEXT,
    ret             TEXT,
    message_path    TEXT NOT NULL,
    size            BIGINT NOT NULL,
    conversion      TEXT NOT NULL,
    pages           BIGINT,
    pages_path      TEXT,
    finished_at     BIGINT,
    source          TEXT,
    convert_after   BIGINT,
    convert_tries   BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX jobs_source ON jobs (source);
CREATE INDEX jobs_sender ON jobs (return_path, received_at);
CREATE INDEX jobs_conversion ON jobs (conversion, received_at);

CREATE TABLE recipients (
    job_id          TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx             BIGINT NOT NULL,
    number          TEXT NOT NULL,
    address         TEXT NOT NULL,
    display_name    TEXT,
    subaddress      TEXT,
    notify          TEXT,
    orcpt           TEXT,
    status          TEXT NOT NULL,
    tries           BIGINT NOT NULL DEFAULT 0,
    dials           BIGINT NOT NULL DEFAULT 0,
    pages_sent      BIGINT NOT NULL DEFAULT 0,
    status_code     TEXT,
    reason          TEXT,
    next_attempt_at BIGINT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL,
    pages           BIGINT,
    pages_path      TEXT,
    progress        TEXT,
    reported        TEXT,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX recipients_due ON recipients (status, next_attempt_at);

CREATE TABLE attempts (
    job_id          TEXT NOT NULL,
    rcpt_idx        BIGINT NOT NULL,
    n               BIGINT NOT NULL,
    line            TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    status_code     TEXT,
    reason          TEXT,
    pages_sent      BIGINT NOT NULL DEFAULT 0,
    call            TEXT,
    PRIMARY KEY (job_id, rcpt_idx, n),
    FOREIGN KEY (job_id, rcpt_idx) REFERENCES recipients(job_id, idx) ON DELETE CASCADE
);

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    job_id          TEXT,
    mail_from       TEXT NOT NULL,
    rcpt_to         TEXT NOT NULL,
    path            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    state           TEXT NOT NULL,
    tries           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    sent_at         BIGINT,
    route           TEXT NOT NULL DEFAULT 'relay'
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE counters (
    name            TEXT PRIMARY KEY,
    value           BIGINT NOT NULL
);

CREATE TABLE sender_numbers (
    sender          TEXT NOT NULL,
    number          TEXT NOT NULL,
    first_at        BIGINT NOT NULL,
    last_at         BIGINT NOT NULL,
    PRIMARY KEY (sender, number)
);
CREATE INDEX sender_numbers_last ON sender_numbers (sender, last_at);
CREATE INDEX sender_numbers_first ON sender_numbers (sender, first_at);

CREATE TABLE sender_calls (
    sender          TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    pages           BIGINT NOT NULL
);
CREATE INDEX sender_calls_by_sender ON sender_calls (sender, started_at);
