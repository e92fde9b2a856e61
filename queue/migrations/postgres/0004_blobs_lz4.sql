-- faxhub job store on PostgreSQL, schema 4 (no SQLite counterpart): blobs are compressed with
-- lz4 rather than pglz, which was a sixth of the server's CPU at intake (every message is a
-- blob). Only new values change; a server built without lz4 keeps pglz (expand only: older
-- nodes read both).
DO $$
BEGIN
    ALTER TABLE blobs ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available: blobs stay compressed with pglz';
END
$$;
