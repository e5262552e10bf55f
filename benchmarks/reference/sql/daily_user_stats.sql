-- Contract 4.1: progress rows of D whose user is in users (inner join); the average score rounded
-- half up to 2 places, exactly (the scores arrive as whole cents).
CREATE TABLE daily_user_stats AS
WITH per_user AS (
    SELECT
        p.user_id,
        sum(p.time_spent_minutes) AS total_time,
        count(*) AS lessons_completed,
        sum(p.score_cents) AS score_cents,
        count(p.score_cents) AS scores
    FROM progress AS p
    WHERE p.date = (SELECT day FROM run_params)
    GROUP BY p.user_id
)
SELECT
    (SELECT day FROM run_params) AS date,
    s.user_id,
    u.name,
    u.email,
    s.total_time::BIGINT AS total_time,
    s.lessons_completed::INTEGER AS lessons_completed,
    CASE WHEN s.scores > 0
         THEN ((2 * s.score_cents + s.scores) // (2 * s.scores))::DECIMAL(18, 0) / 100 END::DECIMAL(5, 2) AS average_score,
    dense_rank() OVER (ORDER BY s.total_time DESC)::INTEGER AS daily_rank
FROM per_user AS s
JOIN users AS u ON u.id = s.user_id;
