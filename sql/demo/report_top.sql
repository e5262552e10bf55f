SELECT daily_rank, name, total_time, lessons_completed, average_score
FROM daily_user_stats
WHERE date = %(date)s
ORDER BY daily_rank, name
LIMIT 10
