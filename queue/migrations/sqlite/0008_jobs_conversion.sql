-- faxhub job store, schema 8: the scheduler looks for jobs to convert after every commit; an
-- index makes that a lookup instead of a scan of every job kept (intake slowed as jobs grew).
CREATE INDEX jobs_conversion ON jobs (conversion, received_at);
