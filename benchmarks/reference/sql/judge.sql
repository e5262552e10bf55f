-- Contract section 3, in the table's order, for the rows of one file (view `parsed`); the duplicate
-- rule comes later (duplicates.sql). Timestamps: YYYY-MM-DDTHH:MM[:SS[.f{1,9}]] then Z, ±hh:mm, ±hhmm
-- or ±hh; a real date, hours 00-23, an offset of at most 18:00; fractions are cut to microseconds.
-- The form is checked by a pattern; DuckDB's cast then gives the instant (a date like Feb 30 gives
-- NULL), and the forms it does not read (no seconds) are put together from their parts.
INSERT INTO judged
WITH fast AS (
    SELECT
        *,
        regexp_full_match(
            ts_text,
            '\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]((0\d|1[0-7])(:?[0-5]\d)?|18(:?00)?))'
        ) AS ts_form_ok,
        trim_ws(user_id) AS user_id_trimmed
    FROM parsed
), t AS (
    SELECT
        *,
        CASE WHEN ts_form_ok THEN timezone('UTC', try_cast(ts_text AS TIMESTAMPTZ)) END AS ts_cast,
    FROM fast
), slow AS (  -- the forms DuckDB's cast does not take (no seconds): the parts, put together again
    SELECT
        *,
        CASE WHEN ts_form_ok AND ts_cast IS NULL THEN regexp_extract(
            ts_text,
            '^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?)$',
            ['day', 'hh', 'mi', 'ss', 'frac', 'z', 'sign', 'oh', 'om']
        ) END AS p
    FROM t
), instants AS (
    SELECT
        *,
        coalesce(
            ts_instant,
            ts_cast,
            try_cast(p.day || ' ' || p.hh || ':' || p.mi || ':' || coalesce(nullif(p.ss, ''), '00') || '.'
                     || rpad(p.frac[1:6], 6, '0') AS TIMESTAMP)
                - to_minutes(CASE p.sign WHEN '-' THEN -1 ELSE 1 END
                             * (coalesce(try_cast(nullif(p.oh, '') AS INTEGER), 0) * 60
                                + coalesce(try_cast(nullif(p.om, '') AS INTEGER), 0)))
        ) AS instant
    FROM slow
), reasons AS (
    SELECT
        *,
        CASE
            WHEN malformed THEN 'malformed'
            WHEN NOT (present(event_id) AND present(event_type) AND present(user_id)
                      AND (present(ts_text) OR ts_instant IS NOT NULL OR ts_no_zone)) THEN 'missing_field'
            WHEN (event_type = 'page_view' OR event_type = 'click') AND NOT present(page) THEN 'missing_field'
            WHEN NOT (event_type = 'page_view' OR event_type = 'click' OR event_type = 'session_start'
                      OR event_type = 'session_end') THEN 'invalid_event_type'
            WHEN ts_no_zone OR instant IS NULL THEN 'invalid_timestamp'
            WHEN present(duration_text)
                 AND NOT (regexp_full_match(duration_text, '[0-9]+') AND try_cast(duration_text AS BIGINT) IS NOT NULL)
                THEN 'invalid_value'
            WHEN NOT hyphenated_uuid(user_id_trimmed) THEN 'invalid_value'
            WHEN present(page) AND strlen(page) > 2048 THEN 'invalid_value'
            WHEN instant < (SELECT day FROM run_params)
                 OR instant >= (SELECT day FROM run_params) + INTERVAL 1 DAY THEN 'out_of_window'
        END AS reason
    FROM instants
)
SELECT
    (SELECT file_id FROM file_params),
    line_number,
    reason,
    CASE WHEN reason IS NULL THEN event_id END,
    CASE WHEN reason IS NULL THEN event_type END,
    CASE WHEN reason IS NULL THEN lower(user_id_trimmed) END,
    CASE WHEN reason IS NULL THEN instant END,
    CASE WHEN reason IS NULL AND present(page) THEN page END,
    CASE WHEN reason IS NULL AND present(duration_text) THEN duration_text::BIGINT END,
    CASE WHEN reason IS NULL AND present(device) THEN device END
FROM reasons;
