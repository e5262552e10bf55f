"""Ingest one day's user event drop: parse every file, apply the rejection rules, write the kept events,
the quarantine and the run's report.

    spark-submit spark_jobs/ingest_user_events.py --date YYYY-MM-DD --drop-folder DIR --users PATH \
        --events-out DIR --quarantine DIR --report PATH

Parses and judges the drop once into a scratch Parquet dataset (nothing is persisted in memory),
finds the duplicates on it, then writes the kept events, the quarantine and the report from it; line
numbers come from `analytics_jobs.drops`. Paths without a URI scheme are local files (`file://`),
whatever fs.defaultFS says. The rules are in `analytics_jobs.transforms.events` and docs/ingestion.md.

On a local disk `--quarantine` is the date's folder, replaced by a rename from the scratch. On an
object store (`s3a://`, no rename) it is the run's own prefix, written in place; the Airflow side
then publishes it (plugins/analytics_etl/publish.py), and the scratch may be anywhere (local disk).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import json
import logging
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from analytics_jobs import drops, jvm
from analytics_jobs.io import (
    dictionary_only_for,
    iso_date,
    on_object_store,
    read_parquet,
    remove_dir,
    replace_dir,
    same_filesystem,
    to_uri,
    write_text,
)
from analytics_jobs.session import build_session, session_conf
from analytics_jobs.transforms import events

log = logging.getLogger("ingest_user_events")
# Of the users, only the ids are read (for the orphan count), with the schema given: no job to infer it.
_USER_IDS = T.StructType([T.StructField("id", T.StringType())])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ingest's arguments but `--date` (daily_outputs takes the same)."""
    parser.add_argument("--drop-folder", required=True, help="<etl_drop_dir>/user_events/<D>/")
    parser.add_argument("--users", required=True, help="Parquet file of users (column id)")
    parser.add_argument("--events-out", required=True, help="Parquet directory of kept events")
    parser.add_argument("--quarantine", required=True, help="directory of rejected rows (JSON lines)")
    parser.add_argument("--report", required=True, help="JSON file: the ingest's counts")
    parser.add_argument(
        "--scratch",
        help="directory the job works in while it runs (the judged rows, the quarantine before it is "
        "moved into place): on the quarantine's filesystem when that is local, anywhere when the "
        "quarantine is on an object store (default: beside --events-out)",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, type=iso_date, help="day D, YYYY-MM-DD")
    add_arguments(parser)
    return parser.parse_args(argv)


@dataclass
class Candidates:
    rows: DataFrame  # every row of every data file, in CANDIDATE_SCHEMA
    counted: dict[str, int] = field(default_factory=dict)  # text file read in splits -> rows counted


def _csv_frame(spark: SparkSession, files: list[drops.DropFile], is_row: Column) -> tuple[DataFrame, dict]:
    text = drops.read_text_lines(spark, files, is_row)
    headers = {f.name: drops.first_line(f, spark) for f in files}
    # The header (line 1, unless blank) is not a row.
    counted = {
        name: rows - (0 if events.is_blank_text(headers[name]) else 1)
        for name, rows in text.row_counts.items()
    }
    bad = sorted(
        name for name, header in headers.items() if header is not None and not events.csv_header_ok(header)
    )
    for name in bad:
        log.warning(
            "%s: header %r is not %s; its rows are malformed",
            name,
            headers[name],
            ",".join(events.CSV_COLUMNS),
        )
    return events.parse_csv_lines(events.drop_blank_lines(text.lines), bad), counted


def candidates(spark: SparkSession, drop: drops.Drop) -> Candidates:
    """Every row of every data file of the drop, in the common candidate schema."""
    frames, counted = [], {}
    is_row = events.is_row_line(F.col("value"))
    if json_files := drop.of("jsonl"):
        text = drops.read_text_lines(spark, json_files, is_row)
        counted.update(text.row_counts)
        fast_json = jvm.FAST_JSON_EVENT if jvm.register_fast_json(spark) else None
        frames.append(events.parse_json_lines(events.drop_blank_lines(text.lines), fast_json))
    if csv_files := drop.of("csv"):
        frame, csv_counted = _csv_frame(spark, csv_files, is_row)
        counted.update(csv_counted)
        frames.append(frame)
    for group in drops.read_parquet_groups(spark, drop.of("parquet")):
        frames.append(events.normalise_parquet(group))
    rows = events.union_all(frames) if frames else spark.createDataFrame([], events.CANDIDATE_SCHEMA)
    return Candidates(rows, counted)


def write_report(report: dict, path: str | Path, spark: SparkSession | None = None) -> None:
    """Atomically: a temporary file in the same folder, then a rename over the target; on an object
    store one PUT through Hadoop's filesystem API of `spark` (an object appears whole or not at all)."""
    if on_object_store(str(path)):
        write_text(spark, str(path), json.dumps(report, indent=2) + "\n")
        return
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


def _counts(
    judged: DataFrame, losers: DataFrame, users: DataFrame
) -> tuple[list[tuple[str, str | None, int]], dict[str, int], int]:
    """(file, reason, rows) of the final verdicts, rows without a line number per file, and the
    kept events of unknown users: in one query, as every Spark query costs planning and jobs."""
    numbered = F.col("line_number").isNotNull()
    verdicts = judged.groupBy("source_file", "reason").agg(
        F.count(F.lit(1)).alias("rows"), F.count_if(~numbered).alias("unnumbered")
    )
    duplicates = (
        events.loser_rows(losers)
        .groupBy("source_file")
        .agg(
            F.lit("duplicate").alias("reason"),
            F.count(F.lit(1)).alias("rows"),
            F.lit(0).cast("long").alias("unnumbered"),
        )
    )
    kept = events.mark_duplicates(judged, losers).where(F.col("reason").isNull())
    orphans = events.orphan_events(kept, users).agg(
        F.lit(None).cast("string").alias("source_file"),
        F.lit(_ORPHANS).alias("reason"),
        F.count(F.lit(1)).alias("rows"),
        F.lit(0).cast("long").alias("unnumbered"),
    )
    rows = [
        (r["source_file"], r["reason"], int(r["rows"]), int(r["unnumbered"]))
        for r in verdicts.unionByName(duplicates).unionByName(orphans).collect()
    ]
    dropped = {name: n for name, reason, n, _ in rows if reason == "duplicate"}
    counts, unnumbered, orphan_count = [], defaultdict(int), 0
    for name, reason, n, missing in rows:
        if reason == _ORPHANS and name is None:
            orphan_count = n
        elif reason != "duplicate":  # the losers' own rows: counted out of the passing rows below
            unnumbered[name] += missing
            if reason is None and dropped.get(name):
                counts.append((name, "duplicate", dropped[name]))
                n -= dropped[name]
            counts.append((name, reason, n))
    return counts, dict(unnumbered), orphan_count


# Marks the orphan count among the rows of `_counts`' query (no file has a NULL name).
_ORPHANS = "orphan_user"


def run(spark: SparkSession, args: argparse.Namespace) -> dict:
    """Parse and judge the drop once into a scratch Parquet dataset, find the duplicates on it, then
    write the kept events, the quarantine and the report from it. Nothing is persisted in memory."""
    drop = drops.list_drop(args.drop_folder, spark)
    log.info("drop %s: %d data files %s", args.drop_folder, len(drop.files), [f.name for f in drop.files])
    if drop.ignored:
        log.info("ignored (not data files): %s", drop.ignored)
    drops.plan_splits(spark, drops.split_bytes_for(spark, drop))
    events_out, quarantine = to_uri(args.events_out), to_uri(args.quarantine)
    scratch = to_uri(getattr(args, "scratch", None) or f"{str(args.events_out).rstrip('/')}.scratch")
    in_place = on_object_store(quarantine)  # the run's own prefix, published by the Airflow side
    if not in_place and not same_filesystem(spark, scratch, quarantine):  # moved from the scratch
        raise ValueError(
            f"the scratch {scratch} and the quarantine {quarantine} are on different filesystems: "
            "pass --scratch on the quarantine's filesystem"
        )

    read = candidates(spark, drop)
    # Every row keeps its raw text in the scratch: a passing row needs it if it turns out a
    # duplicate, and carrying it costs less than reading those lines from the drop again
    # (docs/performance.md, fifth round). The kept events' reads never touch the column.
    judged = events.classify(read.rows, args.date)
    try:
        judged.write.mode("overwrite").options(**_FEW_VALUES).parquet(f"{scratch}/judged")
        judged = spark.read.parquet(f"{scratch}/judged")
        # Written, then read back: Spark then knows these are small (a few rows per duplicate) and
        # broadcasts them, instead of shuffling every passing row to join them.
        with session_conf(spark, _SMALL_SHUFFLE_PARTITIONS):
            events.repeated_id_hashes(judged).write.mode("overwrite").parquet(f"{scratch}/_repeated")
        repeated = spark.read.parquet(f"{scratch}/_repeated")
        # Written once: the counts and both outputs use the duplicates.
        events.duplicate_losers(judged, repeated).write.mode("overwrite").parquet(f"{scratch}/_losers")
        losers = spark.read.parquet(f"{scratch}/_losers")
        users = read_parquet(spark, args.users, _USER_IDS)
        counts, unnumbered, orphans = _counts(judged, losers, users)
        drops.verify_numbered(unnumbered)
        parsed: dict[str, int] = defaultdict(int)
        for name, _, rows in counts:
            parsed[name] += rows
        drops.verify_rows_read(read.counted, parsed)  # before anything is written
        marked = events.mark_duplicates(judged, losers)
        events.kept_events(marked).write.mode("overwrite").options(**_FEW_VALUES).parquet(events_out)
        # On a local disk the quarantine is per date, not per run: it is written to the scratch and
        # moved into place last, so a failure or a cancellation before that (a kept-events write that
        # fails, a side step of daily_outputs that fails) leaves an earlier run's quarantine as it was.
        # On a store it is the run's own prefix, which only a publish makes the date's.
        staged = quarantine if in_place else f"{scratch}/quarantine"
        (
            events.quarantine_rows(marked)
            .write.mode("overwrite")
            .option("ignoreNullFields", "false")
            .json(staged)
        )
        if not in_place:
            replace_dir(spark, staged, quarantine)
    finally:
        _remove(spark, scratch)

    report = events.build_report(
        args.date, [(f.name, f.format) for f in drop.files], drop.ignored, counts, orphans
    )
    write_report(report, args.report, spark)
    return report


# The columns of the scratch and the kept events with few distinct values: dictionary-encoded (the
# others are nearly unique per row, where a dictionary only costs).
_FEW_VALUES = dictionary_only_for(["source_file", "event_type", "page", "device", "reason"])

# Nearly every passing event_id is distinct: counting hashes builds a hash map of one entry per row.
# Spark's adaptive execution would merge the shuffle into a partition per 64 MB (two at 10M events),
# whose maps outgrow their memory and fall back to sorting; partitions of 4 MB keep each map small.
_SMALL_SHUFFLE_PARTITIONS = {"spark.sql.adaptive.advisoryPartitionSizeInBytes": "4m"}


def _remove(spark: SparkSession, uri: str) -> None:
    """Delete the scratch directory. A failure to clean up is logged, never raised: it must not hide
    the error that ended the job."""
    try:
        remove_dir(spark, uri)
    except Exception:
        log.exception("could not remove the scratch directory %s", uri)


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
