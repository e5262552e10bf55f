-- Exclusive, waiting as long as it takes (run_lock.site_lock: the data docs site's rebuilds).
SELECT pg_advisory_lock(%(key)s)
