-- Every rejected row as the quarantine names it: file name, line or row number, reason.
SELECT f.name AS source_file, r.line_number, r.reason
FROM rejects AS r
JOIN files AS f USING (file_id)
ORDER BY f.name, r.line_number;
