-- Every task instance of one DAG run: ids are discovered, never assumed.
SELECT task_id, map_index, state, try_number, start_date, end_date
FROM task_instance
WHERE dag_id = ? AND run_id = ?
ORDER BY start_date, task_id, map_index
