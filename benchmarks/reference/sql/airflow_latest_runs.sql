-- The newest runs of a DAG in the Airflow metadata database (SQLite), to find the one day.py started.
SELECT run_id, state, start_date, end_date
FROM dag_run
WHERE dag_id = ?
ORDER BY id DESC
LIMIT 5
