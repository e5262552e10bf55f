-- The runs of the dates that have files on disk: what decides which run of a date is kept.
SELECT run_id, date, dag_id, status, started_at, ended_at
FROM etl_runs
WHERE date = ANY(%(dates)s::date[])
ORDER BY date, started_at, run_id
