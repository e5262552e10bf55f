"""The daily analytics ETL platform: everything the DAG in `dags/` wires together.

Modules, in the order a run uses them:
  settings      connection ids and variables (the only source of deployment settings)
  dates         which calendar day a run processes, and validation of a requested date
  paths         where each file of a run lives under `etl_data_dir`
  run_record    the `etl_runs` table
  extract       source PostgreSQL -> Parquet, with bounded memory
  ingest        the file drop's reject report and the reject-ratio guard
  quality       the Great Expectations gate over every output
  load_postgres replaces a day of `daily_user_stats` atomically
  load_cassandra replaces a day in the Cassandra tables
  sql           reads the statements kept in `sql/` and `cql/`
"""
