-- JSON lines (the table `lines`, load_lines.sql) into the common columns. A row is one physical line that
-- is not whitespace only; it is malformed unless it is exactly one JSON object whose `properties` is
-- an object, null or absent. A scalar that is not a string is taken as its JSON text.
CREATE OR REPLACE TEMP VIEW parsed AS
WITH rows AS (
    SELECT line_number, line, CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END AS is_object
    FROM lines
    WHERE NOT blank(line)
), fields AS (
    SELECT
        line_number,
        is_object,
        CASE WHEN is_object THEN json_type(line, '$.properties') END AS properties_type,
        CASE WHEN is_object THEN json_extract_string(line, [
            '$.event_id', '$.event_type', '$.user_id', '$.timestamp',
            '$.properties.page', '$.properties.duration_ms', '$.properties.device'
        ]) END AS v
    FROM rows
)
SELECT
    line_number,
    NOT is_object OR coalesce(properties_type NOT IN ('OBJECT', 'NULL'), false) AS malformed,
    v[1] AS event_id, v[2] AS event_type, v[3] AS user_id,
    v[4] AS ts_text, NULL::TIMESTAMP AS ts_instant, false AS ts_no_zone,
    v[5] AS page, v[6] AS duration_text, v[7] AS device
FROM fields;
