-- A Parquet file (the view `parquet_source`, read with file_row_number) into the common columns. The
-- expressions come from the file's schema (reference/engine.py, PARQUET_EXPRESSIONS): a column that is
-- absent is NULL, `properties` a struct or a string-keyed map (anything else makes every row with a
-- value malformed), `timestamp` text, a UTC-adjusted timestamp (an instant) or a timestamp without
-- zone (invalid_timestamp). Values of other types are taken as their text.
CREATE OR REPLACE TEMP VIEW parsed AS
SELECT
    file_row_number + 1 AS line_number,
    {malformed} AS malformed,
    {event_id} AS event_id, {event_type} AS event_type, {user_id} AS user_id,
    {ts_text} AS ts_text, {ts_instant} AS ts_instant, {ts_no_zone} AS ts_no_zone,
    {page} AS page, {duration_text} AS duration_text, {device} AS device
FROM parquet_source;
