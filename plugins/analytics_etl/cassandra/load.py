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
from typing import TYPE_CHECKING

import pyarrow as pa

from analytics_etl.cassandra.errors import SinkUnavailable
from analytics_etl.cassandra.manifest import key_tuples, keys_table, stale_keys
from analytics_etl.cassandra.outputs import iter_batches
from analytics_etl.cassandra.schema import ensure_schema
from analytics_etl.cassandra.settings import CassandraSettings, keyspace_name, read_settings
from analytics_etl.cassandra.tables import SINKS, Sink
from analytics_etl.cassandra.writer import (
    TRANSIENT_ERRORS,
    Writer,
    cluster_for,
    cluster_hosts,
    describe_error,
    error_hosts,
)
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
        rows = sink.rows(batch.to_pylist(), partition)
        keys = [sink.key(row) for row in rows]
        if sink.manifest_insert:  # record the keys before the rows: a killed load leaves none unlisted
            writer.write(sink.manifest_insert, [(partition, *key) for key in keys])
        writer.write(sink.insert, rows, label=sink.table, refused=sink.refused)
        key_chunks.append(keys_table(sink.key_columns, keys))
        written += len(rows)
    current = pa.concat_tables(key_chunks) if key_chunks else keys_table(sink.key_columns, [])
    previous = writer.read(
        sink.select_keys,
        (partition,),
        lambda rows: keys_table(sink.key_columns, rows),
        fetch_size=batch_size,
    )
    stale = stale_keys(previous, current)
    for keys in key_tuples(stale, batch_size):
        params = [(partition, *key) for key in keys]
        writer.write(sink.delete, params, label=f"{sink.table}_deleted")
        if sink.manifest_delete:  # only once the rows are gone
            writer.write(sink.manifest_delete, params)
    log.info("%s %s: %d rows written, %d stale rows deleted", sink.table, partition, written, stale.num_rows)
    return written, stale.num_rows


def load_outputs(writer: Writer, paths: RunPaths, date: dt.date) -> dict[str, int]:
    """Load the three outputs of a run into an existing schema; see `load_day`."""
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

    Raises `SinkRefusedRow` (a ValueError) for a row Cassandra refuses: retrying cannot help; and
    `SinkUnavailable` (a RuntimeError) when Cassandra still fails with transient errors after the
    bounded retries, naming the hosts and what was written so far.
    """
    if paths.date != date:
        raise ValueError(f"the run's paths are for {paths.date}, not {date}")
    for sink in SINKS:
        if not paths.output(sink.table).is_dir():
            raise FileNotFoundError(f"output {sink.table} of the run is missing: {paths.output(sink.table)}")
    settings = settings or read_settings()

    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    keyspace = keyspace_name(conn.schema)
    cluster = cluster_for(conn, settings)
    try:
        # No keyspace to `USE`: it does not exist before the first load; every statement names it.
        session = cluster.connect()
        ensure_schema(session, keyspace, settings.replication)
        return load_outputs(Writer(session, settings, keyspace), paths, date)
    except TRANSIENT_ERRORS as err:  # connecting or creating the schema; the writer names its own
        raise SinkUnavailable(
            error_hosts(err) or cluster_hosts(cluster), {}, None, describe_error(err)
        ) from err
    finally:
        cluster.shutdown()
