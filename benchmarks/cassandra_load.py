"""Throughput of the Cassandra sink against the driver's raw concurrent inserts, on the same server.

    .venv/bin/python benchmarks/cassandra_load.py --rows 140000
    CASSANDRA_HOST=cass1.example:9042 .venv/bin/python benchmarks/cassandra_load.py --rows 140000

Generates one deterministic day (`--rows` rows per table, as Spark writes the outputs) and, in one
run against `CASSANDRA_HOST` (unset: the project's own node of scripts/cassandra.sh, started if it
is not running), times:

- raw: `execute_concurrent_with_args` inserting the same rows, already converted and in memory, one
  call per table, with the sink's execution profile (consistency level, request timeout) and
  concurrency: the best a client of this driver does;
- sink: `load_day` of that day into empty tables (connecting, reading Parquet, converting, the
  stale-key bookkeeping: everything the task does except creating the schema, done beforehand);
- rerun: `load_day` again, its output short of a tenth of the keys (reading old keys back and
  deleting the stale rows too).

Each round uses fresh keyspaces; with `--rounds 2` (the default) the first round warms the server
up and the figures are those of the last round (every round is in the JSON). Prints rows/s of each and
the ratio sink/raw (issue 6's target: at least 0.8), writes them as JSON (`--out`) and draws them as a
PNG next to it. The keyspaces are dropped at the end unless `--keep`.

CASSANDRA_USERNAME / CASSANDRA_PASSWORD are used when set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))

from analytics_etl.cassandra import convert, load, outputs, schema, writer  # noqa: E402
from analytics_etl.cassandra import settings as cs  # noqa: E402
from analytics_etl.cassandra.tables import SINKS  # noqa: E402
from analytics_etl.paths import RunPaths  # noqa: E402

DAY = dt.date(2024, 1, 17)
CHUNK = 50_000  # rows generated and written to Parquet at a time: memory stays bounded for any N
TARGET_RATIO = 0.8
_SPREAD = 0x9E3779B97F4A7C15F39CC0605CEDC835  # odd: i -> i * _SPREAD mod 2**128 is a bijection


def _user(i: int) -> str:
    """A deterministic, well-spread user id (as random-looking as real ones, for tokens and zstd)."""
    return str(uuid.UUID(int=((i + 1) * _SPREAD) % 2**128))


def _page_view_stats(idx: list[int]) -> pa.Table:
    return pa.table(
        {
            "date": pa.array([DAY] * len(idx), pa.date32()),
            "hour": pa.array([i % 24 for i in idx], pa.int32()),
            "page": [f"/course/{i // 24 % 500}/lesson/{i // 12_000}" for i in idx],
            "view_count": pa.array([1 + i % 50 for i in idx], pa.int64()),
        }
    )


def _user_engagement(idx: list[int]) -> pa.Table:
    return pa.table(
        {
            "user_id": [_user(i) for i in idx],
            "date": pa.array([DAY] * len(idx), pa.date32()),
            "total_events": pa.array([1 + i % 200 for i in idx], pa.int64()),
            "unique_pages": pa.array([i % 30 for i in idx], pa.int32()),
            "session_count": pa.array([i % 5 for i in idx], pa.int32()),
            "total_time_minutes": pa.array([i % 600 for i in idx], pa.int32()),
            "engagement_score": pa.array([(i % 200) * 0.3 + (i % 30) * 0.4 for i in idx], pa.float64()),
        }
    )


def _learning_progress(idx: list[int]) -> pa.Table:
    subjects = ("math", "science", "history", "languages")
    return pa.table(
        {
            "user_id": [_user(i // 4) for i in idx],
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


def _chunks(rows: int) -> Iterator[range]:
    for start in range(0, rows, CHUNK):
        yield range(start, min(rows, start + CHUNK))


def write_outputs(paths: RunPaths, rows: int, keep: Callable[[int], bool]) -> None:
    """The run's three outputs as Spark would write them, generated chunk by chunk."""
    for table, generate in GENERATORS.items():
        directory = paths.output(table)
        directory.mkdir(parents=True)
        parquet = None
        for chunk in _chunks(rows):
            data = generate([i for i in chunk if keep(i)])
            if parquet is None:
                parquet = pq.ParquetWriter(directory / "part-00000.snappy.parquet", data.schema)
            parquet.write_table(data, row_group_size=CHUNK)
        if parquet is not None:
            parquet.close()
        (directory / "_SUCCESS").write_text("")


def cassandra_uri(host: str, keyspace: str) -> str:
    """An Airflow cassandra connection URI for `host`, `host:port` or `[ipv6]:port`
    (CASSANDRA_USERNAME / CASSANDRA_PASSWORD when set)."""
    value = host.strip()
    if value.startswith("["):
        name, _, port = value[1:].partition("]")
        name, port = f"[{name}]", port.lstrip(":")
    else:
        name, _, port = value.partition(":")
    user = os.environ.get("CASSANDRA_USERNAME")
    credentials = f"{user}:{os.environ.get('CASSANDRA_PASSWORD', '')}@" if user else ""
    return f"cassandra://{credentials}{name}:{port or 9042}/{keyspace}"


def _connection_uri(keyspace: str) -> str:
    """cassandra_default pointing at CASSANDRA_HOST."""
    return cassandra_uri(os.environ["CASSANDRA_HOST"], keyspace)


def _session(keyspace: str, settings: cs.CassandraSettings) -> tuple[Any, Any]:
    """A session configured exactly as the sink's (same execution profile)."""
    from airflow.sdk import Connection

    conn = Connection(conn_id="cassandra_default", uri=_connection_uri(keyspace))
    return writer.open_session(conn, settings)


def _converted_rows(paths: RunPaths, settings: cs.CassandraSettings) -> dict[str, list[tuple]]:
    """Every row of the outputs as the sink binds it, in memory (the raw baseline's input)."""
    rows = {}
    for sink in SINKS:
        partition = sink.partition_of(paths.date)
        batches = outputs.iter_batches(paths.output(sink.table), sink.columns, settings.batch_size)
        rows[sink.table] = [row for batch in batches for row in sink.rows(batch.to_pylist(), partition)]
    return rows


def raw_inserts(session: Any, keyspace: str, rows: dict[str, list[tuple]], concurrency: int) -> dict:
    """Time `execute_concurrent_with_args` over the in-memory rows, one call per table."""
    from cassandra.concurrent import execute_concurrent_with_args

    seconds = {}
    for sink in SINKS:
        stmt = session.prepare(schema.statement(sink.insert, keyspace))
        started = time.perf_counter()
        execute_concurrent_with_args(session, stmt, rows[sink.table], concurrency=concurrency)
        seconds[sink.table] = time.perf_counter() - started
    return _figures({table: len(r) for table, r in rows.items()}, seconds)


def sink_load(paths: RunPaths, keyspace: str, settings: cs.CassandraSettings) -> dict:
    """Time `load_day` (its connection included), as the load task runs it."""
    os.environ["AIRFLOW_CONN_CASSANDRA_DEFAULT"] = _connection_uri(keyspace)
    started = time.perf_counter()
    counts = load.load_day(paths, DAY, settings=settings)
    seconds = time.perf_counter() - started
    written = {sink.table: counts[sink.table] for sink in SINKS}
    figures = _figures(written, {"all": seconds})
    figures["deleted"] = {sink.table: counts[f"{sink.table}_deleted"] for sink in SINKS}
    return figures


def _figures(rows: dict[str, int], seconds: dict[str, float]) -> dict:
    total_rows, total_seconds = sum(rows.values()), sum(seconds.values())
    return {
        "rows": rows,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "total_rows": total_rows,
        "total_seconds": round(total_seconds, 3),
        "rows_per_second": round(total_rows / total_seconds, 1) if total_seconds else None,
    }


def _prepare_keyspace(session: Any, keyspace: str, settings: cs.CassandraSettings) -> None:
    schema.ensure_schema(session, keyspace, settings.replication)


def _drop(session: Any, keyspaces: list[str]) -> None:
    for keyspace in keyspaces:
        try:
            session.execute(schema.render("DROP KEYSPACE IF EXISTS {keyspace}", keyspace), timeout=300)
        except Exception as err:  # never hide the benchmark's own error behind the cleanup's
            print(f"could not drop keyspace {keyspace}: {err}", file=sys.stderr)


def run_round(session: Any, tmp: Path, n: int, settings: cs.CassandraSettings, keyspaces: list[str]) -> dict:
    """One round: raw inserts and a sink load of the same day into fresh keyspaces, then a rerun."""
    tag = uuid.uuid4().hex[:8]
    raw_ks, sink_ks = f"bench_raw_{tag}", f"bench_sink_{tag}"
    keyspaces += [raw_ks, sink_ks]
    for keyspace in (raw_ks, sink_ks):
        _prepare_keyspace(session, keyspace, settings)

    day = RunPaths.build(tmp / tag, tmp / tag, DAY, "bench__first")
    write_outputs(day, n, lambda i: True)
    raw = raw_inserts(session, raw_ks, _converted_rows(day, settings), settings.concurrency)
    print(
        f"  raw execute_concurrent_with_args: {raw['total_rows']} rows in {raw['total_seconds']}s "
        f"= {raw['rows_per_second']:,.0f} rows/s"
    )
    first = sink_load(day, sink_ks, settings)
    print(
        f"  sink load_day:                    {first['total_rows']} rows in {first['total_seconds']}s "
        f"= {first['rows_per_second']:,.0f} rows/s"
    )

    rerun_day = RunPaths.build(tmp / tag, tmp / tag, DAY, "bench__rerun")
    write_outputs(rerun_day, n, lambda i: i % 10 != 0)
    rerun = sink_load(rerun_day, sink_ks, settings)
    print(
        f"  sink rerun (a tenth stale):       {rerun['total_rows']} rows in {rerun['total_seconds']}s "
        f"= {rerun['rows_per_second']:,.0f} rows/s, {sum(rerun['deleted'].values())} deleted"
    )
    ratio = first["rows_per_second"] / raw["rows_per_second"]
    print(f"  ratio sink / raw: {ratio:.2f} (target >= {TARGET_RATIO})")
    return {"raw": raw, "sink": first, "rerun": rerun, "ratio": round(ratio, 3)}


def draw(report: dict, png: Path) -> None:
    """Rows per second of raw inserts, the sink's load and its rerun, from the report."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart", file=sys.stderr)
        return
    last = report["rounds"][-1]
    labels = ["raw execute_concurrent", "sink load_day", "sink rerun"]
    values = [
        last["raw"]["rows_per_second"],
        last["sink"]["rows_per_second"],
        last["rerun"]["rows_per_second"],
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(labels, values, color=["#999999", "#1f77b4", "#aec7e8"])
    ax.axhline(TARGET_RATIO * values[0], linestyle="--", color="red", label=f"{TARGET_RATIO} x raw")
    ax.set_ylabel("rows / second")
    ax.set_title(f"Cassandra load, {report['rows_per_table']:,} rows per table: ratio {last['ratio']:.2f}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"chart: {png}")


def project_node() -> str:
    """host:port of the project's own node (scripts/cassandra.sh), started if it is not running."""
    sys.path.insert(0, str(REPO / "scripts"))
    from cassandra_node import Node

    node = Node.from_env()
    node.start()
    return node.host


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows per table (default 100000)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the last one is reported (default 2)")
    parser.add_argument("--batch-size", default=str(cs.DEFAULT_BATCH_SIZE))
    parser.add_argument("--concurrency", default=str(cs.DEFAULT_CONCURRENCY))
    parser.add_argument("--consistency", default=cs.DEFAULT_CONSISTENCY)
    parser.add_argument("--replication", default=None, help="JSON map, default SimpleStrategy RF 1")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / ".local" / "benchmarks" / "cassandra_load.json",
        help="JSON report (a PNG chart is drawn beside it)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the keyspaces afterwards")
    args = parser.parse_args(argv)
    if not os.environ.get("CASSANDRA_HOST"):
        os.environ["CASSANDRA_HOST"] = project_node()

    settings = cs.parse_settings(
        replication=args.replication,
        consistency=args.consistency,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
    )
    print(f"{args.rows} rows per table, {args.rounds} rounds, {settings}")
    cluster, session = _session("bench", settings)  # connects without a keyspace
    keyspaces: list[str] = []
    rounds = []
    try:
        with tempfile.TemporaryDirectory(prefix="cassandra_bench_") as tmp:
            for n in range(args.rounds):
                print(f"round {n + 1}/{args.rounds}")
                rounds.append(run_round(session, Path(tmp), args.rows, settings, keyspaces))
    finally:
        if not args.keep:
            _drop(session, keyspaces)
        cluster.shutdown()

    report = {
        "benchmark": "cassandra_load",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": os.environ["CASSANDRA_HOST"],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rows_per_table": args.rows,
        "settings": {
            "concurrency": settings.concurrency,
            "batch_size": settings.batch_size,
            "consistency": settings.consistency,
            "replication": dict(settings.replication),
        },
        "target_ratio": TARGET_RATIO,
        "ratio": rounds[-1]["ratio"],
        "rounds": rounds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {args.out}")
    draw(report, args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
