-- faxhub job store on PostgreSQL, schema 11 (SQLite schema 19): resuming a fax after a dropped
-- call. A recipient's resume_from is how many pages of its page set the far end confirmed on
-- earlier calls (the next call sends the rest behind a continuation page; 0 sends the whole
-- fax). An attempt's first_page is the page of the set it began with (1, or k+1 when it resumed
-- after k).
ALTER TABLE recipients ADD COLUMN resume_from BIGINT NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN first_page BIGINT NOT NULL DEFAULT 1;
