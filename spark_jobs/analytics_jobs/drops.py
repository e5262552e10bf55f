"""Reading one day's event drop: which files are data, and their rows with file name and line number.

Spark's JSON and CSV readers forget where a row came from, and a plain text file is split across
tasks, so line numbers are rebuilt here without collecting rows and without a shuffle:

1. the text of the files is scanned once and persisted (memory and disk), each line with its split
   (`_metadata.file_block_start`) and its position (`monotonically_increasing_id`);
2. a light pass over that persisted scan (no parsing) counts the lines of every split and notes the
   position of its first line; one row per split, collected to the driver, which adds up the lines
   before each split of a file;
3. the real pass joins that small table (broadcast) back onto the same persisted scan: a line's
   number is the lines before its split + its position in the split + 1. The rows of one split are
   contiguous in one task and in file order.

Both passes read the same persisted partitions, so they see the same splits and positions whatever
the split planning would decide the second time (on a cluster it depends on the default parallelism,
which grows as executors register). A lost cached block is recomputed from the same file split. As
a last guard the caller compares the rows parsed per file with `TextLines.row_counts`
(`verify_rows_read`) and fails the run if a line was lost or doubled.

Parquet needs none of this: `_metadata.row_index` is the row's position in its file.

The drop folder is read with Python's filesystem calls: like `etl_data_dir`, `etl_drop_dir` is a
filesystem that the driver and the executors see at the same path.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

# Data file suffixes (case-sensitive, as the producer writes them) and the reader that takes them.
FORMATS = {".jsonl.gz": "jsonl", ".jsonl": "jsonl", ".csv.gz": "csv", ".csv": "csv", ".parquet": "parquet"}
_GLOB_CHARS = re.compile(r"([\\*?\[\]{}])")


@dataclass(frozen=True)
class DropFile:
    name: str
    path: Path
    format: str  # the suffix without its dot: jsonl, jsonl.gz, csv, csv.gz, parquet
    size: int

    @property
    def reader(self) -> str:
        """jsonl, csv or parquet."""
        return FORMATS["." + self.format]

    @property
    def uri(self) -> str:
        """A Hadoop path for this file: explicit local scheme, glob characters escaped."""
        return "file://" + _GLOB_CHARS.sub(r"\\\1", str(self.path))


@dataclass(frozen=True)
class Drop:
    files: list[DropFile] = field(default_factory=list)  # in name order
    ignored: list[str] = field(default_factory=list)  # in name order; folders end with "/"

    def of(self, reader: str) -> list[DropFile]:
        """Files of one reader that hold bytes (an empty file has no rows and is not read)."""
        return [f for f in self.files if f.reader == reader and f.size > 0]


def _format_of(name: str) -> str | None:
    if name.startswith((".", "_")):  # hidden files and markers such as _SUCCESS
        return None
    for suffix in FORMATS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix[1:]
    return None


def list_drop(folder: str | Path) -> Drop:
    """The data files of a drop folder and the names it ignores. A missing folder is an error."""
    root = Path(folder).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"drop folder {root} does not exist or is not a folder")
    files, ignored = [], []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        fmt = _format_of(entry.name) if entry.is_file() else None
        if fmt is None:
            ignored.append(entry.name + ("/" if entry.is_dir() else ""))
        else:
            files.append(DropFile(entry.name, entry, fmt, entry.stat().st_size))
    return Drop(files, ignored)


# -- text files -----------------------------------------------------------------------------------
_SPLIT_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType(), False),
        T.StructField("block_start", T.LongType(), False),
        T.StructField("first_pos", T.LongType(), False),
        T.StructField("lines_before", T.LongType(), False),
    ]
)


@dataclass(frozen=True)
class TextLines:
    lines: DataFrame  # source_file, line_number (1-based physical line), value
    first_lines: dict[str, str]  # file name -> its first line (a CSV file's header)
    line_counts: dict[str, int]  # file name -> physical lines
    row_counts: dict[str, int]  # file name -> lines that are rows (`is_row`; all lines without it)
    scan: DataFrame | None = None  # the persisted scan `lines` reads; `unpersist` when done

    def unpersist(self) -> None:
        """Drop the persisted scan. Only once every result computed from `lines` is materialised
        or no longer needed (a persisted result built on it would otherwise be recomputed)."""
        if self.scan is not None:
            self.scan.unpersist()


class LineCountError(RuntimeError):
    """Rows were lost or doubled between counting a file's lines and parsing them."""


def _scan(spark: SparkSession, files: list[DropFile]) -> DataFrame:
    return spark.read.text([f.uri for f in files]).select(
        F.col("_metadata.file_name").alias("source_file"),
        F.col("_metadata.file_block_start").alias("block_start"),
        F.monotonically_increasing_id().alias("pos"),
        F.col("value"),
    )


def read_text_lines(spark: SparkSession, files: list[DropFile], is_row: Column | None = None) -> TextLines:
    """The lines of JSON-lines or CSV files (plain or gzip) with their 1-based line numbers.

    `is_row` (a condition on the column `value`) says which lines `row_counts` counts. The scan
    stays persisted until `TextLines.unpersist`.
    """
    if not files:
        empty = spark.createDataFrame([], "source_file string, line_number long, value string")
        return TextLines(empty, {}, {}, {})
    scan = _scan(spark, files).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        splits = (
            scan.groupBy("source_file", "block_start")
            .agg(
                F.count(F.lit(1)).alias("lines"),
                F.count_if(F.lit(True) if is_row is None else is_row).alias("rows"),
                F.min("pos").alias("first_pos"),
                F.min_by("value", "pos").alias("first_line"),
            )
            .collect()
        )
    except BaseException:
        scan.unpersist()
        raise
    offsets, first_lines, line_counts, row_counts = [], {}, defaultdict(int), defaultdict(int)
    for split in sorted(splits, key=lambda r: (r["source_file"], r["block_start"])):
        name = split["source_file"]
        offsets.append((name, split["block_start"], split["first_pos"], line_counts[name]))
        first_lines.setdefault(name, split["first_line"])
        line_counts[name] += split["lines"]
        row_counts[name] += split["rows"]
    table = F.broadcast(spark.createDataFrame(offsets, _SPLIT_SCHEMA))
    lines = scan.join(table, ["source_file", "block_start"]).select(
        "source_file",
        (F.col("lines_before") + F.col("pos") - F.col("first_pos") + 1).alias("line_number"),
        "value",
    )
    return TextLines(lines, first_lines, dict(line_counts), dict(row_counts), scan)


def verify_rows_read(counted: Mapping[str, int], parsed: Mapping[str, int]) -> None:
    """Fail unless every file of `counted` (rows counted by the first pass) has exactly as many rows
    in `parsed` (rows that came out of parsing). A difference means lines were lost or doubled on
    the way, and the run's counts would be silently wrong."""
    wrong = {
        name: (n, parsed.get(name, 0)) for name, n in sorted(counted.items()) if parsed.get(name, 0) != n
    }
    if wrong:
        detail = "; ".join(f"{name}: {n} counted, {m} parsed" for name, (n, m) in wrong.items())
        raise LineCountError(
            f"rows lost or doubled between counting and parsing the drop's text files ({detail}); "
            "nothing is written, rerun the ingest"
        )


# -- parquet --------------------------------------------------------------------------------------
def read_parquet_groups(spark: SparkSession, files: list[DropFile]) -> list[DataFrame]:
    """Parquet files, one DataFrame per distinct schema (struct or map `properties`, string or
    timestamp `timestamp`...), each with source_file and line_number (1-based row number)."""
    groups: dict[str, list[DropFile]] = defaultdict(list)
    for f in files:
        groups[spark.read.parquet(f.uri).schema.json()].append(f)
    frames = []
    for members in groups.values():
        frame = spark.read.parquet(*[f.uri for f in members])
        frames.append(
            frame.select(
                "*",
                F.col("_metadata.file_name").alias("source_file"),
                (F.col("_metadata.row_index") + 1).alias("line_number"),
            )
        )
    return frames
