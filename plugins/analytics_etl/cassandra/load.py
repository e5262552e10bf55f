"""`load_day`: replace day D in the three Cassandra tables with the run's validated outputs.

A load of D leaves in Cassandra exactly the rows of the latest run of D (contract 5, Idempotence).
For each table, in this order:

1. the keys of the new output are read (its key columns only): `new`;
2. the keys earlier loads of the partition may have written are read back: `old` (the day's
   `page_view_stats` partition itself, or the table's key manifest of the day / week);
3. the manifest is made to list `old | new` before any row is written (one write per chunk of new
   keys, none when there is no new key);
4. the rows are upserted, streamed from Parquet in bounded batches;
5. the rows of `old - new` are deleted;
6. the manifest becomes exactly `new`.

Readers never see an empty day: new rows are in place before any stale one is deleted. A load killed
at any point leaves every row it may have written listed (in the partition or the manifest), so the
next load of the date deletes whatever it should not have left. No step writes anything per key
besides the rows themselves. See `manifest` and docs/cassandra.md for the reasoning.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from analytics_etl.cassandra.errors import SinkUnavailable
from analytics_etl.cassandra.manifest import bookkeeping, key_tuples, stale_keys
from analytics_etl.cassandra.outputs import iter_batches, output_keys
from analytics_etl.cassandra.schema import ensure_schema
from analytics_etl.cassandra.settings import CassandraSettings, keyspace_name, read_settings
from analytics_etl.cassandra.tables import SINKS, Sink
from analytics_etl.cassandra.writer import (
    TRANSIENT_ERRORS,
    Writer,
    cluster_hosts,
    describe_error,
    error_hosts,
    open_session,
)
from analytics_etl.settings import CASSANDRA_CONN_ID

if TYPE_CHECKING:
    from analytics_etl.paths import RunPaths

log = logging.getLogger(__name__)


def load_sink(writer: Writer, sink: Sink, directory: Path, date: dt.date) -> tuple[int, int]:
    """Load one output for day `date`; returns (rows written, stale rows deleted)."""
    partition = sink.partition_of(date)
    new = output_keys(sink, directory, writer.settings.batch_size)
    book = bookkeeping(writer, sink, partition)
    old = book.read()
    book.cover(new)  # from here on, every row this load may write is listed
    written = upsert(writer, sink, directory, partition)
    stale = stale_keys(old, new)
    delete(writer, sink, partition, stale)
    book.settle(new, stale.num_rows)
    log.info("%s %s: %d rows written, %d stale rows deleted", sink.table, partition, written, stale.num_rows)
    return written, stale.num_rows


def upsert(writer: Writer, sink: Sink, directory: Path, partition: dt.date) -> int:
    """Write every row of the output, one Parquet batch at a time; returns the rows written."""
    written = 0
    for batch in iter_batches(directory, sink.columns, writer.settings.batch_size):
        rows = sink.rows(batch.to_pylist(), partition)
        writer.write(sink.insert, rows, label=sink.table, refused=sink.refused)
        written += len(rows)
    return written


def delete(writer: Writer, sink: Sink, partition: dt.date, stale: pa.Table) -> None:
    """Delete the rows of the `stale` keys of the partition."""
    for keys in key_tuples(stale, writer.settings.batch_size):
        writer.write(sink.delete, [(partition, *key) for key in keys], label=f"{sink.table}_deleted")


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
    listen: Callable[[Any], None] | None = None,
) -> dict[str, int]:
    """Replace day `date` in Cassandra with the run's validated outputs.

    `listen(session)` is called before the first statement (the metrics' write-latency timer).

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
    with connected(conn_id, settings) as writer:
        if listen is not None:
            listen(writer.session)
        return load_outputs(writer, paths, date)


@contextmanager
def connected(
    conn_id: str = CASSANDRA_CONN_ID, settings: CassandraSettings | None = None
) -> Iterator[Writer]:
    """A `Writer` on the connection's cluster, its schema ensured; a transient error the driver and
    the retries could not get past becomes `SinkUnavailable`, naming the hosts and what was written."""
    settings = settings or read_settings()

    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    keyspace = keyspace_name(conn.schema)
    cluster, session = open_session(conn, settings)
    writer = Writer(session, settings, keyspace)
    try:
        ensure_schema(session, keyspace, settings.replication)
        yield writer
    except TRANSIENT_ERRORS as err:  # creating the schema or preparing a statement (the driver retried)
        hosts = error_hosts(err) or cluster_hosts(cluster)
        raise SinkUnavailable(hosts, writer.progress, None, describe_error(err)) from err
    finally:
        cluster.shutdown()
