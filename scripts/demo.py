"""Run `daily_analytics_etl` for one generated day on the embedded default stack and show what landed.

Called by scripts/demo.sh once the virtualenv and the PostgreSQL server are up. It starts the
project's Cassandra node (scripts/cassandra.sh) in the background while it prepares the databases and
generates the day, and waits for it before the run (`--no-cassandra`: no node, the load is skipped).
Connections and variables come from AIRFLOW_CONN_* / AIRFLOW_VAR_* environment variables: the
embedded defaults below are used only where the caller has not set them, so the same script drives
another stack. Running it again regenerates the same day (same seed) and replaces it everywhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
from psycopg2 import sql

REPO = Path(__file__).resolve().parents[1]
LOCAL = Path(os.environ.get("ETL_LOCAL_DIR", REPO / ".local"))
sys.path.insert(0, str(REPO / "plugins"))

from analytics_etl.paths import RunPaths  # noqa: E402
from analytics_etl.run_record import fetch_runs  # noqa: E402
from analytics_etl.sql import read_sql  # noqa: E402

PG_PORT = os.environ.get("ETL_PG_PORT", "54329")
CASSANDRA_PORT = os.environ.get("ETL_CASSANDRA_PORT", "19042")
# The node speaks protocol v5: naming it spares every connection the driver's two downgrade warnings.
CASSANDRA_CONN = json.dumps(
    {"conn_type": "cassandra", "host": "127.0.0.1", "port": int(CASSANDRA_PORT), "schema": "analytics",
     "extra": {"protocol_version": 5}}
)  # fmt: skip
EMBEDDED = {
    "AIRFLOW_CONN_SOURCE_POSTGRES": f"postgresql://etl@127.0.0.1:{PG_PORT}/source",
    "AIRFLOW_CONN_ANALYTICS_POSTGRES": f"postgresql://etl@127.0.0.1:{PG_PORT}/analytics",
    "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[*]"}),
    "AIRFLOW_VAR_ETL_DATA_DIR": str(LOCAL / "demo" / "data"),
    "AIRFLOW_VAR_ETL_DROP_DIR": str(LOCAL / "demo" / "drops"),
    # The generated drop is complete when the run starts: poke often, give up quickly.
    "AIRFLOW_VAR_ETL_DROP_POKE_SECONDS": "5",
    "AIRFLOW_VAR_ETL_DROP_TIMEOUT_SECONDS": "60",
    # The Spark driver's class-data archive (written by the first demo, mapped by the next ones).
    "AIRFLOW_VAR_ETL_SPARK_CDS_DIR": str(LOCAL / "spark-cds"),
}


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def ensure_database(url: str) -> None:
    """Create the database of a postgresql:// URL on its server if it does not exist yet."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(
        host=parts.hostname, port=parts.port, user=parts.username, password=parts.password, dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(read_sql("demo/database_exists.sql"), {"name": name})
        if cur.fetchone() is None:
            cur.execute(sql.SQL(read_sql("demo/create_database.sql")).format(name=sql.Identifier(name)))
    admin.close()


def run(cmd: list[str], **kwargs) -> float:
    started = time.monotonic()
    subprocess.run(cmd, check=True, **kwargs)
    return time.monotonic() - started


def start_cassandra(use_it: bool) -> subprocess.Popen | None:
    """The project's node, started in the background (its first start takes ~10 s: it overlaps the
    set-up). None when told not to, or when the caller names a Cassandra of its own."""
    if not use_it:
        print("  Cassandra: skipped (--no-cassandra): the run's Cassandra load will be skipped", flush=True)
        os.environ.pop("AIRFLOW_CONN_CASSANDRA_DEFAULT", None)
        return None
    if "AIRFLOW_CONN_CASSANDRA_DEFAULT" in os.environ:
        print("  Cassandra: the one of AIRFLOW_CONN_CASSANDRA_DEFAULT", flush=True)
        return None
    os.environ["AIRFLOW_CONN_CASSANDRA_DEFAULT"] = CASSANDRA_CONN
    print(
        f"  Cassandra: starting the project's node on 127.0.0.1:{CASSANDRA_PORT} in the background",
        flush=True,
    )
    return subprocess.Popen(
        [str(REPO / "scripts" / "cassandra.sh"), "start"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_cassandra(proc: subprocess.Popen | None) -> bool:
    if proc is None:
        return True
    out, _ = proc.communicate()
    print("  " + out.strip().replace("\n", "\n  "), flush=True)
    if proc.returncode != 0:
        print("  the Cassandra node did not start (see above); run with --no-cassandra to skip that sink")
    return proc.returncode == 0


def cassandra_rows(date: str) -> dict[str, int]:
    """Rows of the day in each Cassandra table, read back from the node (not from the run record)."""
    import logging

    from analytics_etl.cassandra.load import connected

    # The counts scan two tables on purpose: the server's warning about it is expected here.
    logging.getLogger("cassandra").setLevel(logging.ERROR)
    day = dt.date.fromisoformat(date)
    monday = day - dt.timedelta(days=day.weekday())
    with connected() as cassandra:
        return {
            table: cassandra.read(f"demo_count_{table}", (key,), lambda rows: next(rows)[0], fetch_size=1)
            for table, key in (
                ("page_view_stats", day),
                ("user_engagement", day),
                ("learning_progress", monday),
            )
        }


def report(date: str, analytics_url: str, dag_seconds: float, total_seconds: float) -> None:
    conn = psycopg2.connect(analytics_url)
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("demo/report_day.sql"), {"date": date})
        (rows,) = cur.fetchone()
        cur.execute(read_sql("demo/report_top.sql"), {"date": date})
        top = cur.fetchall()
    record = fetch_runs(conn, date)[0]
    conn.close()

    step(f"daily_user_stats for {date}: {rows} rows in analytics_postgres; top of the ranking:")
    print(f"  {'rank':>4}  {'name':<28} {'minutes':>7} {'lessons':>7} {'avg score':>9}")
    for rank, name, minutes, lessons, score in top:
        print(f"  {rank:>4}  {name:<28} {minutes:>7} {lessons:>7} {str(score):>9}")
    step("run record (etl_runs, latest run of the date)")
    for key, value in record.items():
        print(f"  {key:<19} {json.dumps(value, default=str) if isinstance(value, dict) else value}")
    paths = RunPaths.build(
        os.environ["AIRFLOW_VAR_ETL_DATA_DIR"],
        os.environ["AIRFLOW_VAR_ETL_DROP_DIR"],
        dt.date.fromisoformat(date),
        record["run_id"],
    )
    step("where to look")
    print(f"  rejected event rows:  {paths.quarantine}")
    print(f"  validation result:    {record['validation_result']}")
    print(f"  data docs:            {record['data_docs']}")
    print(f"  curated outputs:      {paths.data_dir / 'curated'}")
    print(f"  Cassandra:            {record['cassandra_status']}")
    if record["cassandra_status"] == "loaded":
        step(f"rows of {date} in each sink, read back from the sink")
        print(f"  PostgreSQL  daily_user_stats    {rows:>7}")
        for table, count in cassandra_rows(date).items():
            week = " (the week)" if table == "learning_progress" else ""
            print(f"  Cassandra   {table:<19} {count:>7}{week}")
    step(f"timings: DAG run {dag_seconds:.1f} s, whole demo {total_seconds:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--date", default="2024-01-15", help="the day to generate and process")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--progress-per-day", type=int, default=5000)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--bad-share", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-cassandra", action="store_true", help="skip the Cassandra sink (no node)")
    args = parser.parse_args()
    started = time.monotonic()
    for key, value in EMBEDDED.items():
        os.environ.setdefault(key, value)
    step("Cassandra")
    cassandra = start_cassandra(not args.no_cassandra)

    step("databases and the Airflow metadata database")
    source_url = os.environ["AIRFLOW_CONN_SOURCE_POSTGRES"]
    analytics_url = os.environ["AIRFLOW_CONN_ANALYTICS_POSTGRES"]
    for url in (source_url, analytics_url):
        ensure_database(url)
    run(["airflow", "db", "migrate"], stdout=subprocess.DEVNULL)

    step(f"generating {args.date} into the source database and the drop folder")
    run(
        [
            sys.executable,
            str(REPO / "scripts" / "generate_day.py"),
            "--date",
            args.date,
            "--source-dsn",
            source_url,
            "--drop-dir",
            os.environ["AIRFLOW_VAR_ETL_DROP_DIR"],
            "--users",
            str(args.users),
            "--progress-per-day",
            str(args.progress_per_day),
            "--events",
            str(args.events),
            "--bad-share",
            str(args.bad_share),
            "--seed",
            str(args.seed),
        ]
    )

    if not wait_for_cassandra(cassandra):
        return 1
    step(f'airflow dags test daily_analytics_etl --conf \'{{"date": "{args.date}"}}\'')
    log_path = LOCAL / "demo" / "last_dag_run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        try:
            dag_seconds = run(
                ["airflow", "dags", "test", "daily_analytics_etl", "--conf", json.dumps({"date": args.date})],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except subprocess.CalledProcessError:
            print(f"the DAG run failed; its log: {log_path}\n" + "".join(open(log_path).readlines()[-40:]))
            return 1
    print(f"  succeeded; full log: {log_path}")
    report(args.date, analytics_url, dag_seconds, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
