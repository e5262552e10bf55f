-- The latest run of each date in [start, end]: the one whose files and rows are current.
SELECT DISTINCT ON (date)
       date, run_id, status, rows_read, rows_kept, rows_rejected, validation_success, started_at, ended_at
FROM etl_runs
WHERE dag_id = %(dag_id)s AND date BETWEEN %(start)s AND %(end)s
ORDER BY date, started_at DESC
