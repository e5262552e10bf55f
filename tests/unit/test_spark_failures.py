"""A failed Spark job reduced to one line, and whether a retry could help (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics_etl.spark import read_failure
from analytics_jobs.failures import DeterministicError, Failure, describe, write_error_file

pytestmark = pytest.mark.unit

TRUNCATED_GZIP = """An error occurred while calling o34.count.
: org.apache.spark.SparkException: [FAILED_READ_FILE.NO_HINT] Encountered error while reading file file:///drops/user_events/2024-01-15/b.jsonl.gz.  SQLSTATE: KD001
\tat org.apache.spark.sql.errors.QueryExecutionErrors$.cannotReadFilesError(QueryExecutionErrors.scala:860)
Caused by: java.io.EOFException: Unexpected end of input stream
\tat org.apache.hadoop.io.compress.DecompressorStream.decompress(DecompressorStream.java:165)
"""
NOT_PARQUET = """An error occurred while calling o39.parquet.
: org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 1.0 failed 1 times
Caused by: org.apache.spark.SparkException: [FAILED_READ_FILE.CANNOT_READ_FILE_FOOTER] Encountered error while reading file file:/drops/user_events/2024-01-15/e.parquet. Could not read footer. Please ensure that the file is in either ORC or Parquet format.
Caused by: java.lang.RuntimeException: file:/drops/user_events/2024-01-15/e.parquet is not a Parquet file. Expected magic number at tail, but found [117, 101, 116, 10]
"""
LOST_EXECUTOR = """An error occurred while calling o50.parquet.
: org.apache.spark.SparkException: Job aborted due to stage failure: Task 3 in stage 6.0 failed 4 times
Caused by: java.io.IOException: Connection reset by peer
"""


def test_a_truncated_gzip_names_the_file_and_does_not_retry() -> None:
    failure = describe(RuntimeError(TRUNCATED_GZIP))
    assert failure.deterministic
    assert "b.jsonl.gz" in failure.message
    assert "java.io.EOFException: Unexpected end of input stream" in failure.message
    assert "\n" not in failure.message


def test_a_file_that_is_not_parquet_names_the_file_and_does_not_retry() -> None:
    failure = describe(RuntimeError(NOT_PARQUET))
    assert failure.deterministic
    assert failure.message.startswith("cannot read drop file e.parquet")
    assert "is not a Parquet file" in failure.message


def test_anything_else_keeps_its_retries() -> None:
    failure = describe(RuntimeError(LOST_EXECUTOR))
    assert not failure.deterministic
    assert "Connection reset by peer" in failure.message
    assert describe(DeterministicError("drop folder /x does not exist")).deterministic
    assert describe(FileNotFoundError("drop folder /x does not exist")).deterministic


def test_the_error_file_round_trip(tmp_path: Path) -> None:
    target = tmp_path / "run" / "spark_error.json"
    write_error_file(str(target), Failure(True, "cannot read drop file b.jsonl.gz"))
    assert json.loads(target.read_text()) == {
        "deterministic": True,
        "message": "cannot read drop file b.jsonl.gz",
    }
    assert read_failure(target) == (True, "cannot read drop file b.jsonl.gz")
    assert read_failure(tmp_path / "none.json") is None
    write_error_file(None, Failure(False, "no path, no file"))
    assert list(tmp_path.iterdir()) == [tmp_path / "run"]


@pytest.mark.parametrize(
    "cause",
    ["java.io.IOException: not a gzip file", "java.io.IOException: gzip stream CRC failure",
     "java.io.IOException: incorrect header check"],
)  # fmt: skip
def test_every_corrupt_gzip_is_deterministic(cause: str) -> None:
    text = TRUNCATED_GZIP.replace("java.io.EOFException: Unexpected end of input stream", cause)
    assert describe(RuntimeError(text)).deterministic


def test_a_corrupt_csv_gzip_header_names_the_file(tmp_path: Path) -> None:
    from analytics_jobs.drops import DropFile, first_line

    bad = tmp_path / "b.csv.gz"
    bad.write_bytes(b"event_id,event_type\n")  # plain text under a .gz name
    with pytest.raises(DeterministicError, match=r"cannot read drop file b\.csv\.gz"):
        first_line(DropFile("b.csv.gz", bad, "csv.gz", bad.stat().st_size))
