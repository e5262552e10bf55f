-- The other runs of the date whose record still says 'running': Airflow decides whether they are.
SELECT run_id, dag_id
FROM etl_runs
WHERE date = %(date)s AND status = 'running' AND run_id <> %(run_id)s
ORDER BY started_at, run_id
