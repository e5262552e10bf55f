-- CSV (the table `lines`, load_lines.sql): the first physical line is the header (checked in Python,
-- `file_params.header_ok`); every other physical line that is not whitespace only is a row numbered
-- physical line - 1. A row is malformed unless it is exactly 7 RFC 4180 fields (a field that starts
-- with a quote is quoted to its end, quotes doubled inside), or when the header is not the contract's.
-- An empty field is an absent value. The pattern is anchored: when it does not match, `line` is ''.
CREATE OR REPLACE TEMP VIEW parsed AS
WITH fields AS (
    SELECT
        line_number - 1 AS line_number,
        regexp_extract(
            line,
            $csv$^(("(?:[^"]|"")*"|[^,"][^,]*|),("(?:[^"]|"")*"|[^,"][^,]*|),("(?:[^"]|"")*"|[^,"][^,]*|),("(?:[^"]|"")*"|[^,"][^,]*|),("(?:[^"]|"")*"|[^,"][^,]*|),("(?:[^"]|"")*"|[^,"][^,]*|),("(?:[^"]|"")*"|[^,"][^,]*|))$$csv$,
            ['line', 'event_id', 'event_type', 'user_id', 'ts', 'page', 'duration_ms', 'device']
        ) AS f
    FROM lines
    WHERE line_number > 1 AND NOT blank(line)
)
SELECT
    line_number,
    f.line = '' OR NOT (SELECT header_ok FROM file_params) AS malformed,
    csv_value(f.event_id) AS event_id, csv_value(f.event_type) AS event_type, csv_value(f.user_id) AS user_id,
    csv_value(f.ts) AS ts_text, NULL::TIMESTAMP AS ts_instant, false AS ts_no_zone,
    csv_value(f.page) AS page, csv_value(f.duration_ms) AS duration_text, csv_value(f.device) AS device
FROM fields;
