-- Contract 4.2: kept page_view events per UTC hour and page.
CREATE TABLE page_view_stats AS
SELECT (SELECT day FROM run_params) AS date, hour(ts)::INTEGER AS hour, page, count(*) AS view_count
FROM kept
WHERE event_type = 'page_view'
GROUP BY hour(ts), page;
