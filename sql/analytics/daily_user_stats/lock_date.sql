-- Serialise concurrent loads of the same date (different dates never wait for each other).
SELECT pg_advisory_xact_lock(hashtext('daily_user_stats'), (%(date)s::date - DATE '2000-01-01'))
