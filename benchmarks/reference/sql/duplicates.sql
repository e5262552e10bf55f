-- The duplicate rule over the rows that passed every other rule: per event_id the earliest instant is
-- kept, ties to the first file in name order (code points), then the first line. `rejects` lists
-- every rejected row with its reason.
CREATE TABLE events AS
SELECT
    j.* EXCLUDE (reason),
    row_number() OVER (PARTITION BY j.event_id ORDER BY j.ts, f.name, j.line_number) > 1 AS is_duplicate
FROM judged AS j
JOIN files AS f USING (file_id)
WHERE j.reason IS NULL;

CREATE TABLE rejects AS
SELECT file_id, line_number, reason FROM judged WHERE reason IS NOT NULL
UNION ALL
SELECT file_id, line_number, 'duplicate' FROM events WHERE is_duplicate;

CREATE VIEW kept AS SELECT * EXCLUDE (is_duplicate) FROM events WHERE NOT is_duplicate;
