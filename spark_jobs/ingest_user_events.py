"""Ingest one day's user event drop: parse every file, apply the rejection rules, write the kept events,
the quarantine and the run's report.

    spark-submit spark_jobs/ingest_user_events.py --date YYYY-MM-DD --drop-folder DIR --users PATH \
        --events-out DIR --quarantine DIR --report PATH

Reads each text file of the drop once into a persisted scan, which is used to number the lines and
then to parse them; the parsed and judged rows are persisted and feed the report counts, the kept
events and the quarantine. Paths without a URI scheme are local files (`file://`), whatever
fs.defaultFS says. The rules are in `analytics_jobs.transforms.events` and docs/ingestion.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import datetime as dt
import json
import logging
import os
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from analytics_jobs import drops
from analytics_jobs.io import to_uri
from analytics_jobs.session import build_session
from analytics_jobs.transforms import events

log = logging.getLogger("ingest_user_events")


def _date(text: str) -> dt.date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise argparse.ArgumentTypeError(f"--date {text!r} is not YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--date {text!r} is not a calendar date") from exc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, type=_date, help="day D, YYYY-MM-DD")
    parser.add_argument("--drop-folder", required=True, help="<etl_drop_dir>/user_events/<D>/")
    parser.add_argument("--users", required=True, help="Parquet file of users (column id)")
    parser.add_argument("--events-out", required=True, help="Parquet directory of kept events")
    parser.add_argument("--quarantine", required=True, help="directory of rejected rows (JSON lines)")
    parser.add_argument("--report", required=True, help="JSON file: the ingest's counts")
    return parser.parse_args(argv)


@dataclass
class Candidates:
    rows: DataFrame  # every row of every data file, in CANDIDATE_SCHEMA
    counted: dict[str, int]  # text file -> rows counted by the line-numbering pass
    texts: list[drops.TextLines] = field(default_factory=list)  # persisted scans, to unpersist

    def unpersist(self) -> None:
        for text in self.texts:
            text.unpersist()


def candidates(spark: SparkSession, drop: drops.Drop) -> Candidates:
    """Every row of every data file of the drop, in the common candidate schema."""
    frames, counted, texts = [], {}, []
    json_files, csv_files = drop.of("jsonl"), drop.of("csv")
    is_row = events.is_row_line(F.col("value"))
    try:
        if json_files:
            text = drops.read_text_lines(spark, json_files, is_row)
            texts.append(text)
            counted.update(text.row_counts)
            frames.append(events.parse_json_lines(events.drop_blank_lines(text.lines)))
        if csv_files:
            text = drops.read_text_lines(spark, csv_files, is_row)
            texts.append(text)
            # The header (line 1, unless blank) is not a row.
            counted.update(
                (name, rows - (0 if events.is_blank_text(text.first_lines[name]) else 1))
                for name, rows in text.row_counts.items()
            )
            bad = sorted(
                name
                for name, first in text.first_lines.items()
                if text.line_counts[name] > 1 and not events.csv_header_ok(first)
            )
            for name in bad:
                log.warning(
                    "%s: header %r is not %s; its rows are malformed",
                    name,
                    text.first_lines[name],
                    ",".join(events.CSV_COLUMNS),
                )
            frames.append(events.parse_csv_lines(events.drop_blank_lines(text.lines), bad))
        frames.extend(
            events.normalise_parquet(g) for g in drops.read_parquet_groups(spark, drop.of("parquet"))
        )
    except BaseException:
        for text in texts:
            text.unpersist()
        raise
    rows = events.union_all(frames) if frames else spark.createDataFrame([], events.CANDIDATE_SCHEMA)
    return Candidates(rows, counted, texts)


def write_report(report: dict, path: str | Path) -> None:
    """Atomically: a temporary file in the same folder, then a rename over the target."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(spark: SparkSession, args: argparse.Namespace) -> dict:
    # Let adaptive execution size the partitions of the persisted result (200 tiny tasks per
    # action otherwise on a small drop, too few on a big one).
    spark.conf.set("spark.sql.optimizer.canChangeCachedPlanOutputPartitioning", "true")
    drop = drops.list_drop(args.drop_folder)
    log.info("drop %s: %d data files %s", args.drop_folder, len(drop.files), [f.name for f in drop.files])
    if drop.ignored:
        log.info("ignored (not data files): %s", drop.ignored)

    events_out, quarantine = to_uri(args.events_out), to_uri(args.quarantine)
    read = candidates(spark, drop)
    judged = events.mark_duplicates(events.classify(read.rows, args.date))
    judged = judged.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = events.report_counts(events.count_by_file_and_reason(judged).collect())
        parsed: dict[str, int] = defaultdict(int)
        for name, _, rows in counts:
            parsed[name] += rows
        drops.verify_rows_read(read.counted, parsed)  # before anything is written
        kept = events.kept_events(judged)
        kept.write.mode("overwrite").parquet(events_out)
        (
            events.quarantine_rows(judged)
            .write.mode("overwrite")
            .option("ignoreNullFields", "false")
            .json(quarantine)
        )
        users = spark.read.parquet(to_uri(args.users))
        orphans = events.orphan_events(spark.read.parquet(events_out), users).count()
    finally:
        judged.unpersist()
        read.unpersist()

    report = events.build_report(
        args.date, [(f.name, f.format) for f in drop.files], drop.ignored, counts, orphans
    )
    write_report(report, args.report)
    return report


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    started = time.monotonic()
    spark = build_session(f"ingest_user_events_{args.date.isoformat()}")
    try:
        report = run(spark, args)
    finally:
        spark.stop()
    log.info(
        "%s: read %d, kept %d, rejected %d %s, orphan_user %d in %.1f s",
        report["date"],
        report["rows_read"],
        report["rows_kept"],
        report["rows_rejected"],
        report["rejected"],
        report["orphan_user"],
        time.monotonic() - started,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
