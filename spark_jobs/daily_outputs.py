"""spark-submit entry point: everything Spark computes for day D, in one application.

    spark-submit daily_outputs.py --date YYYY-MM-DD --drop-folder DIR --users PATH --progress PATH
        --events-out DIR --quarantine DIR --report PATH
        --daily-user-stats DIR --learning-progress DIR --page-view-stats DIR --user-engagement DIR
        [--scratch DIR] [--error-file PATH]

Runs the three jobs (`ingest_user_events`, `event_stats`, `progress_outputs`) in one application: a
spark-submit costs seconds of JVM and session start-up before any work, so one application per day
instead of three. Each job keeps its own entry point for running it alone. The progress outputs
need nothing of the events, so they run in a thread of their own beside the ingest, in a session of
their own (the ingest changes its session's split settings): their planning overlaps the ingest's
tasks, and their tasks take a core the ingest leaves idle (docs/performance.md, eighth round).

On failure it prints one line naming the cause (the file and the fault for an unreadable input),
writes it with whether a retry could help to `--error-file`, and exits non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path

# spark-submit runs this file as a script: make its sibling package and modules importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import logging
import time

import event_stats
import ingest_user_events
import progress_outputs
from pyspark.sql import SparkSession

from analytics_jobs.concurrency import run_side_by_side
from analytics_jobs.failures import describe, write_error_file
from analytics_jobs.io import iso_date
from analytics_jobs.session import build_session

log = logging.getLogger("daily_outputs")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--date", type=iso_date, required=True, help="the processed day, YYYY-MM-DD")
    ingest_user_events.add_arguments(parser)
    parser.add_argument("--progress", required=True, help="Parquet file of the ISO week's progress rows")
    for table in ("daily-user-stats", "learning-progress", "page-view-stats", "user-engagement"):
        parser.add_argument(f"--{table}", required=True, help="Parquet directory to (re)write")
    parser.add_argument(
        "--error-file", help="JSON file written on failure: the cause, and if a retry could help"
    )
    return parser.parse_args(argv)


def _timed(step: str, job, spark: SparkSession, args: argparse.Namespace):
    started = time.monotonic()
    result = job.run(spark, args)
    log.info("%s done in %.1f s", step, time.monotonic() - started)
    return result


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, int]:
    """The ingest, then the event outputs from its kept events; beside them, the progress outputs.
    Returns the rows written per output table."""

    def events_side() -> dict[str, int]:
        _timed("ingest", ingest_user_events, spark, args)
        with_events = argparse.Namespace(**vars(args), events=args.events_out)
        return _timed("event outputs", event_stats, spark, with_events)

    progress = spark.newSession()  # its own SQL settings: the ingest sets its session's split sizes
    event_written, progress_written = run_side_by_side(
        spark, events_side, lambda: _timed("progress outputs", progress_outputs, progress, args)
    )
    return {**event_written, **progress_written}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    spark = build_session(f"daily_outputs {args.date.isoformat()}")
    try:
        written = run(spark, args)
    except Exception as error:  # reduced to one line for the task log, etl_runs and the alert
        failure = describe(error)
        log.error(
            "FAILED (%s): %s",
            "deterministic" if failure.deterministic else "may be transient",
            failure.message,
        )
        write_error_file(args.error_file, failure)
        return 1
    finally:
        spark.stop()
    log.info("%s: wrote %s", args.date, written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
