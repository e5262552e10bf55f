UPDATE etl_runs SET
    validation_success = %(success)s, validation_result = %(result_path)s, data_docs = %(data_docs)s
WHERE run_id = %(run_id)s AND date = %(date)s
