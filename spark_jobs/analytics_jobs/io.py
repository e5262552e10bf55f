"""The little I/O the entry points need: a strict `--date` type, schema-pinned readers, one writer.

Inputs are read with the contract's schema rather than an inferred one, so an empty input (a day
without events) still yields a DataFrame with the right columns, extra columns are ignored, and a
producer that changes a column's type fails here, naming the column, instead of further down.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

USERS_SCHEMA = T.StructType(
    [
        T.StructField("id", T.StringType()),
        T.StructField("name", T.StringType()),
        T.StructField("email", T.StringType()),
        T.StructField("country", T.StringType()),
        T.StructField("created_at", T.TimestampType()),
    ]
)

PROGRESS_SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType()),
        T.StructField("user_id", T.StringType()),
        T.StructField("lesson_id", T.StringType()),
        T.StructField("subject", T.StringType()),
        T.StructField("date", T.DateType()),
        T.StructField("time_spent_minutes", T.IntegerType()),
        T.StructField("score", T.DecimalType(5, 2)),
        T.StructField("completed_at", T.TimestampType()),
    ]
)

EVENTS_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("user_id", T.StringType()),
        T.StructField("timestamp", T.TimestampType()),
        T.StructField("page", T.StringType()),
        T.StructField("duration_ms", T.LongType()),
        T.StructField("device", T.StringType()),
    ]
)

# ASCII digits only: `\d` would also accept other scripts' digits.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(value: str) -> dt.date:
    """argparse type for `--date`: exactly `YYYY-MM-DD` and a real calendar day.

    `date.fromisoformat` alone would also take `20240115` or `2024-W03-1`, which the contract rejects.
    """
    if _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"invalid date {value!r}: expected a calendar date written YYYY-MM-DD")


# A URI scheme (RFC 3986) of at least two characters, so a Windows drive letter is not one.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")


def to_uri(path: str | Path) -> str:
    """The Hadoop path of `path`: unchanged when it has a URI scheme (`hdfs://`, `s3a://`, `file:`),
    otherwise the absolute local path as a `file://` URI.

    Without a scheme Hadoop resolves a path against fs.defaultFS, which is HDFS on a YARN cluster,
    while our paths without one are local (the driver's working directory for a relative one). The
    path is not percent-encoded (`Path.as_uri` would be): Hadoop takes the text after `file://` as
    the file name as is, so `a b` stays `a b` instead of becoming a folder named `a%20b`.
    """
    text = str(path)
    if _SCHEME.match(text):
        return text
    return "file://" + Path(text).resolve().as_posix()


def on_object_store(uri: str) -> bool:
    """Whether `uri` is on an object store (S3A), where nothing is renamed."""
    return str(uri).lower().startswith(("s3a://", "s3://"))


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write `text` (UTF-8) to the file `uri` through Hadoop's filesystem API, replacing it. On S3A
    the object is PUT when the stream closes: a reader sees the old object or the whole new one."""
    path = _hadoop_path(spark, uri)
    data = bytearray(text.encode("utf-8"))
    stream = _filesystem(spark, path).create(path, True)
    try:
        stream.write(data)
    finally:
        stream.close()


def read_parquet(spark: SparkSession, path: str | Path, schema: T.StructType) -> DataFrame:
    """Read a Parquet file or directory with exactly `schema`'s columns, in its order. A path
    without a scheme is a local path (`to_uri`)."""
    return spark.read.schema(schema).parquet(to_uri(path)).select(*schema.names)


def read_users(spark: SparkSession, path: str | Path) -> DataFrame:
    return read_parquet(spark, path, USERS_SCHEMA)


def read_progress(spark: SparkSession, path: str | Path) -> DataFrame:
    return read_parquet(spark, path, PROGRESS_SCHEMA)


def read_events(spark: SparkSession, path: str | Path) -> DataFrame:
    return read_parquet(spark, path, EVENTS_SCHEMA)


def write_parquet(df: DataFrame, path: str | Path) -> int:
    """Replace the directory `path` (without a scheme: local, `to_uri`) with `df` and return the
    number of rows written.

    The rows are counted as they go to the writer (an observed metric of the write itself): not a
    second evaluation of the plan, and no read-back job, which costs a small day a second per output.
    """
    uri = to_uri(path)
    written = Observation("written")
    df.observe(written, F.count(F.lit(1)).alias("rows")).write.mode("overwrite").parquet(uri)
    return int(written.get["rows"])


def _hadoop_path(spark: SparkSession, uri: str):
    return spark.sparkContext._jvm.org.apache.hadoop.fs.Path(uri)


def _filesystem(spark: SparkSession, path):
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def remove_dir(spark: SparkSession, uri: str) -> None:
    """Delete the directory `uri` and everything in it, through Hadoop's filesystem API (it may not
    be local); nothing happens when it does not exist."""
    path = _hadoop_path(spark, uri)
    _filesystem(spark, path).delete(path, True)


def same_filesystem(spark: SparkSession, first: str, second: str) -> bool:
    """Whether the URIs `first` and `second` are on one Hadoop filesystem (scheme and authority)."""
    a, b = _hadoop_path(spark, first), _hadoop_path(spark, second)
    return _filesystem(spark, a).getUri().equals(_filesystem(spark, b).getUri())


def replace_dir(spark: SparkSession, source: str, target: str) -> None:
    """Put the directory `source` in the place of `target` (URIs of one filesystem): `target` is
    deleted, then `source` renamed to it.

    A write made elsewhere and moved in this way leaves `target` as it was until the move: a write
    to `target` itself deletes it first and leaves it missing or partial for as long as the write
    runs. The move is not atomic: between the delete and the end of the rename (a copy on object
    stores, or across local mounts) a kill, or a failed rename, leaves no `target`.

    Two movers of one target at once (two runs of one date) each end with a whole directory in
    place: a rename onto a directory another mover put back after the delete would move `source`
    inside it (HDFS, and Hadoop's local copy fallback), so that copy is removed and the other's kept.
    """
    src, dst = _hadoop_path(spark, source), _hadoop_path(spark, target)
    fs = _filesystem(spark, dst)
    if not fs.exists(src):  # checked first: the target is not deleted for nothing to replace it
        raise FileNotFoundError(f"could not move {source} to {target}: {source} does not exist")
    for _ in range(3):  # another mover may put its own back between the delete and the check
        fs.delete(dst, True)
        if not fs.exists(dst):
            break
    else:
        raise OSError(f"could not move {source} to {target}: {target} could not be deleted")
    fs.mkdirs(dst.getParent())
    if not fs.rename(src, dst):
        raise OSError(f"could not move {source} to {target}")
    nested = _hadoop_path(spark, f"{target.rstrip('/')}/{src.getName()}")
    if fs.exists(nested):  # another mover's came first: it stays, this one's copy inside it goes
        fs.delete(nested, True)


def dictionary_only_for(columns: Iterable[str]) -> dict[str, str]:
    """Parquet writer options: dictionary encoding for `columns` (few distinct values) only.

    Parquet tries a dictionary for every column until it outgrows 1 MB, then writes the values
    again plainly: on columns of nearly unique values (ids, line numbers, instants, raw lines) that
    is pure cost, 11% of the ingest's executor time in the fifth round's profile.
    """
    return {"parquet.enable.dictionary": "false"} | {
        f"parquet.enable.dictionary#{c}": "true" for c in columns
    }
