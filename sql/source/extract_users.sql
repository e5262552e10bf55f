-- Every user: the join of daily_user_stats and the orphan_user count of the event ingest need them all.
-- Read through COPY (psycopg2 copy_expert), so memory does not grow with the number of users.
COPY (
    SELECT id, name, email, country, created_at
    FROM users
) TO STDOUT WITH (FORMAT csv, HEADER true)
