-- Kept events whose user_id (lower case) is no users.id.
SELECT count(*) FROM kept AS k WHERE NOT EXISTS (SELECT 1 FROM users AS u WHERE u.id = k.user_id);
