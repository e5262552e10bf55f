-- A run of a date begins (or begins again after a clear): its record starts afresh.
INSERT INTO etl_runs (run_id, date, dag_id, started_at, status)
VALUES (%(run_id)s, %(date)s, %(dag_id)s, now(), 'running')
ON CONFLICT (run_id, date) DO UPDATE SET
    started_at = now(), ended_at = NULL, status = 'running', failed_task = NULL, error = NULL,
    rows_read = NULL, rows_kept = NULL, rows_rejected = NULL, rejected_by_reason = '{}'::jsonb,
    orphan_user = NULL, rows_written = '{}'::jsonb, validation_success = NULL,
    validation_result = NULL, data_docs = NULL, cassandra_status = NULL
