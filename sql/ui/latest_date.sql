-- The latest date with a finished run: the page opens on what was processed, not on a scheduled
-- run still waiting for its drop.
SELECT max(date) AS date
FROM etl_runs
WHERE dag_id = %(dag_id)s AND status <> 'running'
