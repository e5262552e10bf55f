#!/usr/bin/env python
"""Deterministic demo / benchmark data for one day: the source PostgreSQL and the event file drop.

    python scripts/generate_day.py --date 2024-01-15 \\
        --source-dsn "postgresql://etl@127.0.0.1:54329/source" --drop-dir .local/drops \\
        [--users 2000] [--progress-per-day 5000] [--events 20000] [--bad-share 0.02] [--seed 42]

Replaces `users` and `progress` (Monday of D's ISO week up to D) in the source database, creating the
database and the schema (sql/demo/source_schema.sql) if missing, and replaces
<drop-dir>/user_events/<D>/ with six event files and `_SUCCESS`. The same arguments give the same rows
and byte-identical files. Prints a JSON summary of what was planted (not a prediction of what the
platform will count), the time taken and the peak memory. The logic is analytics_etl.demo_data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import resource
import sys
import time
from pathlib import Path

# The generator sits beside this script; it reads its statements through the platform's sql module.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "plugins")]

from demo_data import DayConfig, build_population, load_source, summary, write_event_drop  # noqa: E402


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
    parser.add_argument("--drop-dir", type=Path, required=True, help="root of the file drops (etl_drop_dir)")
    parser.add_argument("--users", type=_positive, default=2000)
    parser.add_argument("--progress-per-day", type=_count, default=5000)
    parser.add_argument("--events", type=_count, default=20000, help="rows in the drop, bad ones included")
    parser.add_argument("--bad-share", type=_share, default=0.02)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = DayConfig(date=args.date, users=args.users, progress_per_day=args.progress_per_day,
                    events=args.events, bad_share=args.bad_share, seed=args.seed)  # fmt: skip
    started = time.perf_counter()
    pop = build_population(cfg)
    progress = load_source(args.source_dsn, cfg, pop)
    loaded = time.perf_counter()
    print(f"source loaded: {sum(progress.rows_per_day.values())} progress rows in {loaded - started:.1f} s, "
          f"peak RSS {_peak_rss_mb()} MB", file=sys.stderr)  # fmt: skip
    events = write_event_drop(cfg, pop, args.drop_dir)
    done = time.perf_counter()
    print(f"drop written: {cfg.events} event rows in {done - loaded:.1f} s, peak RSS {_peak_rss_mb()} MB",
          file=sys.stderr)  # fmt: skip
    out = summary(cfg, pop, progress, events)
    out["runtime"] = {"source_seconds": round(loaded - started, 2), "drop_seconds": round(done - loaded, 2),
                      "peak_rss_mb": _peak_rss_mb()}  # fmt: skip
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
