"""The Cassandra sink: writes day D's three curated outputs to the keyspace of contract 4.2.

Where things are (docs/cassandra.md explains the why):

- `settings`: the Airflow connection and variables, parsed and validated when the task runs;
- `schema`: the statements of `cql/`, rendered for a keyspace, and `ensure_schema`;
- `convert`: one Parquet row -> the values bound to an insert (and what Cassandra would refuse);
- `tables`: the three tables: columns, keys, the partition a load of D replaces, statement names;
- `outputs`: the run's Parquet outputs read in bounded batches;
- `manifest`: the stale-key bookkeeping (which keys an earlier load wrote that the new output lacks);
- `writer`: the only module that talks to the driver;
- `load`: `load_day`, the order of operations that makes a load idempotent.

`analytics_etl.load_cassandra` is the facade the DAG's tasks call.
"""
