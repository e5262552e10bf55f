"""Reading the curated Parquet outputs in bounded batches, as the Cassandra sink does. No server."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics_etl.cassandra import outputs, tables
from analytics_etl.paths import RunPaths

pytestmark = pytest.mark.unit

D = dt.date(2024, 1, 17)  # a Wednesday
MONDAY = dt.date(2024, 1, 15)
U1 = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
U2 = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")


# -- Parquet batching -------------------------------------------------------------------------------
def _spark_like_dir(directory: Path, table: pa.Table, *, files: int = 3, row_group_size: int = 7) -> Path:
    directory.mkdir(parents=True)
    per_file = -(-table.num_rows // files)
    for n in range(files):
        chunk = table.slice(n * per_file, per_file)
        pq.write_table(chunk, directory / f"part-{n:05d}.snappy.parquet", row_group_size=row_group_size)
    (directory / "_SUCCESS").write_text("")
    (directory / ".part-00000.snappy.parquet.crc").write_bytes(b"\x00garbage")
    return directory


def test_batches_never_exceed_the_batch_size(tmp_path):
    n = 1_000
    table = pa.table(
        {
            "date": pa.array([D] * n, pa.date32()),
            "hour": pa.array([i % 24 for i in range(n)], pa.int32()),
            "page": [f"/p{i}" for i in range(n)],
            "view_count": pa.array(range(1, n + 1), pa.int64()),
        }
    )
    directory = _spark_like_dir(tmp_path / "out", table, row_group_size=300)
    sizes = []
    pages = []
    for batch in outputs.iter_batches(directory, ("date", "hour", "page", "view_count"), 64):
        sizes.append(batch.num_rows)
        pages += batch.column("page").to_pylist()
    assert max(sizes) <= 64
    assert sum(sizes) == n and sorted(pages) == sorted(f"/p{i}" for i in range(n))


def test_batches_read_only_the_requested_columns_in_order(tmp_path):
    table = pa.table({"b": [1, 2], "a": ["x", "y"], "extra": [0.1, 0.2]})
    directory = _spark_like_dir(tmp_path / "out", table, files=1)
    batches = list(outputs.iter_batches(directory, ("a", "b"), 10))
    assert batches[0].schema.names == ["a", "b"]


def test_missing_directory_or_column_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(outputs.iter_batches(tmp_path / "absent", ("a",), 10))
    directory = _spark_like_dir(tmp_path / "out", pa.table({"a": [1]}), files=1)
    with pytest.raises(ValueError, match=r"lacks the columns \['b'\]"):
        list(outputs.iter_batches(directory, ("a", "b"), 10))


def test_directory_without_data_files_is_an_empty_output(tmp_path):
    directory = tmp_path / "out"
    directory.mkdir()
    (directory / "_SUCCESS").write_text("")
    assert list(outputs.iter_batches(directory, ("a",), 10)) == []


def test_empty_parquet_file_yields_no_rows(tmp_path):
    schema = pa.schema([("user_id", pa.string()), ("date", pa.date32())])
    directory = _spark_like_dir(tmp_path / "out", schema.empty_table(), files=1)
    assert sum(b.num_rows for b in outputs.iter_batches(directory, ("user_id", "date"), 10)) == 0


def test_converted_batches_give_driver_types(tmp_path):
    table = pa.table(
        {
            "user_id": [str(U1), str(U2)],
            "subject": ["math", "art"],
            "week_start": pa.array([MONDAY, MONDAY], pa.date32()),
            "lessons_completed": pa.array([1, 2], pa.int32()),
            "time_spent_minutes": pa.array([10, 20], pa.int32()),
            "average_score": pa.array([None, 75.25], pa.float64()),
        }
    )
    directory = _spark_like_dir(tmp_path / "out", table, files=1)
    sink = next(s for s in tables.SINKS if s.table == "learning_progress")
    rows = [
        sink.convert(row, MONDAY)
        for batch in outputs.iter_batches(directory, sink.columns, 10)
        for row in batch.to_pylist()
    ]
    assert rows == [(U1, "math", MONDAY, 1, 10, None), (U2, "art", MONDAY, 2, 20, 75.25)]


def test_count_output_rows_reports_what_a_load_would_write(tmp_path):
    paths = RunPaths.build(tmp_path, tmp_path, D, "manual__1")
    sizes = {"page_view_stats": 5, "user_engagement": 0, "learning_progress": 12}
    for table, n in sizes.items():
        _spark_like_dir(paths.output(table), pa.table({"x": pa.array(range(n), pa.int64())}), files=2)
    assert outputs.count_output_rows(paths) == sizes


def test_count_output_rows_names_a_missing_output(tmp_path):
    paths = RunPaths.build(tmp_path, tmp_path, D, "manual__1")
    with pytest.raises(FileNotFoundError, match="output page_view_stats of the run is missing"):
        outputs.count_output_rows(paths)
