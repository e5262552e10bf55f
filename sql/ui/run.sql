SELECT run_id, date, dag_id, started_at, ended_at, status, failed_task, error, rows_read, rows_kept,
       rows_rejected, rejected_by_reason, orphan_user, rows_written, validation_success,
       validation_result, data_docs, cassandra_status
FROM etl_runs
WHERE run_id = %(run_id)s
ORDER BY started_at DESC
LIMIT 1
