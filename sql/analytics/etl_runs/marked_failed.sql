-- A run marked failed by hand (UI or REST API): its tasks were stopped without their failure
-- callbacks, so its record is ended here. Only while still 'running'; the day it processed is returned
-- for the mail.
UPDATE etl_runs SET
    ended_at = now(),
    status = 'failed',
    error = COALESCE(error, %(error)s)
WHERE run_id = %(run_id)s AND status = 'running'
RETURNING date
