"""Throughput of the event ingest: a deterministic mixed-format drop run through spark-submit.

    python benchmarks/ingest_throughput.py [--events 1000000] [--master 'local[*]'] [--keep DIR]

Writes the drop under a temporary folder (about 40% plain JSON lines, 20% gzip JSON lines, 15% CSV,
10% gzip CSV, 15% Parquet; ~2% faulty rows and ~1% duplicates), runs
`spark_jobs/ingest_user_events.py` with spark-submit and prints the wall time of the whole
spark-submit (JVM start included) and events read per second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
JOB = REPO / "spark_jobs" / "ingest_user_events.py"
DAY = dt.date(2024, 1, 15)
TYPES = ("page_view", "click", "session_start", "session_end")
PAGES = [f"/course/{i}/lesson" for i in range(200)] + ["/search?q=a,b", '/say "hi"', "/café"]
DEVICES = ("desktop", "mobile", "tablet")
SHARES = (
    ("jsonl", 0.40, 4),
    ("jsonl.gz", 0.20, 2),
    ("csv", 0.15, 2),
    ("csv.gz", 0.10, 1),
    ("parquet", 0.15, 2),
)


def _events(rng: random.Random, n: int, users: list[str]) -> list[dict]:
    midnight = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC)
    out = []
    for _ in range(n):
        kind = TYPES[rng.randrange(4)]
        ts = midnight + dt.timedelta(seconds=rng.randrange(86400), microseconds=rng.randrange(1000) * 1000)
        eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if rng.random() < 0.01 and out:  # a duplicate of an earlier event
            eid = out[rng.randrange(len(out))]["event_id"]
        event = {
            "event_id": eid,
            "event_type": kind,
            "user_id": users[rng.randrange(len(users))],
            "timestamp": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "page": PAGES[rng.randrange(len(PAGES))]
            if kind in ("page_view", "click") or rng.random() < 0.5
            else None,
            "duration_ms": rng.randrange(600000) if kind != "session_start" else None,
            "device": DEVICES[rng.randrange(3)],
        }
        fault = rng.random()
        if fault < 0.005:
            event["event_type"] = "purchase"
        elif fault < 0.010:
            event["timestamp"] = event["timestamp"][:-1]  # no zone
        elif fault < 0.015:
            event["duration_ms"] = -1
        elif fault < 0.020:
            event["timestamp"] = "2024-01-16T00:00:00Z"
        out.append(event)
    return out


def _json_line(e: dict) -> str:
    props = {k: e[k] for k in ("page", "duration_ms", "device") if e[k] is not None}
    doc = {k: e[k] for k in ("event_id", "event_type", "user_id", "timestamp")} | {"properties": props}
    return json.dumps(doc)


def _csv_line(e: dict) -> str:
    def field(v: object) -> str:
        text = "" if v is None else str(v)
        return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text

    return ",".join(
        field(e[k])
        for k in ("event_id", "event_type", "user_id", "timestamp", "page", "duration_ms", "device")
    )


def write_drop(folder: Path, total: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    users = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(10000)]
    folder.mkdir(parents=True)
    for fmt, share, files in SHARES:
        per_file = int(total * share) // files
        for k in range(files):
            events = _events(rng, per_file, users)
            path = folder / f"events-{fmt.replace('.', '-')}-{k}.{fmt}"
            if fmt.startswith("jsonl"):
                text = "\n".join(_json_line(e) for e in events) + "\n"
            elif fmt.startswith("csv"):
                header = "event_id,event_type,user_id,timestamp,page,duration_ms,device"
                text = "\n".join([header, *(_csv_line(e) for e in events)]) + "\n"
            if fmt.endswith(".gz"):
                with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
                    out.write(text)
            elif fmt == "parquet":
                props = [{k: e[k] for k in ("page", "duration_ms", "device")} for e in events]
                table = pa.table(
                    {k: [e[k] for e in events] for k in ("event_id", "event_type", "user_id", "timestamp")}
                    | {"properties": props}
                )
                pq.write_table(table, path)
            else:
                path.write_text(text, encoding="utf-8")
    (folder / "_SUCCESS").write_bytes(b"")
    return users


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240115)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--keep", help="write under this folder and keep it (default: a temp dir)")
    args = parser.parse_args()

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    drop = root / "user_events" / DAY.isoformat()
    started = time.monotonic()
    users = write_drop(drop, args.events, args.seed)
    pq.write_table(pa.table({"id": users[:9000]}), root / "users.parquet")  # 10% of users unknown
    size = sum(p.stat().st_size for p in drop.iterdir())
    print(f"drop: {args.events} events, {size / 1e6:.0f} MB in {time.monotonic() - started:.0f} s: {drop}")

    spark_home = os.environ.get("SPARK_HOME") or str(Path(__import__("pyspark").__file__).parent)
    command = [
        f"{spark_home}/bin/spark-submit",
        "--master",
        args.master,
        "--driver-memory",
        args.driver_memory,
        "--conf",
        "spark.ui.enabled=false",
        str(JOB),
        *("--date", DAY.isoformat(), "--drop-folder", str(drop), "--users", str(root / "users.parquet")),
        *("--events-out", str(root / "out" / "events"), "--quarantine", str(root / "out" / "quarantine")),
        *("--report", str(root / "out" / "report.json")),
    ]
    env = {**os.environ, "SPARK_HOME": spark_home, "PYSPARK_PYTHON": sys.executable}
    started = time.monotonic()
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        print(proc.stdout[-5000:])
        return proc.returncode
    report = json.loads((root / "out" / "report.json").read_text())
    print(
        json.dumps(
            {k: report[k] for k in ("rows_read", "rows_kept", "rows_rejected", "rejected", "orphan_user")}
        )
    )
    print(f"wall time (spark-submit, JVM start included): {wall:.1f} s")
    print(f"throughput: {report['rows_read'] / wall:,.0f} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
