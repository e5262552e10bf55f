"""The order of operations of a Cassandra load, with the writer replaced by a recorder. No server."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics_etl.cassandra import load, outputs, tables
from analytics_etl.cassandra import settings as cs
from analytics_etl.paths import RunPaths

pytestmark = pytest.mark.unit

D = dt.date(2024, 1, 17)  # a Wednesday
MONDAY = dt.date(2024, 1, 15)
U1 = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
U2 = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")


def test_load_day_refuses_paths_of_another_date(tmp_path):
    paths = RunPaths.build(tmp_path, tmp_path, D, "manual__1")
    with pytest.raises(ValueError, match="paths are for 2024-01-17"):
        load.load_day(paths, dt.date(2024, 1, 18))


def test_load_day_checks_every_output_before_connecting(tmp_path):
    paths = RunPaths.build(tmp_path, tmp_path, D, "manual__1")
    paths.output("page_view_stats").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="output user_engagement of the run is missing"):
        load.load_day(paths, D, conn_id="cassandra_unit_never_defined")


def _spark_like_dir(directory: Path, table: pa.Table, *, files: int = 3, row_group_size: int = 7) -> Path:
    directory.mkdir(parents=True)
    per_file = -(-table.num_rows // files)
    for n in range(files):
        chunk = table.slice(n * per_file, per_file)
        pq.write_table(chunk, directory / f"part-{n:05d}.snappy.parquet", row_group_size=row_group_size)
    (directory / "_SUCCESS").write_text("")
    (directory / ".part-00000.snappy.parquet.crc").write_bytes(b"\x00garbage")
    return directory


# -- order of operations (the Writer, the only thing that talks to Cassandra, is replaced) -----------
class RecordingWriter:
    """Records what `load_sink` asks for; `previous` is what the key read returns. Not a Cassandra."""

    def __init__(self, previous: list[tuple], batch_size: int = 2) -> None:
        self.settings = cs.parse_settings(batch_size=batch_size)
        self.previous = previous
        self.calls: list[tuple[str, list]] = []

    def write(self, name: str, params: list[tuple], **kwargs) -> None:
        self.calls.append((name, list(params)))

    def read(self, name: str, params: tuple, consume, **kwargs):
        self.calls.append((name, [params]))
        return consume(iter(self.previous))


def test_load_sink_lists_keys_before_rows_and_deletes_only_stale_keys_last(tmp_path):
    rows = [
        {"user_id": str(u), "subject": "math", "week_start": MONDAY, "lessons_completed": 1}
        | {"time_spent_minutes": 5, "average_score": None}
        for u in (U1, U2, uuid.UUID(int=3))
    ]
    table = pa.Table.from_pylist(rows).cast(
        pa.schema(
            [
                ("user_id", pa.string()),
                ("subject", pa.string()),
                ("week_start", pa.date32()),
                ("lessons_completed", pa.int32()),
                ("time_spent_minutes", pa.int32()),
                ("average_score", pa.float64()),
            ]
        )
    )
    directory = _spark_like_dir(tmp_path / "out", table, files=1)
    stale = (uuid.UUID(int=9), "art")
    writer = RecordingWriter(previous=[(U1, "math"), stale, (U2, "math")])
    sink = next(s for s in tables.SINKS if s.table == "learning_progress")

    assert load.load_sink(writer, sink, directory, D) == (3, 1)
    names = [name for name, _ in writer.calls]
    assert names == [
        "learning_progress_keys_insert",  # batch 1: keys first ...
        "learning_progress_insert",  # ... then its rows
        "learning_progress_keys_insert",
        "learning_progress_insert",
        "learning_progress_keys_select",  # read back only once every new row is written
        "learning_progress_delete",  # stale rows go ...
        "learning_progress_keys_delete",  # ... before their manifest entries
    ]
    assert writer.calls[0][1] == [(MONDAY, U1, "math"), (MONDAY, U2, "math")]
    assert writer.calls[4][1] == [(MONDAY,)]  # the week's partition, not the day
    assert writer.calls[5][1] == writer.calls[6][1] == [(MONDAY, *stale)]
    assert all(len(params) <= 2 for _, params in writer.calls)


def test_load_sink_of_an_empty_output_deletes_every_previous_key(tmp_path):
    schema = pa.schema(
        [("date", pa.date32()), ("hour", pa.int32()), ("page", pa.string()), ("view_count", pa.int64())]
    )
    directory = _spark_like_dir(tmp_path / "out", schema.empty_table(), files=1)
    writer = RecordingWriter(previous=[(10, "/a"), (11, "/b"), (12, "/c")])
    sink = next(s for s in tables.SINKS if s.table == "page_view_stats")

    assert load.load_sink(writer, sink, directory, D) == (0, 3)
    assert [name for name, _ in writer.calls] == [
        "page_view_stats_select_keys",
        "page_view_stats_delete",
        "page_view_stats_delete",
    ]
    deleted = [p for name, params in writer.calls if name.endswith("_delete") for p in params]
    assert sorted(deleted) == [(D, 10, "/a"), (D, 11, "/b"), (D, 12, "/c")]


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


def test_the_facade_the_tasks_call_exports_exactly_the_three_entry_points():
    from analytics_etl import load_cassandra

    assert load_cassandra.__all__ == ["cassandra_configured", "count_output_rows", "load_day"]
    assert load_cassandra.load_day is load.load_day
    assert load_cassandra.count_output_rows is outputs.count_output_rows
    assert load_cassandra.cassandra_configured is cs.cassandra_configured
