-- Rows written per sink accumulate as each load finishes: {"daily_user_stats": 1234, ...}.
UPDATE etl_runs SET rows_written = rows_written || %(written)s::jsonb
WHERE run_id = %(run_id)s AND date = %(date)s
