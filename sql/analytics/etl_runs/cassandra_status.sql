UPDATE etl_runs SET cassandra_status = %(status)s
WHERE run_id = %(run_id)s AND date = %(date)s
