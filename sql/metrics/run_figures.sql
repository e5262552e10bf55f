-- One run's record, and when each sink last received the date (freshness): the latest end of a run
-- of the date that wrote it (rows_written names the sink once its load committed), and the end of
-- the date's latest successful run. Read by the run-end metrics push (plugins/analytics_etl/metrics).
SELECT r.run_id, r.date, r.started_at, r.ended_at, r.status, r.failed_task, r.rows_read, r.rows_kept,
       r.rows_rejected, r.rejected_by_reason, r.orphan_user, r.rows_written, r.validation_success,
       r.validation_result, r.cassandra_status,
       f.last_success, f.daily_user_stats_loaded, f.cassandra_loaded
FROM etl_runs r
CROSS JOIN (
    SELECT max(ended_at) FILTER (WHERE status = 'success') AS last_success,
           max(ended_at) FILTER (WHERE rows_written ? 'daily_user_stats') AS daily_user_stats_loaded,
           max(ended_at) FILTER (WHERE rows_written ? 'cassandra') AS cassandra_loaded
    FROM etl_runs
    WHERE date = %(date)s AND ended_at IS NOT NULL
) f
WHERE r.run_id = %(run_id)s AND r.date = %(date)s
