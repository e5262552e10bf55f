-- Contract 6 ("Erasure"): one row per run of erase_user_data, what it removed where.
CREATE TABLE IF NOT EXISTS erasure_log (
    run_id          text         PRIMARY KEY,  -- the erase_user_data run: a retried task rewrites its row
    user_id         uuid         NOT NULL,
    erased_at       timestamptz  NOT NULL,
    rows_removed    jsonb        NOT NULL,     -- per sink: {"daily_user_stats": n, "cassandra.user_engagement": n, ...}
    files_rewritten jsonb        NOT NULL      -- paths under etl_data_dir, relative to it
);
CREATE INDEX IF NOT EXISTS erasure_log_user_idx ON erasure_log (user_id);
