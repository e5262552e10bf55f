"""Peak memory of the extract task against the number of progress rows of the day.

Builds a throwaway source database on the project's PostgreSQL (scripts/postgres.sh start), fills
one ISO week with N progress rows, and runs the extract in a fresh Python process per size,
printing rows, seconds and that process's peak RSS. Memory should stay flat as N grows.

    .venv/bin/python benchmarks/extract_memory.py --rows 10000 1000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
from psycopg2 import sql

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import resource, sys, time
from pathlib import Path
import psycopg2
sys.path.insert(0, {plugins!r})
from analytics_etl.extract import extract_source
conn = psycopg2.connect({dsn!r})
t = time.perf_counter()
counts = extract_source(conn, Path({out!r}) / "u.parquet", Path({out!r}) / "p.parquet", ("2024-01-15", "2024-01-21"))
print(counts["progress_week"], round(time.perf_counter() - t, 2), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--port", default=os.environ.get("ETL_PG_PORT", "54329"))
    args = parser.parse_args()
    subprocess.run([str(REPO / "scripts" / "postgres.sh"), "start"], check=True)
    admin = psycopg2.connect(host="127.0.0.1", port=args.port, user="etl", dbname="postgres")
    admin.autocommit = True
    print(f"{'rows':>10} {'seconds':>8} {'peak RSS MiB':>13}")
    for n in args.rows:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        dsn = f"host=127.0.0.1 port={args.port} user=etl dbname={name}"
        conn = psycopg2.connect(dsn)
        with conn, conn.cursor() as cur:
            cur.execute((REPO / "sql" / "demo" / "source_schema.sql").read_text())
            cur.execute(
                "INSERT INTO users SELECT gen_random_uuid(), 'user ' || g, 'u' || g || '@example.com', 'FR', now()"
                " FROM generate_series(1, 20000) g"
            )
            cur.execute(
                "INSERT INTO progress (user_id, lesson_id, subject, date, time_spent_minutes, score, completed_at)"
                " SELECT gen_random_uuid(), gen_random_uuid(), 'math', DATE '2024-01-17', g %% 120,"
                " (g %% 10000) / 100.0, TIMESTAMPTZ '2024-01-17 12:00Z' FROM generate_series(1, %s) g",
                (n,),
            )
        conn.close()
        with tempfile.TemporaryDirectory() as out:
            code = CHILD.format(plugins=str(REPO / "plugins"), dsn=dsn, out=out)
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
            rows, seconds, rss = result.stdout.split()
            print(
                f"{int(rows):>10} {float(seconds):>8.2f} {int(rss):>13}   (process wall {time.perf_counter() - started:.1f} s)"
            )
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
    admin.close()


if __name__ == "__main__":
    main()
