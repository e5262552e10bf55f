INSERT INTO retention_log (
    retention_run_id, action, reason, date, run_key, run_id, run_status, kind, files, bytes, paths, error
) VALUES (
    %(retention_run_id)s, %(action)s, %(reason)s, %(date)s, %(run_key)s, %(run_id)s, %(run_status)s,
    %(kind)s, %(files)s, %(bytes)s, %(paths)s, %(error)s
)
