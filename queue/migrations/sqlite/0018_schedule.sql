-- faxhub job store, schema 18: a job's priority (1 high, 0 normal, -1 low: dispatched in that
-- order) and the time it is held until (X-Fax-Send-At; NULL to go at once). A held job's
-- recipients wait `deferred` until then, like a retry.
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN send_at BIGINT;
