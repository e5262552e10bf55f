#!/usr/bin/env python
"""Deterministic demo / benchmark data for one day: the source PostgreSQL and the event file drop.

    python scripts/generate_day.py --date 2024-01-15 \\
        --source-dsn "postgresql://etl@127.0.0.1:54329/source" --drop-dir .local/drops \\
        [--users 2000] [--progress-per-day 5000 | --progress-week N] [--events 20000]
        [--bad-share 0.02] [--seed 42] [--layout demo|benchmark] [--duplicate-share 0.01] [--jobs 2]
        [--fresh]

Adds D to the source database, creating the database and the schema (sql/demo/source_schema.sql) if
missing: D's `progress` rows are replaced, the days of D's ISO week before D that hold none yet are
written too (the platform extracts the week so far), every other day is kept as it is, and the
generated `users` are merged in (the users other days point at stay). So a week is prepared by one
call per day. `--fresh` empties `users` and `progress` first: the source then holds Monday..D only.
Replaces <drop-dir>/user_events/<D>/ with the event files and `_SUCCESS`. A `--drop-dir` of `s3://bucket/prefix`
puts them into an object store, `_SUCCESS` last, through boto3's own settings (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: `scripts/stack.sh generate-day` sets them for the stack's
store). The same arguments give the same rows
and byte-identical files (whatever --jobs). Prints a JSON summary of what was planted (not a
prediction of what the platform will count), the time taken and the peak memory. The logic is
scripts/demo_data.py.

Layouts: `demo` (the default) writes six files, one per format variant, with `--bad-share` of the
rows faulty, duplicates included. `benchmark` writes eleven files shaped like a production drop (40%
JSON lines, 20% gzip JSON lines, 15% CSV, 10% gzip CSV, 15% Parquet, by rows), with `--bad-share` of
the rows faulty over every other reason (the issue-10 rules included: a user_id that is not a UUID, a
page over 2,048 bytes) plus `--duplicate-share` later copies in another format, one process per file
(`--jobs`). `--omit-fault NAME` leaves one kind of faulty row out (benchmark layout).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

# The generator sits beside this script; it reads its statements through the platform's sql module.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "plugins")]

from demo_data import (  # noqa: E402
    BENCHMARK_VARIANTS,
    DayConfig,
    build_population,
    load_source,
    summary,
    write_benchmark_drop,
    write_event_drop,
)


def _date(text: str) -> dt.date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a calendar date YYYY-MM-DD: {text!r}") from None


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 0.5:
        raise argparse.ArgumentTypeError(f"must be between 0 and 0.5, got {text}")
    return value


def _count(text: str, minimum: int = 0) -> int:
    value = int(text)
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
    return value


def _positive(text: str) -> int:
    return _count(text, minimum=1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", type=_date, required=True, help="day D, YYYY-MM-DD")
    parser.add_argument("--source-dsn", required=True, help="libpq DSN or URI of the source database")
    parser.add_argument(
        "--drop-dir",
        required=True,
        help="root of the file drops (etl_drop_dir): a folder or s3://bucket/prefix",
    )
    parser.add_argument("--users", type=_positive, default=2000)
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress-per-day", type=_count, default=5000)
    progress.add_argument(
        "--progress-week", type=_count, help="rows from Monday to D in total, spread evenly"
    )
    parser.add_argument("--events", type=_count, default=20000, help="rows in the drop, bad ones included")
    parser.add_argument("--bad-share", type=_share, default=0.02)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--layout", choices=("demo", "benchmark"), default="demo")
    parser.add_argument("--duplicate-share", type=_share, default=0.01, help="benchmark layout only")
    parser.add_argument(
        "--jobs", type=_positive, default=1, help="processes writing files (benchmark layout)"
    )
    parser.add_argument("--fresh", action="store_true",
                        help="empty users and progress first (default: add D to what the source holds)")  # fmt: skip
    parser.add_argument("--omit-fault", action="append", default=[], choices=sorted(BENCHMARK_VARIANTS),
                        metavar="NAME", help="a faulty-row variant not to plant (benchmark layout; repeatable)")  # fmt: skip
    return parser.parse_args(argv)


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # Linux: KiB


def upload_drop(folder: Path, url: str, day: dt.date) -> None:
    """The day's files into `url`/user_events/<D>/ on an object store, replacing what was there,
    with `_SUCCESS` last: a sensor that sees the flag sees every file."""
    import boto3

    parts = urlsplit(url)
    prefix = "/".join(p for p in (parts.path.strip("/"), "user_events", day.isoformat()) if p) + "/"
    s3 = boto3.client("s3")
    old = s3.list_objects_v2(Bucket=parts.netloc, Prefix=prefix).get("Contents", [])
    for obj in old:
        s3.delete_object(Bucket=parts.netloc, Key=obj["Key"])
    files = sorted(folder.iterdir(), key=lambda f: f.name == "_SUCCESS")
    for file in files:
        s3.upload_file(str(file), parts.netloc, prefix + file.name)
    print(f"drop put into s3://{parts.netloc}/{prefix}: {len(files)} objects", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = DayConfig(date=args.date, users=args.users, progress_per_day=args.progress_per_day,
                    events=args.events, bad_share=args.bad_share, seed=args.seed,
                    progress_week=args.progress_week)  # fmt: skip
    started = time.perf_counter()
    pop = build_population(cfg)
    progress = load_source(args.source_dsn, cfg, pop, fresh=args.fresh)
    loaded = time.perf_counter()
    print(f"source loaded: {sum(progress.rows_per_day.values())} progress rows in {loaded - started:.1f} s, "
          f"peak RSS {_peak_rss_mb()} MB", file=sys.stderr)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="drop-") as scratch:
        on_store = urlsplit(args.drop_dir).scheme in ("s3", "s3a")
        drop_dir = Path(scratch) if on_store else Path(args.drop_dir)
        if args.layout == "benchmark":
            events = write_benchmark_drop(
                cfg, pop, drop_dir, args.duplicate_share, args.jobs, args.omit_fault
            )
        else:
            events = write_event_drop(cfg, pop, drop_dir)
        if on_store:
            upload_drop(drop_dir / "user_events" / cfg.date.isoformat(), args.drop_dir, cfg.date)
    done = time.perf_counter()
    print(f"drop written: {cfg.events} event rows in {done - loaded:.1f} s, peak RSS {_peak_rss_mb()} MB",
          file=sys.stderr)  # fmt: skip
    out = summary(cfg, pop, progress, events)
    if args.layout == "benchmark":
        out["layout"] = {"name": "benchmark", "duplicate_share": args.duplicate_share,
                         "omitted_faults": sorted(args.omit_fault)}  # fmt: skip
    out["runtime"] = {"source_seconds": round(loaded - started, 2), "drop_seconds": round(done - loaded, 2),
                      "peak_rss_mb": _peak_rss_mb(),
                      "peak_rss_mb_writer_processes": _peak_rss_mb(resource.RUSAGE_CHILDREN)}  # fmt: skip
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
