-- The end of a run. A failure keeps the first failing task (later callbacks do not overwrite it);
-- a success clears what an earlier failed attempt of the same run left (a cleared task re-run).
UPDATE etl_runs SET
    ended_at = now(),
    status = %(status)s,
    failed_task = CASE WHEN %(status)s = 'success' THEN NULL ELSE COALESCE(failed_task, %(failed_task)s) END,
    error = CASE WHEN %(status)s = 'success' THEN NULL ELSE COALESCE(error, %(error)s) END
WHERE run_id = %(run_id)s AND date = %(date)s
