UPDATE etl_runs SET
    rows_read = %(rows_read)s, rows_kept = %(rows_kept)s, rows_rejected = %(rows_rejected)s,
    rejected_by_reason = %(rejected_by_reason)s::jsonb, orphan_user = %(orphan_user)s
WHERE run_id = %(run_id)s AND date = %(date)s
