-- faxhub job store, schema 12: the spool in the store, for several nodes without a shared file
-- system (used on PostgreSQL; SQLite keeps its spool on disk, and this table stays empty).
-- A spool file (its spool-relative name) in chunks, written in the transaction of the row that
-- refers to it and deleted with it.
CREATE TABLE blobs (
    name            TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    data            BLOB NOT NULL,
    PRIMARY KEY (name, seq)
);
