-- One migrator at a time (two runs starting together both call migrate()).
SELECT pg_advisory_xact_lock(hashtext('analytics_etl.schema_migrations'))
