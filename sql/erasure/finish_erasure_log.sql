-- The end of an erasure run: 'done', or 'failed' with the first failing task and its error.
UPDATE erasure_log SET
    erased_at = now(),
    status = %(status)s,
    failed_task = CASE WHEN %(status)s = 'done' THEN NULL ELSE COALESCE(failed_task, %(failed_task)s) END,
    error = CASE WHEN %(status)s = 'done' THEN NULL ELSE COALESCE(error, %(error)s) END
WHERE run_id = %(run_id)s;
