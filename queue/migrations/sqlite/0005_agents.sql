-- faxhub job store, schema 5: transport agents beside SMTP.
-- The item a job was made from (a drop-directory file, a GroupWise message, an IMAP message, a
-- hot-folder scan), so that an item taken again after a crash (committed, not yet removed at
-- its source) is recognised and not queued twice. NULL for SMTP and the CLI.
ALTER TABLE jobs ADD COLUMN source TEXT;
CREATE UNIQUE INDEX jobs_source ON jobs (source);
-- How an outbox mail leaves: 'relay' (SMTP relay or Maildir), 'exchange' (the Replay
-- directory), 'groupwise' (API_IN).
ALTER TABLE outbox ADD COLUMN route TEXT NOT NULL DEFAULT 'relay';
