-- faxhub job store, schema 2: a recipient may have a page set of its own (its cover page, then
-- the job's pages). NULL means the job's page set.
ALTER TABLE recipients ADD COLUMN pages INTEGER;
ALTER TABLE recipients ADD COLUMN pages_path TEXT;
