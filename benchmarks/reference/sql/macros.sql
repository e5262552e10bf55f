-- A CSV field's value: unquoted, doubled quotes undone; empty is absent.
CREATE MACRO csv_value(f) AS
    CASE WHEN f IS NULL OR f = '' THEN NULL
         WHEN starts_with(f, '"') THEN replace(f[2:-2], '""', '"')
         ELSE f END;
-- Whether a character code is whitespace (tab, line feed, vertical tab, form feed, carriage return,
-- space). Not an IN list: DuckDB plans a long IN list as a join.
CREATE MACRO ws(c) AS c = 32 OR c BETWEEN 9 AND 13;
-- Whitespace only (or empty). Only a value that starts with whitespace is trimmed: trim is slow.
CREATE MACRO blank(v) AS
    CASE WHEN v = '' THEN true
         WHEN ws(ascii(v)) THEN trim(v, chr(32) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)) = ''
         ELSE false END;
-- Present: not absent, not empty, not whitespace only.
CREATE MACRO present(v) AS v IS NOT NULL AND NOT blank(v);
-- Trimmed of whitespace; only a value that starts or ends with whitespace is trimmed.
CREATE MACRO trim_ws(v) AS
    CASE WHEN ws(ascii(v)) OR ws(ascii(v[-1:]))
         THEN trim(v, chr(32) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13))
         ELSE v END;
-- A UUID in its hyphenated form (8-4-4-4-12 hex digits, any case); the cast alone also takes braces
-- and the form without hyphens.
CREATE MACRO hyphenated_uuid(v) AS
    strlen(v) = 36 AND v[9] = '-' AND v[14] = '-' AND v[19] = '-' AND v[24] = '-'
    AND try_cast(v AS UUID) IS NOT NULL;
