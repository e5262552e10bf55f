COPY daily_user_stats_stage (date, user_id, name, email, total_time, lessons_completed, average_score, daily_rank)
FROM STDIN WITH (FORMAT csv, HEADER true)
