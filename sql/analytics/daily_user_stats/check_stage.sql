-- Every staged row must belong to the day being replaced.
SELECT count(*) FILTER (WHERE date <> %(date)s::date) AS foreign_rows, count(*) AS total_rows
FROM daily_user_stats_stage
