-- Every day of one user (the ranking of the other users of those days is left as it was: a rank
-- is the user's position that day, and renumbering would rewrite other users' history).
DELETE FROM daily_user_stats WHERE user_id = %(user_id)s;
