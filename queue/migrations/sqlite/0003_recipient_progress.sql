-- faxhub job store, schema 3: what the call in progress to a recipient has done so far
-- (connected, over what, the far end's ident, pages confirmed), as JSON, for `faxhub queue
-- watch`. NULL when no call is in progress.
ALTER TABLE recipients ADD COLUMN progress TEXT;
