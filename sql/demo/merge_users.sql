-- A user's generated attributes depend on the seed only, except created_at, which lies before the
-- Monday of the generated day's week: the earliest one is kept, so it precedes every week generated.
INSERT INTO users (id, name, email, country, created_at)
SELECT id, name, email, country, created_at FROM users_generated
ON CONFLICT (id) DO UPDATE
SET name = EXCLUDED.name, email = EXCLUDED.email, country = EXCLUDED.country,
    created_at = LEAST(users.created_at, EXCLUDED.created_at)
