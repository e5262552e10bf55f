-- Every progress row of the ISO week (Monday..Sunday) holding the processed day: learning_progress
-- needs the whole week, daily_user_stats filters the day out of it. The bounds are literals rendered
-- by psycopg2's mogrify (COPY takes no bind parameters): %(week_start)s and %(week_end)s, inclusive.
COPY (
    SELECT id, user_id, lesson_id, subject, date, time_spent_minutes, score, completed_at
    FROM progress
    WHERE date BETWEEN %(week_start)s AND %(week_end)s
) TO STDOUT WITH (FORMAT csv, HEADER true)
