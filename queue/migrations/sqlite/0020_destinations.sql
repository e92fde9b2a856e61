-- faxhub job store, schema 20: destination memory. Per number (E.164), where its next call
-- starts (the profile: G.711 only, the fastest speed, ECM off; NULL leaves the line's option),
-- whether an operator pinned it, and what last worked and last failed, in words.
CREATE TABLE destinations (
    number TEXT PRIMARY KEY,
    t38 INTEGER,
    max_speed INTEGER,
    ecm INTEGER,
    pinned INTEGER NOT NULL DEFAULT 0,
    last_ok TEXT,
    last_ok_at BIGINT,
    last_failure TEXT,
    last_failure_at BIGINT,
    updated_at BIGINT NOT NULL
);
