-- Swap the day's rows inside the caller's transaction: readers see the old or the new day, never
-- a mix and never none (MVCC), and the rows of other days are not touched.
DELETE FROM daily_user_stats WHERE date = %(date)s::date;
INSERT INTO daily_user_stats (date, user_id, name, email, total_time, lessons_completed, average_score, daily_rank)
SELECT date, user_id, name, email, total_time, lessons_completed, average_score, daily_rank
FROM daily_user_stats_stage;
