-- A private copy of the table's shape for the incoming rows of one day; gone at commit.
CREATE TEMP TABLE daily_user_stats_stage (LIKE daily_user_stats INCLUDING DEFAULTS) ON COMMIT DROP
