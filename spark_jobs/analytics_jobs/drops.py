"""Reading one day's event drop: which files are data, and their rows with file name and line number.

Spark's JSON and CSV readers forget where a row came from, and a plain text file is split across
tasks, so line numbers are rebuilt here without collecting rows, without a Python UDF, without a
shuffle and without persisting anything (a persisted scan of a 10-million-event drop does not fit a
default 1 GB driver):

1. the file scan is planned with **one split per partition** (`spark.sql.files.openCostInBytes` at
   least the split size, so Spark never packs two splits into one task). A line's position inside
   its split is then the low 33 bits of `monotonically_increasing_id()` (the row's index in its
   partition), whatever partition the split lands in;
2. a split starting at byte 0 has no lines before it. Only plain (uncompressed) files larger than
   one split have later splits: a light count pass over just those files (no parsing) gives the
   lines of each split, and the driver adds up the lines before each one;
3. the parsing pass joins that small table (broadcast) onto its own scan: a line's number is the
   lines before its split + its position in the split + 1.

The split size is `spark.sql.files.maxPartitionBytes` as set in the session (`plan_splits` fixes both
settings; the ingest first raises it with `split_bytes_for`, so that a drop is never cut in more
splits than there are cores), so both passes plan the same splits; a split the count pass did not
see leaves its lines without a number, and `verify_rows_read` fails the run rather than guess. Gzip
files are one split each and need no count pass.

Parquet needs none of this: `_metadata.row_index` is the row's position in its file.

A local drop folder is listed (and a CSV file's header line read) with Python's filesystem calls:
a local `etl_drop_dir` is a filesystem that the driver and the executors see at the same path. A drop
on an object store (`s3a://`) is listed and its headers read through Hadoop's filesystem API (S3A),
the rest is the same.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import re
import zlib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from analytics_jobs.failures import DeterministicError

log = logging.getLogger(__name__)

# Data file suffixes (case-sensitive, as the producer writes them) and the reader that takes them.
FORMATS = {".jsonl.gz": "jsonl", ".jsonl": "jsonl", ".csv.gz": "csv", ".csv": "csv", ".parquet": "parquet"}
_GLOB_CHARS = re.compile(r"([\\*?\[\]{}])")


@dataclass(frozen=True)
class DropFile:
    name: str
    path: Path | str  # a local path, or the file's URL on an object store (s3a://bucket/key)
    format: str  # the suffix without its dot: jsonl, jsonl.gz, csv, csv.gz, parquet
    size: int

    @property
    def reader(self) -> str:
        """jsonl, csv or parquet."""
        return FORMATS["." + self.format]

    @property
    def local(self) -> bool:
        return isinstance(self.path, Path)

    @property
    def uri(self) -> str:
        """A Hadoop path for this file: explicit local scheme (or the store's URL), glob characters
        escaped."""
        escaped = _GLOB_CHARS.sub(r"\\\1", str(self.path))
        return "file://" + escaped if self.local else escaped


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


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")


def list_drop(folder: str | Path, spark: SparkSession | None = None) -> Drop:
    """The data files of a drop folder and the names it ignores. A missing folder is an error. A
    folder with a URL scheme (`s3a://`) is listed through Hadoop's filesystem API of `spark`."""
    if _SCHEME.match(str(folder)):
        if spark is None:
            raise ValueError(f"listing {folder} needs the Spark session (Hadoop's filesystem API)")
        return _list_remote(spark, str(folder).rstrip("/"))
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


def _hadoop_fs(spark: SparkSession, uri: str):
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def _list_remote(spark: SparkSession, folder: str) -> Drop:
    path, fs = _hadoop_fs(spark, folder)
    if not fs.exists(path) or not fs.getFileStatus(path).isDirectory():
        raise FileNotFoundError(f"drop folder {folder} does not exist or is not a folder")
    entries = sorted(((s.getPath().getName(), s) for s in fs.listStatus(path)), key=lambda e: e[0])
    files, ignored = [], []
    for name, status in entries:
        fmt = _format_of(name) if status.isFile() else None
        if fmt is None:
            ignored.append(name + ("/" if status.isDirectory() else ""))
        else:
            files.append(DropFile(name, f"{folder}/{name}", fmt, int(status.getLen())))
    return Drop(files, ignored)


class _HadoopReader(io.RawIOBase):
    """A file on a Hadoop filesystem (S3A) as a Python binary stream, read through the JVM (each
    read returns a Java byte[], which py4j hands over as bytes)."""

    def __init__(self, spark: SparkSession, uri: str, buffer: int = 1 << 16) -> None:
        path, fs = _hadoop_fs(spark, uri)
        self._stream = fs.open(path)
        self._buffer = buffer

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        data = bytes(self._stream.readNBytes(min(len(target), self._buffer)))
        target[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


# -- text files -----------------------------------------------------------------------------------
_POSITION_BITS = 33  # monotonically_increasing_id = partition index << 33 | index in the partition
_SPLIT_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType(), False),
        T.StructField("block_start", T.LongType(), False),
        T.StructField("lines_before", T.LongType(), False),
    ]
)
HEADER_PROBE_BYTES = 1 << 16


@dataclass(frozen=True)
class TextLines:
    lines: DataFrame  # source_file, line_number (1-based physical line; NULL = not numbered), value
    row_counts: dict[str, int]  # file -> lines that are rows, for files the count pass read


class LineCountError(RuntimeError):
    """Rows were lost, doubled or left without a line number between counting and parsing."""


def plan_splits(spark: SparkSession, split_bytes: int | None = None) -> int:
    """Fix how files are split for this session and return the split size in bytes.

    `openCostInBytes` >= the split size makes Spark give every split a partition of its own (it adds
    the open cost to a partition's size after each file), which `read_text_lines` relies on.
    """
    if split_bytes is None:
        split_bytes = byte_size(spark.conf.get("spark.sql.files.maxPartitionBytes"))
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(split_bytes))
    spark.conf.set("spark.sql.files.openCostInBytes", str(split_bytes))
    # A cap on the number of partitions would pack several splits into one task again.
    spark.conf.unset("spark.sql.files.maxPartitionNum")
    return split_bytes


def split_bytes_for(spark: SparkSession, drop: Drop) -> int:
    """The split size for reading `drop`'s text files: the session's (`maxPartitionBytes`), or
    more where that would cut the drop into more splits than the cores can read at once.

    Splitting a file only pays when a core is free to read the other split: on two cores, a
    10-million-event drop (1.4 GB, files up to 310 MB) cut in 128 MB splits gives no more
    parallelism than its 11 files do, and costs the count pass over every split file (11 s).
    On a cluster, total / cores is below 128 MB and the session's size holds.
    """
    configured = byte_size(spark.conf.get("spark.sql.files.maxPartitionBytes"))
    text_bytes = sum(f.size for f in drop.files if f.reader in ("jsonl", "csv") and f.size > 0)
    cores = max(1, spark.sparkContext.defaultParallelism)
    return max(configured, -(-text_bytes // cores))


_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
}


def byte_size(text: object) -> int:
    """A Spark size setting (`134217728`, `128m`, `128MB`, `1g`) in bytes."""
    match = re.fullmatch(r"\s*([0-9]+)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in _BYTE_UNITS:
        raise ValueError(f"not a size in bytes: {text!r}")
    return int(match.group(1)) * _BYTE_UNITS[match.group(2)]


def _is_split(f: DropFile, split_bytes: int) -> bool:
    """Whether Spark reads the file in more than one split (gzip streams cannot be split)."""
    return not f.format.endswith(".gz") and f.size > split_bytes


def source_file(spark: SparkSession, files: list[DropFile]) -> Column:
    """The drop file's own name for each row. Spark's `_metadata.file_name` is the name as a URI
    path segment (`a b.jsonl` reads `a%20b.jsonl`, `p%41.jsonl` reads `p%2541.jsonl`): the few
    names that differ are mapped back, on the driver, with Hadoop's own encoding."""
    hadoop_path = spark._jvm.org.apache.hadoop.fs.Path
    renamed = {}
    for f in files:
        encoded = str(hadoop_path(str(f.path)).toUri().toString()).rsplit("/", 1)[-1]
        if encoded != f.name:
            renamed[encoded] = f.name
    name = F.col("_metadata.file_name")
    if not renamed:
        return name
    mapping = F.create_map(*[F.lit(part) for pair in sorted(renamed.items()) for part in pair])
    return F.coalesce(mapping[name], name)


def _scan(spark: SparkSession, files: list[DropFile]) -> DataFrame:
    return spark.read.text([f.uri for f in files]).select(
        source_file(spark, files).alias("source_file"),
        F.col("_metadata.file_block_start").alias("block_start"),
        F.monotonically_increasing_id().bitwiseAND(F.lit((1 << _POSITION_BITS) - 1)).alias("position"),
        F.col("value"),
    )


def _split_offsets(
    spark: SparkSession, files: list[DropFile], is_row: Column | None
) -> tuple[list[tuple[str, int, int]], dict[str, int]]:
    """(file, block_start, lines before the split) of every later split, and rows per file."""
    if not files:
        return [], {}
    splits = (
        _scan(spark, files)
        .groupBy("source_file", "block_start")
        .agg(
            F.count(F.lit(1)).alias("lines"),
            F.count_if(F.lit(True) if is_row is None else is_row).alias("rows"),
        )
        .collect()
    )
    offsets, seen, rows = [], defaultdict(int), defaultdict(int)
    for split in sorted(splits, key=lambda r: (r["source_file"], r["block_start"])):
        name = split["source_file"]
        if split["block_start"] > 0:
            offsets.append((name, split["block_start"], seen[name]))
        seen[name] += split["lines"]
        rows[name] += split["rows"]
    return offsets, dict(rows)


def read_text_lines(spark: SparkSession, files: list[DropFile], is_row: Column | None = None) -> TextLines:
    """The lines of JSON-lines or CSV files (plain or gzip) with their 1-based line numbers.

    Call `plan_splits` on the session first. `is_row` (a condition on the column `value`) says
    which lines `row_counts` counts (all of them without it); only files read in several splits are
    counted, as only they need the count pass.
    """
    if not files:
        empty = spark.createDataFrame([], "source_file string, line_number long, value string")
        return TextLines(empty, {})
    split_bytes = plan_splits(spark)
    offsets, row_counts = _split_offsets(spark, [f for f in files if _is_split(f, split_bytes)], is_row)
    scan = _scan(spark, files)
    if offsets:
        scan = scan.join(
            F.broadcast(spark.createDataFrame(offsets, _SPLIT_SCHEMA)), ["source_file", "block_start"], "left"
        )
        before = F.when(F.col("block_start") == 0, F.lit(0)).otherwise(F.col("lines_before"))
    else:  # every file is one split: no join (a later split would be unexpected, and stays unnumbered)
        before = F.when(F.col("block_start") == 0, F.lit(0))
    lines = scan.select("source_file", (before + F.col("position") + 1).alias("line_number"), "value")
    return TextLines(lines, row_counts)


@contextlib.contextmanager
def _open(f: DropFile, spark: SparkSession | None) -> Iterator[BinaryIO]:
    """The file's bytes, a gzip file's uncompressed."""
    if f.local:
        with gzip.open(f.path, "rb") if f.format.endswith(".gz") else open(f.path, "rb") as stream:
            yield stream
        return
    if spark is None:
        raise ValueError(f"reading {f.path} needs the Spark session (Hadoop's filesystem API)")
    with io.BufferedReader(_HadoopReader(spark, f.uri)) as raw:
        if f.format.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield stream
        else:
            yield raw


def first_line(f: DropFile, spark: SparkSession | None = None) -> str | None:
    """The file's first physical line as Spark reads it (ends at LF, CR or CRLF), None when empty.

    Read on the driver (a CSV header): opening the file here is cheaper than a Spark pass. A file
    on an object store is read through Hadoop's filesystem API of `spark`.
    """
    chunks: list[bytes] = []
    try:
        with _open(f, spark) as stream:
            while chunk := stream.read(HEADER_PROBE_BYTES):
                end = min((i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0), default=-1)
                if end >= 0:
                    chunks.append(chunk[:end])
                    break
                chunks.append(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DeterministicError(
            f"cannot read drop file {f.name} ({f.path}): {type(err).__name__}: {err} - "
            "the file is truncated or corrupt; the producer must replace it"
        ) from None
    if not chunks:
        return None
    return b"".join(chunks).decode("utf-8", errors="replace")


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


def verify_numbered(unnumbered: Mapping[str, int]) -> None:
    """Fail if rows came out of a split the count pass did not see (they have no line number)."""
    if any(unnumbered.values()):
        detail = "; ".join(f"{name}: {n} rows" for name, n in sorted(unnumbered.items()) if n)
        raise LineCountError(
            f"rows without a line number ({detail}): the files were split differently between the "
            "count and the parse pass; nothing is written, rerun the ingest"
        )


# -- parquet --------------------------------------------------------------------------------------
def read_parquet_groups(spark: SparkSession, files: list[DropFile]) -> list[DataFrame]:
    """Parquet files, one DataFrame per distinct schema (struct or map `properties`, string or
    timestamp `timestamp`...), each with source_file and line_number (1-based row number)."""
    groups: dict[str, list[DropFile]] = defaultdict(list)
    schemas: dict[str, T.StructType] = {}
    for f in files:  # Spark runs a job to read a file's footer: once per file, not again per group
        schema = spark.read.parquet(f.uri).schema
        schemas.setdefault(schema.json(), schema)
        groups[schema.json()].append(f)
    frames = []
    for key, members in groups.items():
        frame = spark.read.schema(schemas[key]).parquet(*[f.uri for f in members])
        frames.append(
            frame.select(
                "*",
                source_file(spark, members).alias("source_file"),
                (F.col("_metadata.row_index") + 1).alias("line_number"),
            )
        )
    return frames
