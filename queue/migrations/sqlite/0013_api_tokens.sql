-- faxhub job store, schema 13: the HTTP API's tokens. Only a hash of each secret is kept; the
-- id is the token's public part (shown by `faxhub token list`).
CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY,
    hash            TEXT NOT NULL,       -- hex SHA-256 of the secret
    scopes          TEXT NOT NULL,       -- comma-separated: send, read, admin
    sender          TEXT,                -- the sender it acts for (its jobs only), if bound
    name            TEXT,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);
