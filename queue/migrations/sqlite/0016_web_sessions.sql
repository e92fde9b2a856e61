-- faxhub job store, schema 16: the web client's sessions. Only a hash of each secret is kept; a
-- row ends at sign-out or when it expires.
CREATE TABLE web_sessions (
    id              TEXT PRIMARY KEY,
    hash            TEXT NOT NULL,       -- hex SHA-256 of the secret
    login           TEXT NOT NULL,       -- the name signed in with
    mail            TEXT NOT NULL,       -- the address the user faxes as and receives at
    name            TEXT,                -- the name shown
    admin           BIGINT NOT NULL,     -- 1: an administrator
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
