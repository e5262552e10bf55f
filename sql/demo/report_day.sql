SELECT count(*) FROM daily_user_stats WHERE date = %(date)s
