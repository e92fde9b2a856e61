-- faxhub job store, schema 7: a conversion that failed for the server's trouble (a tool
-- missing or crashed, the disk full) is tried again later, like a call.
ALTER TABLE jobs ADD COLUMN convert_after BIGINT;            -- not before (ms); NULL: at once
ALTER TABLE jobs ADD COLUMN convert_tries INTEGER NOT NULL DEFAULT 0;
