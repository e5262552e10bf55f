COPY (
    SELECT user_id::text, subject, date, time_spent_minutes, (score * 100)::bigint
    FROM progress
    WHERE date BETWEEN %(week_start)s AND %(week_end)s
) TO STDOUT WITH (FORMAT csv)
