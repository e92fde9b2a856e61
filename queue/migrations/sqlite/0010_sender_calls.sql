-- faxhub job store, schema 10: the calls each sender's faxes made, when and with how many
-- pages, kept as calls start, so that the per-sender limits read the day's calls of one sender
-- instead of joining every job of the sender to its attempts at each message.
CREATE TABLE sender_calls (
    sender          TEXT NOT NULL,          -- the job's envelope sender
    started_at      BIGINT NOT NULL,
    pages           BIGINT NOT NULL         -- the pages the call was sending
);
CREATE INDEX sender_calls_by_sender ON sender_calls (sender, started_at);
INSERT INTO sender_calls (sender, started_at, pages)
    SELECT j.return_path, a.started_at, COALESCE(r.pages, j.pages, 0)
    FROM attempts a JOIN jobs j ON j.id = a.job_id
    JOIN recipients r ON r.job_id = a.job_id AND r.idx = a.rcpt_idx;
