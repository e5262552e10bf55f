"""Throughput of the Cassandra sink: loads N generated rows per table and prints rows/second.

    source scripts/env.sh
    CASSANDRA_HOST=cass1.example:9042 python benchmarks/cassandra_load.py --rows 1000000

It runs the production code path (`load_day`: the provider's CassandraHook, schema creation,
streaming from Parquet, prepared statements, bounded concurrency, stale-key cleanup) against a
throwaway keyspace that is dropped at the end (unless --keep). Two loads are timed: the first one
into empty tables, and a rerun of the same day whose output lost a tenth of its keys, which also
pays for reading the previous keys back and deleting the stale ones.

CASSANDRA_USERNAME / CASSANDRA_PASSWORD are used when set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from analytics_etl.cassandra import convert, load, schema
from analytics_etl.cassandra import settings as cs
from analytics_etl.paths import RunPaths

DAY = dt.date(2024, 1, 17)
CHUNK = 50_000  # rows generated and written to Parquet at a time: memory stays bounded for any N


def _page_view_stats(start: int, stop: int, keep: Callable[[int], bool]) -> pa.Table:
    idx = [i for i in range(start, stop) if keep(i)]
    return pa.table(
        {
            "date": pa.array([DAY] * len(idx), pa.date32()),
            "hour": pa.array([i % 24 for i in idx], pa.int32()),
            "page": [f"/page/{i // 24}" for i in idx],
            "view_count": pa.array([1 + i % 50 for i in idx], pa.int64()),
        }
    )


def _user_engagement(start: int, stop: int, keep: Callable[[int], bool]) -> pa.Table:
    idx = [i for i in range(start, stop) if keep(i)]
    return pa.table(
        {
            "user_id": [str(uuid.UUID(int=i + 1)) for i in idx],
            "date": pa.array([DAY] * len(idx), pa.date32()),
            "total_events": pa.array([1 + i % 200 for i in idx], pa.int64()),
            "unique_pages": pa.array([i % 30 for i in idx], pa.int32()),
            "session_count": pa.array([i % 5 for i in idx], pa.int32()),
            "total_time_minutes": pa.array([i % 600 for i in idx], pa.int32()),
            "engagement_score": pa.array([(i % 200) * 0.3 + (i % 30) * 0.4 for i in idx], pa.float64()),
        }
    )


def _learning_progress(start: int, stop: int, keep: Callable[[int], bool]) -> pa.Table:
    idx = [i for i in range(start, stop) if keep(i)]
    subjects = ("math", "science", "history", "languages")
    return pa.table(
        {
            "user_id": [str(uuid.UUID(int=i // 4 + 1)) for i in idx],
            "subject": [subjects[i % 4] for i in idx],
            "week_start": pa.array([convert.week_start(DAY)] * len(idx), pa.date32()),
            "lessons_completed": pa.array([1 + i % 10 for i in idx], pa.int32()),
            "time_spent_minutes": pa.array([5 + i % 120 for i in idx], pa.int32()),
            "average_score": pa.array([None if i % 7 == 0 else float(i % 100) for i in idx], pa.float64()),
        }
    )


GENERATORS = {
    "page_view_stats": _page_view_stats,
    "user_engagement": _user_engagement,
    "learning_progress": _learning_progress,
}


def _chunks(rows: int) -> Iterator[tuple[int, int]]:
    for start in range(0, rows, CHUNK):
        yield start, min(rows, start + CHUNK)


def write_outputs(paths: RunPaths, rows: int, keep: Callable[[int], bool]) -> None:
    """The run's three outputs as Spark would write them, generated chunk by chunk."""
    for table, generate in GENERATORS.items():
        directory = paths.output(table)
        directory.mkdir(parents=True)
        writer = None
        for start, stop in _chunks(rows):
            data = generate(start, stop, keep)
            if writer is None:
                writer = pq.ParquetWriter(directory / "part-00000.snappy.parquet", data.schema)
            writer.write_table(data, row_group_size=CHUNK)
        if writer is not None:
            writer.close()
        (directory / "_SUCCESS").write_text("")


def _connection_uri(keyspace: str) -> str:
    """cassandra_default pointing at CASSANDRA_HOST (`host`, `host:port` or `[ipv6]:port`)."""
    value = os.environ["CASSANDRA_HOST"].strip()
    if value.startswith("["):
        host, _, port = value[1:].partition("]")
        host, port = f"[{host}]", port.lstrip(":")
    else:
        host, _, port = value.partition(":")
    user = os.environ.get("CASSANDRA_USERNAME")
    credentials = f"{user}:{os.environ.get('CASSANDRA_PASSWORD', '')}@" if user else ""
    return f"cassandra://{credentials}{host}:{port or 9042}/{keyspace}"


def _drop(keyspace: str) -> None:
    from airflow.providers.apache.cassandra.hooks.cassandra import CassandraHook

    hook = CassandraHook(cassandra_conn_id="cassandra_default")
    hook.keyspace = None
    try:
        hook.get_conn().execute(schema.render("DROP KEYSPACE IF EXISTS {keyspace}", keyspace), timeout=300)
    finally:
        hook.shutdown_cluster()


def _report(label: str, counts: dict[str, int], seconds: float) -> None:
    written = sum(counts[t] for t in GENERATORS)
    deleted = sum(counts[f"{t}_deleted"] for t in GENERATORS)
    print(
        f"{label}: {written} rows written, {deleted} deleted in {seconds:.1f}s = {written / seconds:,.0f} rows/s"
    )
    for table in GENERATORS:
        print(f"  {table}: {counts[table]} written, {counts[f'{table}_deleted']} deleted")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows per table (default 100000)")
    parser.add_argument("--batch-size", default=str(cs.DEFAULT_BATCH_SIZE))
    parser.add_argument("--concurrency", default=str(cs.DEFAULT_CONCURRENCY))
    parser.add_argument("--consistency", default=cs.DEFAULT_CONSISTENCY)
    parser.add_argument("--replication", default=None, help="JSON map, default SimpleStrategy RF 1")
    parser.add_argument("--keep", action="store_true", help="keep the keyspace afterwards")
    args = parser.parse_args(argv)
    if not os.environ.get("CASSANDRA_HOST"):
        parser.error("set CASSANDRA_HOST (host or host:port) to the Cassandra server to load")

    settings = cs.parse_settings(
        replication=args.replication,
        consistency=args.consistency,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
    )
    keyspace = f"bench_analytics_{uuid.uuid4().hex[:10]}"
    os.environ["AIRFLOW_CONN_CASSANDRA_DEFAULT"] = _connection_uri(keyspace)
    print(f"keyspace {keyspace}, {args.rows} rows per table, {settings}")
    try:
        with tempfile.TemporaryDirectory(prefix="cassandra_bench_") as tmp:
            first = RunPaths.build(Path(tmp), Path(tmp), DAY, "bench__first")
            write_outputs(first, args.rows, lambda i: True)
            started = time.perf_counter()
            counts = load.load_day(first, DAY, settings=settings)
            _report("first load (incl. schema creation)", counts, time.perf_counter() - started)

            rerun = RunPaths.build(Path(tmp), Path(tmp), DAY, "bench__rerun")
            write_outputs(rerun, args.rows, lambda i: i % 10 != 0)
            started = time.perf_counter()
            counts = load.load_day(rerun, DAY, settings=settings)
            _report("rerun (upserts + stale-key cleanup)", counts, time.perf_counter() - started)
    finally:
        if not args.keep:
            try:
                _drop(keyspace)
            except Exception as err:  # never hide the load's own error behind the cleanup's
                print(f"could not drop keyspace {keyspace}: {err}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
