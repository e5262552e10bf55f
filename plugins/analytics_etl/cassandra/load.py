"""`load_day`: replace day D in the three Cassandra tables with the run's validated outputs.

A load of D leaves in Cassandra exactly the rows of the latest run of D (contract 5, Idempotence):

1. the schema is created if missing (`CREATE ... IF NOT EXISTS` from `cql/`), then schema agreement
   is awaited;
2. each output is streamed from its Parquet directory in bounded batches; every batch first records
   its keys in the table's load manifest, then upserts its rows;
3. the keys an earlier load of the same partition wrote (the day's `page_view_stats` partition, or the
   manifest of the day / week) are read back, the ones the new output lacks are deleted from the
   table and then from the manifest.

See docs/cassandra.md for the reasoning and the limits.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from analytics_etl.cassandra.manifest import key_tuples, keys_table, stale_keys
from analytics_etl.cassandra.outputs import iter_batches
from analytics_etl.cassandra.schema import ensure_schema
from analytics_etl.cassandra.settings import CassandraSettings, keyspace_name, read_settings
from analytics_etl.cassandra.tables import SINKS, Sink
from analytics_etl.cassandra.writer import Writer
from analytics_etl.settings import CASSANDRA_CONN_ID

if TYPE_CHECKING:
    from analytics_etl.paths import RunPaths

log = logging.getLogger(__name__)


def load_sink(writer: Writer, sink: Sink, directory: Path, date: dt.date) -> tuple[int, int]:
    """Load one output for day `date`; returns (rows written, stale rows deleted)."""
    partition = sink.partition_of(date)
    batch_size = writer.settings.batch_size
    written = 0
    key_chunks: list[pa.Table] = []
    for batch in iter_batches(directory, sink.columns, batch_size):
        rows = [sink.convert(row, partition) for row in batch.to_pylist()]
        keys = [sink.key(row) for row in rows]
        if sink.manifest_insert:  # record the keys before the rows: a killed load leaves none unlisted
            writer.execute_many(sink.manifest_insert, [(partition, *key) for key in keys])
        writer.execute_many(sink.insert, rows)
        key_chunks.append(keys_table(sink.key_columns, keys))
        written += len(rows)
    current = pa.concat_tables(key_chunks) if key_chunks else keys_table(sink.key_columns, [])
    previous = writer.read_keys(sink.select_keys, partition, sink.key_columns)
    stale = stale_keys(previous, current)
    for keys in key_tuples(stale, batch_size):
        params = [(partition, *key) for key in keys]
        writer.execute_many(sink.delete, params)
        if sink.manifest_delete:  # only once the rows are gone
            writer.execute_many(sink.manifest_delete, params)
    log.info("%s %s: %d rows written, %d stale rows deleted", sink.table, partition, written, stale.num_rows)
    return written, stale.num_rows


def load_outputs(
    session: Any, keyspace: str, paths: RunPaths, date: dt.date, settings: CassandraSettings
) -> dict[str, int]:
    """Load the three outputs of a run into an existing schema; see `load_day`."""
    writer = Writer(session, settings, keyspace_name(keyspace))
    counts: dict[str, int] = {}
    for sink in SINKS:
        written, deleted = load_sink(writer, sink, paths.output(sink.table), date)
        counts[sink.table] = written
        counts[f"{sink.table}_deleted"] = deleted
    return counts


def load_day(
    paths: RunPaths,
    date: dt.date,
    *,
    conn_id: str = CASSANDRA_CONN_ID,
    settings: CassandraSettings | None = None,
) -> dict[str, int]:
    """Replace day `date` in Cassandra with the run's validated outputs.

    Returns rows written per table (`page_view_stats`, `user_engagement`, `learning_progress`) and
    stale rows deleted (`<table>_deleted`). Settings come from the Airflow variables when not given.
    """
    if paths.date != date:
        raise ValueError(f"the run's paths are for {paths.date}, not {date}")
    for sink in SINKS:
        if not paths.output(sink.table).is_dir():
            raise FileNotFoundError(f"output {sink.table} of the run is missing: {paths.output(sink.table)}")
    settings = settings or read_settings()

    from airflow.providers.apache.cassandra.hooks.cassandra import CassandraHook

    hook = CassandraHook(cassandra_conn_id=conn_id)
    keyspace = keyspace_name(hook.keyspace)
    # The hook's session would `USE` the connection's keyspace, which does not exist before the first
    # load: connect without one; every statement names its keyspace.
    hook.keyspace = None
    try:
        session = hook.get_conn()
        ensure_schema(session, keyspace, settings.replication)
        return load_outputs(session, keyspace, paths, date, settings)
    finally:
        hook.shutdown_cluster()
