-- The erasure's row, before anything is touched: every count at zero. A retried or cleared run keeps
-- what its earlier tries recorded (those removals happened) and is 'running' again.
INSERT INTO erasure_log (run_id, user_id, erased_at, started_at, status, rows_removed, files_rewritten)
VALUES (%(run_id)s, %(user_id)s, now(), now(), 'running', %(zeros)s::jsonb, '[]'::jsonb)
ON CONFLICT (run_id) DO UPDATE
SET status = 'running', failed_task = NULL, error = NULL,
    rows_removed = %(zeros)s::jsonb || erasure_log.rows_removed;
