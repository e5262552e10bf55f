"""spark-submit entry point: the two outputs computed from `progress` (contract 4.1 and 4.2).

    spark-submit progress_outputs.py --date YYYY-MM-DD --users PATH --progress PATH \
        --daily-user-stats DIR --learning-progress DIR

`--progress` is the ISO week's extract: `daily_user_stats` keeps the rows of `--date` (inner join
with `--users`), `learning_progress` aggregates the whole week. One job for both because they read
the same input, and a spark-submit costs ~10 s of JVM and session start-up on its own. Both
output directories are replaced.
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

from analytics_jobs.io import iso_date, read_progress, read_users, write_parquet
from analytics_jobs.session import build_session
from analytics_jobs.transforms.daily_user_stats import daily_user_stats
from analytics_jobs.transforms.learning_progress import learning_progress

log = logging.getLogger("progress_outputs")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--date", type=iso_date, required=True, help="the processed day, YYYY-MM-DD")
    parser.add_argument("--users", required=True, help="Parquet file of all users")
    parser.add_argument("--progress", required=True, help="Parquet file of the ISO week's progress rows")
    parser.add_argument("--daily-user-stats", required=True, help="Parquet directory to (re)write")
    parser.add_argument("--learning-progress", required=True, help="Parquet directory to (re)write")
    return parser.parse_args(argv)


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, int]:
    """Write both outputs of `args` and return the rows written per table."""
    progress = read_progress(spark, args.progress)
    outputs = (
        (
            "daily_user_stats",
            daily_user_stats(progress, read_users(spark, args.users), args.date),
            args.daily_user_stats,
        ),
        ("learning_progress", learning_progress(progress, args.date), args.learning_progress),
    )
    written = {}
    for table, result, path in outputs:
        written[table] = write_parquet(result, path)
        log.info("%s %s: wrote %d rows to %s", table, args.date, written[table], path)
    return written


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)  # the job's own lines only, not py4j's chatter
    spark = build_session(f"progress_outputs {args.date.isoformat()}")
    try:
        run(spark, args)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
