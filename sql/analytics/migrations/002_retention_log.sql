-- Contract 6 ("Retention"): what analytics_retention deleted, or in a dry run would delete, one row per
-- run of a date (per date for the quarantine) and kind of file. Deletions are facts and are never
-- rewritten; a retried task clears only its own 'dry_run' and 'refused' rows before writing them again.
CREATE TABLE IF NOT EXISTS retention_log (
    id                bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    retention_run_id  text         NOT NULL,  -- the analytics_retention DAG run
    logged_at         timestamptz  NOT NULL DEFAULT now(),
    action            text         NOT NULL CHECK (action IN ('deleted', 'dry_run', 'refused')),
    reason            text         NOT NULL CHECK (reason IN ('expired', 'superseded')),
    date              date         NOT NULL,  -- the processed date the files belong to
    run_key           text,                   -- the run's folder (run=<key>); NULL for the quarantine
    run_id            text,                   -- etl_runs.run_id of that run; NULL when it has no record
    run_status        text,                   -- its etl_runs status when it was chosen
    kind              text         NOT NULL
                      CHECK (kind IN ('staging', 'curated', 'validation', 'data_docs', 'quarantine')),
    files             bigint       NOT NULL,  -- files (and symbolic links) removed, or to be removed
    bytes             bigint       NOT NULL,  -- their apparent size (st_size)
    paths             text[]       NOT NULL,  -- the directories, relative to etl_data_dir
    error             text                    -- what stopped a deletion part way; the counts are what went
);
CREATE INDEX IF NOT EXISTS retention_log_run_idx ON retention_log (retention_run_id);
CREATE INDEX IF NOT EXISTS retention_log_date_idx ON retention_log (date);
