"""PySpark code of the platform: `transforms/` holds pure DataFrame -> DataFrame functions, `io` and
`session` the little I/O the entry points in `spark_jobs/*.py` need."""
