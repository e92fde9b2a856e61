-- faxhub job store, schema 9: the numbers each sender faxes, when first and last, kept as jobs
-- are committed, so that the per-sender limits read a few rows per message instead of every
-- job of the sender's day (intake slowed as a busy sender's jobs grew: two scans a message).
CREATE TABLE sender_numbers (
    sender          TEXT NOT NULL,          -- the job's envelope sender
    number          TEXT NOT NULL,          -- E.164
    first_at        BIGINT NOT NULL,        -- received_at of its first job
    last_at         BIGINT NOT NULL,        -- received_at of its latest job
    PRIMARY KEY (sender, number)
);
CREATE INDEX sender_numbers_last ON sender_numbers (sender, last_at);
CREATE INDEX sender_numbers_first ON sender_numbers (sender, first_at);
-- what the store holds already (recipients refused at intake never counted)
INSERT INTO sender_numbers (sender, number, first_at, last_at)
    SELECT j.return_path, r.number, MIN(j.received_at), MAX(j.received_at)
    FROM recipients r JOIN jobs j ON j.id = r.job_id
    WHERE r.status <> 'failed' OR r.tries + r.dials > 0
    GROUP BY j.return_path, r.number;
