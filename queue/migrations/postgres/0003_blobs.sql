-- faxhub job store on PostgreSQL, schema 3 (SQLite schema 12): the spool in the store, so that
-- no node needs a shared file system. A spool file (its spool-relative name) in chunks, written
-- in the transaction of the row that refers to it and deleted with it; a node's own spool
-- directory is a cache of it.
CREATE TABLE blobs (
    name            TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    data            BYTEA NOT NULL,
    PRIMARY KEY (name, seq)
);
