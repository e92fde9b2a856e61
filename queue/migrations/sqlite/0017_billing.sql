-- faxhub job store, schema 17: a job's billing code (`X-Fax-Billing`, or a `[code]` tag of its
-- Subject where configured), for `faxhub usage --by billing`. NULL when it has none.
ALTER TABLE jobs ADD COLUMN billing TEXT;
