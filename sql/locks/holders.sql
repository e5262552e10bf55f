-- Who holds the advisory lock of a 64-bit key (to name them in an error): a bigint key is stored in
-- pg_locks as classid (its high 32 bits), objid (its low 32 bits) and objsubid 1.
SELECT l.pid, a.application_name, l.mode
FROM pg_locks AS l
JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory'
  AND l.granted
  AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid::bigint = %(high)s
  AND l.objid::bigint = %(low)s
  AND l.pid <> pg_backend_pid()
ORDER BY l.pid
