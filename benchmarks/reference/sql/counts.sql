-- Rows read per file, and the run-record figures.
SELECT f.name, f.format, count(j.file_id) AS rows_read
FROM files AS f
LEFT JOIN judged AS j USING (file_id)
GROUP BY f.name, f.format
ORDER BY f.name;
