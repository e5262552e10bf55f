"""spark-submit entry point: `page_view_stats` and `user_engagement` of one day (contract 4.2).

    spark-submit event_stats.py --date YYYY-MM-DD --events DIR --page-view-stats DIR --user-engagement DIR

`--events` holds the kept events of the day, possibly none; both outputs are replaced, and are
empty, with their schema, when there is no event.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

# spark-submit runs this file as a script: make its sibling package importable on the driver.
# The transforms use no Python UDF, so executors never import it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyspark.sql import SparkSession

from analytics_jobs.concurrency import run_side_by_side
from analytics_jobs.io import iso_date, read_events, write_parquet
from analytics_jobs.session import build_session
from analytics_jobs.transforms.page_view_stats import page_view_stats
from analytics_jobs.transforms.user_engagement import user_engagement

log = logging.getLogger("event_stats")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--date", type=iso_date, required=True, help="the processed day, YYYY-MM-DD")
    parser.add_argument("--events", required=True, help="Parquet directory of the day's kept events")
    parser.add_argument("--page-view-stats", required=True, help="Parquet directory to (re)write")
    parser.add_argument("--user-engagement", required=True, help="Parquet directory to (re)write")
    return parser.parse_args(argv)


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, int]:
    """Write both outputs of `args`, side by side, and return the rows written per table."""
    events = read_events(spark, args.events)
    outputs = {
        "page_view_stats": (page_view_stats(events, args.date), args.page_view_stats),
        "user_engagement": (user_engagement(events, args.date), args.user_engagement),
    }

    def write(table: str) -> int:
        result, path = outputs[table]
        rows = write_parquet(result, path)
        log.info("%s %s: wrote %d rows to %s", table, args.date, rows, path)
        return rows

    written = run_side_by_side(spark, *[lambda table=table: write(table) for table in outputs])
    return dict(zip(outputs, written, strict=True))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)  # the job's own lines only, not py4j's chatter
    spark = build_session(f"event_stats {args.date.isoformat()}")
    try:
        run(spark, args)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
