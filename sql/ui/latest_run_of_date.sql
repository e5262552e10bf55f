SELECT run_id, started_at
FROM etl_runs
WHERE date = %(date)s
ORDER BY started_at DESC
LIMIT 1
