-- Contract 4.2: one row per user_id with at least one kept event.
CREATE TABLE user_engagement AS
WITH per_user AS (
    SELECT
        user_id,
        count(*) AS total_events,
        count(DISTINCT page) AS unique_pages,
        count(*) FILTER (WHERE event_type = 'session_start') AS session_count,
        coalesce(sum(duration_ms) FILTER (WHERE event_type = 'session_end'), 0) AS session_ms,
        count(*) FILTER (WHERE event_type = 'click') AS clicks
    FROM kept
    GROUP BY user_id
)
SELECT
    user_id,
    (SELECT day FROM run_params) AS date,
    total_events::BIGINT AS total_events,
    unique_pages::INTEGER AS unique_pages,
    session_count::INTEGER AS session_count,
    (session_ms // 60000)::INTEGER AS total_time_minutes,
    (total_events * 0.3 + unique_pages * 0.4 + clicks * 0.3)::DOUBLE AS engagement_score
FROM per_user;
