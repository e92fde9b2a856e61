-- faxhub job store on PostgreSQL, schema 13 (SQLite schema 21): broadcasts. A job made from a
-- list (a spreadsheet attached to a mail to the broadcast address) names that attachment
-- (list_part: not faxed, and the job gets one cumulative report); each of its recipients keeps
-- its row in the list and the company the row gives (for its cover page).
ALTER TABLE jobs ADD COLUMN list_part TEXT;
ALTER TABLE recipients ADD COLUMN list_row BIGINT;
ALTER TABLE recipients ADD COLUMN company TEXT;
