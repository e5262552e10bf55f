-- Issue 21: an erasure records what it removes as it removes it. Its row is created 'running' before
-- anything is touched, each step adds its removals when they are made, and the row ends 'done' or
-- 'failed' (with the error). A killed erasure leaves its row 'running': the trace of what it did.
-- Rows written before this migration were written once, at the end: 'done'.
ALTER TABLE erasure_log
    ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'done'
        CHECK (status IN ('running', 'done', 'failed')),
    ADD COLUMN IF NOT EXISTS started_at timestamptz,
    -- files removed without being read (uncommitted Spark attempts, a dead job's scratch, files
    -- written aside), relative to etl_data_dir
    ADD COLUMN IF NOT EXISTS files_removed jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN IF NOT EXISTS failed_task text,
    ADD COLUMN IF NOT EXISTS error text;
ALTER TABLE erasure_log ALTER COLUMN status SET DEFAULT 'running';
-- Issue 21: retention counts regular files only; a symbolic link inside a deleted folder is removed
-- but neither counted as a file nor sized.
COMMENT ON COLUMN retention_log.files IS 'regular files removed (or, dry, to be removed); links are not counted';
COMMENT ON COLUMN retention_log.bytes IS 'their apparent size (st_size)';
