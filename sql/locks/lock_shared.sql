-- A run's writer: shared, held for the session (run_lock.writing); many writers of a run at once.
SELECT pg_advisory_lock_shared(%(key)s)
