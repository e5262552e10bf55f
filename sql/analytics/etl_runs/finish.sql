-- The end of a run. A failure keeps the first failing task: later callbacks do not overwrite it.
UPDATE etl_runs SET
    ended_at = now(),
    status = %(status)s,
    failed_task = COALESCE(failed_task, %(failed_task)s),
    error = COALESCE(error, %(error)s)
WHERE run_id = %(run_id)s AND date = %(date)s
