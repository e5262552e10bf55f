SELECT pg_advisory_unlock_shared(%(key)s)
