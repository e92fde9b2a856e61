-- faxhub job store on PostgreSQL, schema 6 (SQLite schema 14): a job made by the HTTP API with an idempotency key (its source,
-- `api:<token>:<key>`) keeps a hash of its request, so that the same key with another request
-- is told apart (409) from a retry of the same one (the same job). NULL otherwise.
ALTER TABLE jobs ADD COLUMN request_hash TEXT;
