"""The whole day, measured: a generated day through the real DAG, per task, against a DuckDB reference.

    .venv/bin/python benchmarks/day.py --events 1000000 --users 100000 --progress-week 500000
    .venv/bin/python benchmarks/day.py --events 2000 --users 200 --progress-week 2000   # a smoke run
    .venv/bin/python benchmarks/day.py --chart-from .local/bench/results/<name>.json   # redraw a chart

1. Generates a deterministic day (scripts/demo_data.py, benchmark layout: eleven files, 40% JSON
   lines, 20% gzip JSON lines, 15% CSV, 10% gzip CSV, 15% Parquet; --bad-share faulty rows over every
   reason, --duplicate-share later copies), or reuses the drop cached under
   <work-dir>/days/<key>/ for the same parameters and generator; loads users and the week's progress
   into the source database (skipped when <work-dir>/source_loaded.json says it already holds that
   day: a database that someone else changed since is not noticed).
2. Reads every drop file once, so that both engines read it from the page cache (the platform is
   timed first and would otherwise pay the disk alone). Starts the project's PostgreSQL
   (scripts/postgres.sh) unless --source-dsn/--analytics-dsn point elsewhere, and runs
   `airflow dags test daily_analytics_etl` on the embedded stack (SQLite metadata
   in <work-dir>/airflow, connections and variables as AIRFLOW_CONN_*/AIRFLOW_VAR_*), with Cassandra
   when --cassandra-host is given and the Spark master of --spark-master.
3. Samples the process tree of that run every --sample-seconds: the RSS of the Airflow process(es) and
   of the Spark driver JVM, attributed to the task running at that time. Task ids, start and end come
   from the Airflow metadata database: nothing here knows the DAG's tasks.
4. Runs the DuckDB reference (benchmarks/reference_duckdb.py, --reference-threads threads) on the same
   files and source, and checks its counts (read, kept, rejected per reason, orphan_user, rows per
   sink) against the run's etl_runs record, and its outputs and rejects against the run's curated
   outputs and quarantine. Any difference fails the command (exit 1) before a ratio is printed.
5. Writes the figures as JSON and draws them (time and peak memory per task, platform against the
   reference) as a PNG beside it, with the DAG run's log; deletes the run's staging and curated files
   (--keep-run-files keeps them; the quarantine is per date and stays).

"The Airflow task process" is the largest process of the run's tree that is neither a JVM nor started
by one: `airflow dags test` runs every task in one process, so its peak during a task includes
what earlier tasks left in memory.

Figures, not a timed test. On a shared machine, run it when nothing else is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "plugins"), str(REPO / "benchmarks")]

from bench_store import BenchStore, DiskPeaks, run_bytes  # noqa: E402
from reference.compare import compare_output, compare_rejects  # noqa: E402
from reference.engine import REASONS  # noqa: E402
from reference.engine import sql as reference_sql  # noqa: E402

import demo_data as dd  # noqa: E402
from analytics_etl.paths import OUTPUT_TABLES, RunPaths  # noqa: E402
from analytics_etl.run_record import fetch_runs  # noqa: E402

DAG_ID = "daily_analytics_etl"
LOCAL = Path(os.environ.get("ETL_LOCAL_DIR", REPO / ".local"))
MB = 1024 * 1024


# -- arguments ------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    day = p.add_argument_group("the day")
    day.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2024, 1, 21),
                     help="day D (default a Sunday: the whole ISO week exists)")  # fmt: skip
    day.add_argument("--events", type=int, default=1_000_000)
    day.add_argument("--users", type=int, default=100_000)
    day.add_argument("--progress-week", type=int, default=500_000, help="progress rows from Monday to D")
    day.add_argument("--bad-share", type=float, default=0.02, help="faulty rows, duplicates not included")
    day.add_argument("--duplicate-share", type=float, default=0.01)
    day.add_argument("--seed", type=int, default=42)
    day.add_argument("--omit-fault", action="append", default=[], choices=sorted(dd.BENCHMARK_VARIANTS),
                     metavar="NAME", help="a faulty-row variant not to plant (repeatable)")  # fmt: skip
    day.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes writing the drop")
    stack = p.add_argument_group("the stack")
    stack.add_argument("--work-dir", type=Path, default=LOCAL / "bench", help="cache, data, results")
    stack.add_argument("--pg-port", type=int, default=int(os.environ.get("ETL_PG_PORT", "54329")),
                       help="port of the project's PostgreSQL (started if needed)")  # fmt: skip
    stack.add_argument("--source-dsn", help="default: database bench_source on the project's PostgreSQL")
    stack.add_argument(
        "--analytics-dsn", help="default: database bench_analytics on the project's PostgreSQL"
    )
    stack.add_argument("--airflow-home", type=Path, help="default: <work-dir>/airflow (SQLite metadata)")
    stack.add_argument("--cassandra-host", help="host or host:port: adds the cassandra_default connection")
    stack.add_argument("--cassandra-keyspace", default="analytics")
    stack.add_argument("--spark-master", default="local[*]", help="host of the spark_default connection")
    stack.add_argument(
        "--roots",
        choices=("local", "store"),
        default="local",
        help="etl_drop_dir and etl_data_dir on local disk, or both in the project's S3 store "
        "(S3Proxy, bucket `bench`, through aws_default and S3A: benchmarks/bench_store.py)",
    )
    stack.add_argument("--s3-port", type=int, default=19320, help="the store's port, with --roots store")  # fmt: skip
    stack.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                       help="an extra Airflow variable for the run (repeatable)")  # fmt: skip
    run = p.add_argument_group("the measurement")
    run.add_argument("--reference-threads", type=int, default=2)
    run.add_argument("--sample-seconds", type=float, default=0.2)
    run.add_argument("--timeout", type=int, default=4 * 3600, help="seconds the DAG run may take")
    run.add_argument("--out", type=Path, help="JSON figures (default <work-dir>/results/day-<N>-<time>.json)")
    run.add_argument("--chart-from", type=Path, help="only redraw the PNG of an earlier JSON")
    run.add_argument("--keep-run-files", action="store_true",
                     help="keep the run's staging and curated files under <work-dir>/data (deleted by default)")  # fmt: skip
    return p.parse_args(argv)


def pg_url(args: argparse.Namespace, dbname: str) -> str:
    return f"postgresql://etl@127.0.0.1:{args.pg_port}/{dbname}"


# -- 1. the day -----------------------------------------------------------------------------------------
def day_config(args: argparse.Namespace) -> dd.DayConfig:
    return dd.DayConfig(date=args.date, users=args.users, events=args.events, bad_share=args.bad_share,
                        seed=args.seed, progress_week=args.progress_week)  # fmt: skip


def day_key(args: argparse.Namespace) -> str:
    """Names a generated day: its parameters and the generator's code."""
    params = {k: str(getattr(args, k)) for k in ("date", "events", "users", "progress_week", "bad_share",
                                                  "duplicate_share", "seed")}  # fmt: skip
    params["omit"] = sorted(args.omit_fault)
    generator = hashlib.sha256((REPO / "scripts" / "demo_data.py").read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps([params, generator], sort_keys=True).encode()).hexdigest()[:16]


def prepare_day(args: argparse.Namespace, source_dsn: str) -> dict[str, Any]:
    """The drop (cached per key) and the source content; returns what was planted and what it cost."""
    cfg, key = day_config(args), day_key(args)
    folder = args.work_dir / "days" / key
    summary_path = folder / "summary.json"
    started = time.perf_counter()
    pop = dd.build_population(cfg)
    marker = args.work_dir / "source_loaded.json"
    loaded = json.loads(marker.read_text()) if marker.exists() else {}
    progress = None
    if loaded.get(source_dsn) != key:
        progress = dd.load_source(source_dsn, cfg, pop)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({**loaded, source_dsn: key}))
    source_seconds = time.perf_counter() - started
    cached = summary_path.exists()
    if not cached:
        step(f"generating {cfg.events:,} events into {folder} ({args.jobs} processes)")
        summary_path.unlink(missing_ok=True)
        stats = dd.write_benchmark_drop(
            cfg, pop, folder / "drops", args.duplicate_share, args.jobs, args.omit_fault
        )
        summary = dd.summary(cfg, pop, progress, stats)
        summary_path.write_text(json.dumps(summary, indent=2))  # last: the drop is complete
    drop_seconds = time.perf_counter() - started - source_seconds
    return {"key": key, "drop_dir": str(folder / "drops"), "cached_drop": cached, "source_reloaded": progress is not None,
            "seconds": {"source": round(source_seconds, 2), "drop": round(drop_seconds, 2)},
            "planted": json.loads(summary_path.read_text())}  # fmt: skip


# -- 2. the stack -----------------------------------------------------------------------------------------
def start_postgres(args: argparse.Namespace) -> None:
    data = LOCAL / "postgres"
    subprocess.run(
        ["bash", str(REPO / "scripts" / "postgres.sh"), "start", str(data), str(args.pg_port)], check=True
    )


def ensure_airflow_db(home: Path, env: dict[str, str]) -> None:
    if not (home / "airflow.db").exists():
        step(f"migrating the Airflow metadata database in {home}")
        subprocess.run(["airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)


def airflow_env(args: argparse.Namespace, home: Path, dsns: tuple[str, str], roots: tuple[str, str],
                scratch: Path, store: BenchStore | None) -> dict[str, str]:  # fmt: skip
    """The run's whole configuration; inherited AIRFLOW_CONN_*/AIRFLOW_VAR_* are dropped. The run's
    temporary files (the ingest's local scratch on a store) and Spark's local dirs (shuffle, spills)
    go under `scratch`, where their bytes are counted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    venv_bin = str(Path(sys.executable).parent)
    env.update({
        "PATH": f"{venv_bin}:{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONPATH": f"{REPO / 'plugins'}:{REPO / 'spark_jobs'}",
        "AIRFLOW_CONN_SOURCE_POSTGRES": dsns[0],
        "AIRFLOW_CONN_ANALYTICS_POSTGRES": dsns[1],
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": args.spark_master}),
        "AIRFLOW_VAR_ETL_DROP_DIR": roots[0],
        "AIRFLOW_VAR_ETL_DATA_DIR": roots[1],
        "TMPDIR": str(scratch / "tmp"),
        "SPARK_LOCAL_DIRS": str(scratch / "spark"),
        "AIRFLOW_VAR_ETL_DROP_POKE_SECONDS": "1",
        "AIRFLOW_VAR_ETL_DROP_TIMEOUT_SECONDS": "120",
        # As scripts/stack.sh and the compose file set it; the first run writes the archive.
        "AIRFLOW_VAR_ETL_SPARK_CDS_DIR": str(args.work_dir / "spark-cds"),
    })  # fmt: skip
    if store is not None:
        env["AIRFLOW_CONN_AWS_DEFAULT"] = store.connection_json()
    if "SPARK_HOME" not in env:
        import pyspark

        env["SPARK_HOME"] = str(Path(pyspark.__file__).parent)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    if args.cassandra_host:
        from cassandra_load import cassandra_uri  # its heavier imports only when Cassandra is asked for

        env["AIRFLOW_CONN_CASSANDRA_DEFAULT"] = cassandra_uri(args.cassandra_host, args.cassandra_keyspace)
    for item in args.var:
        name, _, value = item.partition("=")
        env[f"AIRFLOW_VAR_{name.upper()}"] = value
    return env


# -- 3. the run and its process tree ----------------------------------------------------------------------
@dataclass
class Sample:
    at: float  # epoch seconds
    airflow_mb: float  # the largest process of the tree that is neither a JVM nor started by one
    jvm_mb: float  # the largest JVM (the Spark driver; in local mode the executors live in it too)
    spark_python_mb: float  # Python workers started by a JVM, added up


class Sampler(threading.Thread):
    """Samples the process tree under `root` every `interval` seconds until `stop` is set."""

    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.samples: list[Sample] = []
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.root)
        except psutil.NoSuchProcess:
            return
        while not self.stop.is_set():
            self.samples.append(sample_tree(root))
            self.stop.wait(self.interval)


def sample_tree(root: psutil.Process) -> Sample:
    at = time.time()
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return Sample(at, 0, 0, 0)
    info: dict[int, tuple[int, bool, float]] = {}
    for proc in procs:
        try:
            with proc.oneshot():
                exe = (proc.cmdline() or [proc.name()])[0]
                info[proc.pid] = (proc.ppid(), Path(exe).name == "java", proc.memory_info().rss / MB)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    airflow = jvm = spark_python = 0.0
    for pid, (_, is_java, rss) in info.items():
        if is_java:
            jvm = max(jvm, rss)
        elif _under_jvm(pid, info):
            spark_python += rss
        else:
            airflow = max(airflow, rss)
    return Sample(at, round(airflow, 1), round(jvm, 1), round(spark_python, 1))


def _under_jvm(pid: int, info: dict[int, tuple[int, bool, float]]) -> bool:
    parent = info[pid][0]
    while parent in info:
        if info[parent][1]:
            return True
        parent = info[parent][0]
    return False


def run_dag(args: argparse.Namespace, env: dict[str, str], log_path: Path) -> dict[str, Any]:
    command = ["airflow", "dags", "test", DAG_ID, "--conf", json.dumps({"date": args.date.isoformat()})]
    step(" ".join(command[:4]) + f" --conf '{command[-1]}'  (log: {log_path})")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    launched = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = Sampler(proc.pid, args.sample_seconds)
        try:
            sampler.start()
            returncode = proc.wait(timeout=args.timeout)
        except BaseException:  # a timeout, ^C or a bug here: the run this started does not outlive it
            proc.kill()
            proc.wait()
            raise
        finally:
            sampler.stop.set()
            if sampler.is_alive():
                sampler.join()
    return {"returncode": returncode, "launched": launched, "wall_seconds": time.time() - launched,
            "samples": sampler.samples}  # fmt: skip


def _utc(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    value = dt.datetime.fromisoformat(text)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def task_instances(home: Path, launched: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The DAG run started at or after `launched`, and its task instances."""
    with sqlite3.connect(home / "airflow.db") as db:
        runs = db.execute(reference_sql("airflow_latest_runs"), [DAG_ID]).fetchall()
        ours = [r for r in runs if r[2] and _utc(r[2]).timestamp() >= launched - 1]
        if not ours:
            raise RuntimeError(
                f"no run of {DAG_ID} started after the benchmark launched it; latest: {runs[:1]}"
            )
        run_id, state, start, end = ours[0]
        rows = db.execute(reference_sql("airflow_task_instances"), [DAG_ID, run_id]).fetchall()
    tasks = []
    for task_id, map_index, ti_state, tries, ti_start, ti_end in rows:
        begin, finish = _utc(ti_start), _utc(ti_end)
        tasks.append({
            "task_id": task_id if map_index in (None, -1) else f"{task_id}[{map_index}]",
            "state": ti_state, "try_number": tries,
            "start": begin.isoformat() if begin else None, "end": finish.isoformat() if finish else None,
            "seconds": round((finish - begin).total_seconds(), 2) if begin and finish else None,
        })  # fmt: skip
    run = {"run_id": run_id, "state": state, "start": start, "end": end,
           "seconds": round((_utc(end) - _utc(start)).total_seconds(), 2) if start and end else None}  # fmt: skip
    return run, tasks


def attribute(tasks: list[dict[str, Any]], samples: list[Sample]) -> None:
    """Peak RSS per task from the samples taken while it ran; a task during which a JVM ran is a Spark task."""
    for task in tasks:
        if not task["start"] or not task["end"]:
            continue
        begin, finish = _utc(task["start"]).timestamp(), _utc(task["end"]).timestamp()
        mine = [s for s in samples if begin <= s.at <= finish]
        task["samples"] = len(mine)
        task["peak_rss_mb"] = {
            "airflow_process": max((s.airflow_mb for s in mine), default=None),
            "spark_driver_jvm": max((s.jvm_mb for s in mine), default=None) or None,
            "spark_python_workers": max((s.spark_python_mb for s in mine), default=None) or None,
        }
        task["spark"] = any(s.jvm_mb for s in mine)
        others = [t for t in tasks if t is not task and t["start"] and t["end"]
                  and _utc(t["start"]).timestamp() < finish and _utc(t["end"]).timestamp() > begin]  # fmt: skip
        task["overlaps"] = [t["task_id"] for t in others]


# -- 4. the reference and the checks ---------------------------------------------------------------------------
def run_reference(args: argparse.Namespace, drop_dir: str, source_dsn: str, out_dir: Path) -> dict[str, Any]:
    step(f"DuckDB reference ({args.reference_threads} threads) on the same files and source")
    command = [sys.executable, str(REPO / "benchmarks" / "reference_duckdb.py"), "--date", args.date.isoformat(),
               "--drop-dir", drop_dir, "--source-dsn", source_dsn, "--threads", str(args.reference_threads),
               "--outputs", str(out_dir), "--json", str(out_dir / "figures.json")]  # fmt: skip
    started = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    figures = json.loads((out_dir / "figures.json").read_text())
    figures["process_wall_seconds"] = round(time.time() - started, 2)
    return figures


def run_record(analytics_dsn: str, run_id: str, date: dt.date) -> dict[str, Any]:
    import psycopg2

    conn = psycopg2.connect(analytics_dsn)
    try:
        runs = fetch_runs(conn, date.isoformat())
    finally:
        conn.close()
    for record in runs:
        if record["run_id"] == run_id:
            return {
                k: (v.isoformat() if isinstance(v, dt.datetime | dt.date) else v) for k, v in record.items()
            }
    raise RuntimeError(f"etl_runs has no record of run {run_id} for {date}")


def check_counts(record: dict[str, Any], ref: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure of the run record that the reference also computes: [{what, platform, reference}]."""
    pairs = [("rows_read", record.get("rows_read"), ref["rows_read"]),
             ("rows_kept", record.get("rows_kept"), ref["rows_kept"]),
             ("rows_rejected", record.get("rows_rejected"), ref["rows_rejected"]),
             ("orphan_user", record.get("orphan_user"), ref["orphan_user"])]  # fmt: skip
    by_reason = record.get("rejected_by_reason") or {}
    pairs += [(f"rejected.{r}", by_reason.get(r), ref["rejected"][r]) for r in REASONS]
    written = record.get("rows_written") or {}
    pairs.append(
        ("rows_written.daily_user_stats", written.get("daily_user_stats"), ref["rows"]["daily_user_stats"])
    )
    cassandra = written.get("cassandra")
    if isinstance(cassandra, dict):
        pairs += [(f"rows_written.cassandra.{t}", cassandra.get(t), ref["rows"][t])
                  for t in ("page_view_stats", "user_engagement", "learning_progress")]  # fmt: skip
    return [{"what": w, "platform": p, "reference": r, "ok": p == r} for w, p, r in pairs]


def check_files(args: argparse.Namespace, run_id: str, ref_dir: Path, data_dir: Path) -> list[dict[str, Any]]:
    """The reference's outputs against the run's curated outputs, its rejects against the quarantine
    (on a store: the files it serves, as its backend keeps them, the published run's only)."""
    paths = RunPaths.build(data_dir, "", args.date, run_id)
    results = []
    for table in OUTPUT_TABLES:
        try:
            results.append(compare_output(table, ref_dir / f"{table}.parquet", paths.output(table)))
        except (FileNotFoundError, KeyError) as err:
            results.append({"table": table, "differences": None, "error": str(err)})
    try:
        results.append(compare_rejects(ref_dir / "rejects.parquet", paths.quarantine))
    except Exception as err:  # a quarantine in another shape than docs/ingestion.md says
        results.append({"table": "quarantine", "differences": None, "error": f"{type(err).__name__}: {err}"})
    for r in results:
        r["ok"] = r.get("differences") == 0
    return results


def cassandra_against_raw(
    args: argparse.Namespace, run_id: str, tasks: list[dict[str, Any]]
) -> dict[str, Any]:
    """The run's load_cassandra against the driver's raw concurrent inserts of the same rows (the run's
    curated outputs, converted and in memory) into a fresh keyspace of the same server, right after the
    run: sink rows/s = rows written / the task's wall time (connection, reads, bookkeeping included)."""
    import cassandra_load as cl

    from analytics_etl.cassandra import settings as cs

    [task] = [t for t in tasks if t["task_id"] == "load_cassandra"]
    settings = cs.parse_settings()  # the sink's defaults, as the run used them (no etl_cassandra_* set)
    paths = RunPaths.build(args.work_dir / "data", "", args.date, run_id)
    rows = cl._converted_rows(paths, settings)
    os.environ["CASSANDRA_HOST"] = args.cassandra_host
    keyspace = f"bench_raw_{dt.datetime.now(dt.UTC):%H%M%S}"
    cluster, session = cl._session(keyspace, settings)
    try:
        cl._prepare_keyspace(session, keyspace, settings)
        raw = cl.raw_inserts(session, keyspace, rows, settings.concurrency)
    finally:
        cl._drop(session, [keyspace])
        cluster.shutdown()
    sink_rate = raw["total_rows"] / task["seconds"] if task["seconds"] else None
    return {
        "rows": raw["total_rows"],
        "load_cassandra_seconds": task["seconds"],
        "sink_rows_per_second": round(sink_rate, 1) if sink_rate else None,
        "raw_seconds": raw["total_seconds"],
        "raw_rows_per_second": raw["rows_per_second"],
        "ratio": round(sink_rate / raw["rows_per_second"], 3) if sink_rate else None,
    }


def remove_run_files(args: argparse.Namespace, run_id: str, store: BenchStore | None) -> None:
    """The run's own staging and curated files: a 10M-event day leaves gigabytes of them."""
    if store is not None:
        paths = RunPaths.build("", "", args.date, run_id)  # relative: the keys under data/
        for folder in (paths.staging, *(paths.output(t) for t in OUTPUT_TABLES)):
            store.remove(f"data/{folder.as_posix()}")
        return
    paths = RunPaths.build(args.work_dir / "data", "", args.date, run_id)
    for folder in (paths.staging, *(paths.output(t) for t in OUTPUT_TABLES)):
        if folder.is_dir() and args.work_dir in folder.parents:
            shutil.rmtree(folder)


# -- 5. figures, report, chart ---------------------------------------------------------------------------------
def figures(args: argparse.Namespace, day: dict, dag: dict, run: dict, tasks: list, record: dict,
            ref: dict, checks: dict) -> dict[str, Any]:  # fmt: skip
    rows_read = record.get("rows_read") or 0
    spark = [t for t in tasks if t.get("spark")]
    spark_seconds = round(sum(t["seconds"] or 0 for t in spark), 2)
    for t in tasks:  # events per second of a task that only moves a file or a row says nothing
        t["events_per_second"] = round(rows_read / t["seconds"]) if t.get("spark") and t["seconds"] else None
    dag_seconds = run["seconds"] or dag["wall_seconds"]
    ok = all(c["ok"] for c in checks["counts"] + checks["files"])
    return {
        "benchmark": "day",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },  # fmt: skip
        "parameters": {
            "date": args.date.isoformat(),
            "events": args.events,
            "users": args.users,
            "progress_week": args.progress_week,
            "bad_share": args.bad_share,
            "duplicate_share": args.duplicate_share,
            "seed": args.seed,
            "omit_fault": args.omit_fault,
            "spark_master": args.spark_master,
            "roots": args.roots,
            "cassandra": bool(args.cassandra_host),
            "reference_threads": args.reference_threads,
            "variables": args.var,
        },  # fmt: skip
        "day": day,
        "platform": {
            "run": run,
            "returncode": dag["returncode"],
            "wall_seconds": round(dag["wall_seconds"], 2),
            "dag_seconds": dag_seconds,
            "tasks": tasks,
            "spark_tasks": [t["task_id"] for t in spark],
            "spark_seconds": spark_seconds,
            "events_per_second": round(rows_read / dag_seconds) if dag_seconds else None,
            "spark_events_per_second": round(rows_read / spark_seconds) if spark_seconds else None,
            "peak_rss_mb": {
                "airflow_process": max((s.airflow_mb for s in dag["samples"]), default=None),
                "spark_driver_jvm": max((s.jvm_mb for s in dag["samples"]), default=None),
            },
        },  # fmt: skip
        "run_record": record,
        "reference": ref,
        "checks": {**checks, "ok": ok},
        "ratio_spark_to_reference": round(spark_seconds / ref["seconds"]["total"], 2) if ok and ref else None,
    }


def print_report(fig: dict[str, Any]) -> None:
    plat, ref = fig["platform"], fig["reference"]
    step(f"{fig['parameters']['events']:,} events; run {plat['run']['run_id']} {plat['run']['state']}")
    print(f"  {'task':<40} {'state':<8} {'seconds':>8} {'airflow MB':>10} {'driver MB':>9} {'events/s':>9}")
    for t in plat["tasks"]:
        rss = t.get("peak_rss_mb") or {}
        print(f"  {t['task_id']:<40} {t['state'] or '-':<8} {_num(t['seconds']):>8} "
              f"{_num(rss.get('airflow_process')):>10} {_num(rss.get('spark_driver_jvm')):>9} "
              f"{_num(t.get('events_per_second')):>9}")  # fmt: skip
    print(f"  whole DAG {plat['dag_seconds']} s ({_num(plat['events_per_second'])} events/s); Spark tasks "
          f"{plat['spark_tasks']}: {plat['spark_seconds']} s ({_num(plat['spark_events_per_second'])} events/s)")  # fmt: skip
    print(
        f"  reference (DuckDB, {ref['threads']} threads): {ref['seconds']['total']} s, peak RSS {ref['peak_rss_mb']} MB"
    )
    step("checks: the run record, outputs and quarantine against the reference")
    for c in fig["checks"]["counts"]:
        if not c["ok"]:
            print(f"  MISMATCH {c['what']}: platform {c['platform']}, reference {c['reference']}")
    for f in fig["checks"]["files"]:
        status = "ok" if f["ok"] else "MISMATCH"
        detail = (
            f.get("error")
            or f"{f['differences']} rows differ of {f['reference_rows']} / {f['platform_rows']}"
        )
        print(f"  {status:<8} {f['table']}: {detail}")
        for row in f.get("sample", [])[:3] if not f["ok"] else []:
            print(f"           {row}")
    if "disk" in fig:
        d = fig["disk"]
        step(f"bytes (roots: {d['roots']}): the most each place grew during the run, and what the run left")
        for name, size in d["peak_bytes_written"].items():
            print(f"  {name:<28} peak +{size / MB:,.1f} MB")
        print("  left: " + ", ".join(f"{k} {v / MB:,.1f} MB" for k, v in d["run_bytes_left"].items()))
        if "store_bytes_written" in d:
            print(
                f"  the store wrote {d['store_bytes_written'] / MB:,.1f} MB to its disk during the run"
                " (PUTs, multipart parts, copies)"
            )
    if fig["checks"]["ok"]:
        print(f"  every count matches ({sum(1 for _ in fig['checks']['counts'])} figures)")
        step(f"ratio platform Spark time / DuckDB time: {fig['ratio_spark_to_reference']}")


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if isinstance(value, int) or value >= 100 else f"{value:.1f}"


def draw_chart(fig: dict[str, Any], path: Path) -> None:
    """Time and peak RSS per task of the platform, against the reference; from the JSON figures only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plat, ref = fig["platform"], fig["reference"]
    tasks = [t for t in plat["tasks"] if t.get("seconds") is not None]
    names = [t["task_id"] for t in tasks] + [
        "platform: Spark tasks",
        "platform: whole DAG",
        "DuckDB reference",
    ]
    seconds = [t["seconds"] for t in tasks] + [
        plat["spark_seconds"],
        plat["dag_seconds"],
        ref["seconds"]["total"],
    ]
    colours = ["tab:orange" if t.get("spark") else "tab:blue" for t in tasks] + [
        "tab:orange",
        "tab:blue",
        "tab:green",
    ]
    canvas, (left, right) = plt.subplots(1, 2, figsize=(14, 0.4 * len(names) + 2), sharey=True)
    rows = range(len(names))
    left.barh(rows, seconds, color=colours)
    left.set_yticks(rows, names)
    left.invert_yaxis()
    left.set_xlabel("wall time, s")
    for y, value in zip(rows, seconds, strict=True):
        left.text(value, y, f" {value:.1f}", va="center", fontsize=8)
    airflow = [(t.get("peak_rss_mb") or {}).get("airflow_process") or 0 for t in tasks]
    driver = [(t.get("peak_rss_mb") or {}).get("spark_driver_jvm") or 0 for t in tasks]
    overall = plat["peak_rss_mb"]
    airflow += [0, overall["airflow_process"] or 0, 0]
    driver += [max(driver, default=0), overall["spark_driver_jvm"] or 0, 0]
    reference = [0] * (len(names) - 1) + [ref["peak_rss_mb"]]
    right.barh([y - 0.27 for y in rows], airflow, height=0.27, color="tab:blue", label="Airflow task process")
    right.barh(list(rows), driver, height=0.27, color="tab:orange", label="Spark driver JVM")
    right.barh([y + 0.27 for y in rows], reference, height=0.27, color="tab:green", label="DuckDB reference")
    right.set_xlabel("peak RSS, MB")
    right.legend(loc="lower right", fontsize=8)
    params = fig["parameters"]
    ratio = fig.get("ratio_spark_to_reference")
    canvas.suptitle(
        f"daily_analytics_etl, {params['events']:,} events, {params['users']:,} users, "
        f"{params['progress_week']:,} progress rows; Spark / DuckDB = {ratio if ratio is not None else 'n/a (checks failed)'}"
        f"  ({fig['machine']['cpus']} CPUs, {fig['when']})",
        fontsize=10,
    )
    canvas.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.savefig(path, dpi=110)
    plt.close(canvas)


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def warm_page_cache(folder: str | Path) -> float:
    """Read every file of the drop once, so that neither the platform (timed first) nor the reference
    (timed second, on files the platform just read) pays the disk: both read from the page cache."""
    started = time.monotonic()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                while handle.read(1 << 24):
                    pass
    return time.monotonic() - started


# -- main ------------------------------------------------------------------------------------------------------
def measure(args: argparse.Namespace) -> dict[str, Any]:
    store = BenchStore.start(args.work_dir, args.s3_port) if args.roots == "store" else None
    try:
        return _measure(args, store)
    finally:
        if store is not None:
            store.stop()


def _measure(args: argparse.Namespace, store: BenchStore | None) -> dict[str, Any]:
    embedded = not (args.source_dsn and args.analytics_dsn)
    if embedded:
        step(f"the project's PostgreSQL on port {args.pg_port}")
        start_postgres(args)
    source_dsn = args.source_dsn or pg_url(args, "bench_source")
    analytics_dsn = args.analytics_dsn or pg_url(args, "bench_analytics")
    dd.ensure_database(analytics_dsn)
    step("the day")
    day = prepare_day(args, source_dsn)
    print(f"  key {day['key']}: drop {'reused' if day['cached_drop'] else 'generated'}, source "
          f"{'loaded' if day['source_reloaded'] else 'already loaded'} ({day['seconds']})")  # fmt: skip
    roots, data_dir = (day["drop_dir"], str(args.work_dir / "data")), args.work_dir / "data"
    if store is not None:
        drop_url, day["seconds"]["put_into_store"] = store.put_drop(Path(day["drop_dir"]), day["key"])
        roots, data_dir = (drop_url, store.url("data")), store.backing("data")
        print(f"  drop in the store at {drop_url} ({day['seconds']['put_into_store']:.1f} s to put it there)")
    # The store serves the drop from its backend's files: those are what the platform then reads.
    warm = store.backing(f"days/{day['key']}/drops") if store is not None else day["drop_dir"]
    print(f"  drop read once before either engine is timed: {warm_page_cache(warm):.1f} s")
    home = args.airflow_home or args.work_dir / "airflow"
    scratch = args.work_dir / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    for folder in ("tmp", "spark"):
        (scratch / folder).mkdir(parents=True)
    env = airflow_env(args, home, (source_dsn, analytics_dsn), roots, scratch, store)
    ensure_airflow_db(home, env)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    out = args.out or args.work_dir / "results" / f"day-{args.events}-{stamp}.json"
    disk = DiskPeaks({"data root": data_dir, "local temporary files": scratch / "tmp",
                      "Spark local dirs": scratch / "spark"})  # fmt: skip
    store_written = store.written_bytes() if store is not None else None
    disk.start()
    try:
        dag = run_dag(args, env, out.with_suffix(".log"))
    finally:
        disk.stop.set()
        disk.join()
    if store_written is not None:
        after = store.written_bytes()
        store_written = None if after is None else after - store_written
    run, tasks = task_instances(home, dag["launched"])
    attribute(tasks, dag["samples"])
    record = run_record(analytics_dsn, run["run_id"], args.date)
    if dag["returncode"] != 0 or record.get("status") != "success":
        raise SystemExit(f"the DAG run {run['run_id']} did not succeed ({record.get('status')}, failed task "
                         f"{record.get('failed_task')}): {record.get('error')}\nlog: {out.with_suffix('.log')}")  # fmt: skip
    ref_dir = args.work_dir / "reference" / day["key"]
    ref = run_reference(args, day["drop_dir"], source_dsn, ref_dir)
    checks = {
        "counts": check_counts(record, ref),
        "files": check_files(args, run["run_id"], ref_dir, data_dir),
    }
    fig = figures(args, day, dag, run, tasks, record, ref, checks)
    fig["disk"] = {"roots": args.roots, "peak_bytes_written": disk.peaks,
                   "run_bytes_left": run_bytes(data_dir, args.date, run["run_id"])}  # fmt: skip
    if store_written is not None:
        fig["disk"]["store_bytes_written"] = store_written
    if args.cassandra_host:
        step("load_cassandra against raw concurrent inserts of the same rows, same server")
        fig["cassandra_load"] = cassandra_against_raw(args, run["run_id"], tasks)
        c = fig["cassandra_load"]
        print(f"  {c['rows']:,} rows: load_cassandra {c['load_cassandra_seconds']} s = {_num(c['sink_rows_per_second'])}"
              f" rows/s; raw {c['raw_seconds']} s = {_num(c['raw_rows_per_second'])} rows/s; ratio {c['ratio']}")  # fmt: skip
    if not args.keep_run_files:
        remove_run_files(args, run["run_id"], store)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fig, indent=2, default=str) + "\n")
    draw_chart(fig, out.with_suffix(".png"))
    print_report(fig)
    step(f"figures: {out}\n    chart:   {out.with_suffix('.png')}")
    return fig


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.chart_from:
        draw_chart(json.loads(args.chart_from.read_text()), args.chart_from.with_suffix(".png"))
        print(args.chart_from.with_suffix(".png"))
        return 0
    args.work_dir = args.work_dir.resolve()
    fig = measure(args)
    if not fig["checks"]["ok"]:
        print("\nFAILED: the platform's run and the reference disagree (see above and the JSON's checks)",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
