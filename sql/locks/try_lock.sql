-- Exclusive, without waiting (run_lock.no_writer polls it until its deadline): true when taken.
SELECT pg_try_advisory_lock(%(key)s)
