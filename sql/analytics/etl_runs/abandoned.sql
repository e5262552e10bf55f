-- A run Airflow no longer runs (killed, failed, marked failed by hand) that never recorded its end:
-- failed from now on, so retention treats it as the failed run it is. Only while still 'running'.
UPDATE etl_runs SET
    ended_at = now(),
    status = 'failed',
    error = COALESCE(error, %(error)s)
WHERE run_id = %(run_id)s AND date = %(date)s AND status = 'running'
