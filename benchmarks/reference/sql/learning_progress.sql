-- Contract 4.2: every progress row of D's ISO week, all users (no join), per (user_id, subject).
CREATE TABLE learning_progress AS
SELECT
    user_id,
    subject,
    (SELECT week_start FROM run_params) AS week_start,
    count(*)::INTEGER AS lessons_completed,
    sum(time_spent_minutes)::INTEGER AS time_spent_minutes,
    avg(score_cents) / 100.0 AS average_score
FROM progress
WHERE date BETWEEN (SELECT week_start FROM run_params) AND (SELECT week_end FROM run_params)
GROUP BY user_id, subject;
