-- A retried retention task re-derives what it would delete or refuses: its earlier rows of those go.
-- Rows of files it deleted stay: they happened.
DELETE FROM retention_log
WHERE retention_run_id = %(retention_run_id)s AND action <> 'deleted'
