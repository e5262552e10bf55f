-- One step's removals, added as they are made: counts summed per key (a text value, such as
-- "not configured", replaces), files appended once each.
UPDATE erasure_log SET
    rows_removed = (
        SELECT COALESCE(jsonb_object_agg(
            key,
            CASE WHEN jsonb_typeof(a.value) = 'number' AND jsonb_typeof(b.value) = 'number'
                 THEN to_jsonb(a.value::text::numeric + b.value::text::numeric)
                 ELSE COALESCE(b.value, a.value) END
        ), '{}'::jsonb)
        FROM jsonb_each(erasure_log.rows_removed) AS a
        FULL JOIN jsonb_each(%(rows_removed)s::jsonb) AS b USING (key)
    ),
    files_rewritten = (
        SELECT COALESCE(jsonb_agg(DISTINCT f ORDER BY f), '[]'::jsonb)
        FROM jsonb_array_elements(erasure_log.files_rewritten || %(files_rewritten)s::jsonb) AS f
    ),
    files_removed = erasure_log.files_removed || %(files_removed)s::jsonb
WHERE run_id = %(run_id)s;
