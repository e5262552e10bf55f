INSERT INTO erasure_log (run_id, user_id, erased_at, rows_removed, files_rewritten)
VALUES (%(run_id)s, %(user_id)s, now(), %(rows_removed)s, %(files_rewritten)s)
ON CONFLICT (run_id) DO UPDATE
SET erased_at = EXCLUDED.erased_at, rows_removed = EXCLUDED.rows_removed,
    files_rewritten = EXCLUDED.files_rewritten;
