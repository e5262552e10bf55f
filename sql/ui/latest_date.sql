SELECT max(date) AS date
FROM etl_runs
WHERE dag_id = %(dag_id)s
