"""spark-submit entry point: `daily_user_stats` of one day (contract 4.1).

    spark-submit daily_user_stats.py --date YYYY-MM-DD --users PATH --progress PATH --output DIR

`--progress` is the ISO week's extract; the job keeps the rows of `--date`. `--output` is replaced.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

# spark-submit runs this file as a script: make its sibling package importable on the driver.
# The transforms use no Python UDF, so executors never import it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics_jobs.io import iso_date, read_progress, read_users, write_parquet
from analytics_jobs.session import build_session
from analytics_jobs.transforms.daily_user_stats import daily_user_stats

log = logging.getLogger("daily_user_stats")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--date", type=iso_date, required=True, help="the processed day, YYYY-MM-DD")
    parser.add_argument("--users", required=True, help="Parquet file of all users")
    parser.add_argument("--progress", required=True, help="Parquet file of the ISO week's progress rows")
    parser.add_argument("--output", required=True, help="Parquet directory to (re)write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)  # the job's own lines only, not py4j's chatter
    spark = build_session(f"daily_user_stats {args.date.isoformat()}")
    try:
        result = daily_user_stats(
            read_progress(spark, args.progress), read_users(spark, args.users), args.date
        )
        rows = write_parquet(result, args.output)
        log.info("daily_user_stats %s: wrote %d rows to %s", args.date, rows, args.output)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
