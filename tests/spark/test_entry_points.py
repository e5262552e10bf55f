"""The spark-submit entry points, run for real on tiny Parquet inputs written by pyarrow.

pyarrow writes the inputs as the ingest does and reads the outputs as the loaders will, so the
Parquet types on both sides of the jobs are checked too, not only Spark's view of them.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq
import pyspark
import pytest
from pyspark.sql import SparkSession

from analytics_jobs.io import read_events, write_parquet
from analytics_jobs.transforms.page_view_stats import page_view_stats
from analytics_jobs.transforms.user_engagement import user_engagement
from tests.output_schemas import OUTPUT_SCHEMAS

pytestmark = pytest.mark.spark

JOBS = Path(__file__).resolve().parents[2] / "spark_jobs"
D = dt.date(2024, 2, 1)
UTC = dt.UTC

USERS = pa.table(
    {
        "id": ["u1", "u2"],
        "name": ["Ann", "Bob"],
        "email": ["ann@example.com", "bob@example.com"],
        "country": ["DE", None],
        "created_at": pa.array([dt.datetime(2023, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC")),
    }
)

# The ISO week of D is 2024-01-29 .. 2024-02-04.
PROGRESS = pa.table(
    {
        "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
        "user_id": ["u1", "u1", "u2", "ghost", "u2"],
        "lesson_id": ["l1", "l2", "l3", "l4", "l5"],
        "subject": ["math", "math", "math", "art", "math"],
        "date": pa.array([D, D, D, D, dt.date(2024, 1, 29)], pa.date32()),
        "time_spent_minutes": pa.array([10, 20, 5, 60, 40], pa.int32()),
        "score": pa.array(
            [Decimal("80.00"), Decimal("80.01"), None, Decimal("50.00"), Decimal("90.00")],
            pa.decimal128(5, 2),
        ),
        "completed_at": pa.array([dt.datetime(2024, 2, 1, 12, tzinfo=UTC)] * 5, pa.timestamp("us", tz="UTC")),
    }
)

EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("user_id", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("page", pa.string()),
        ("duration_ms", pa.int64()),
        ("device", pa.string()),
        ("source_file", pa.string()),  # an extra column the job must ignore
    ]
)

EVENTS = pa.table(
    {
        "event_id": ["e1", "e2", "e3", "e4", "e5"],
        "event_type": ["session_start", "page_view", "page_view", "click", "session_end"],
        "user_id": ["u1", "u1", "u2", "u1", "u1"],
        "timestamp": [dt.datetime(2024, 2, 1, h, 30, tzinfo=UTC) for h in (0, 0, 0, 23, 23)],
        "page": [None, "/home", "/home", "/quiz", None],
        "duration_ms": [None, None, None, None, 125_000],
        "device": ["web"] * 5,
        "source_file": ["a.jsonl"] * 5,
    },
    schema=EVENTS_SCHEMA,
)


def spark_submit(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run one job; its output (spark-submit merges the Python driver's stderr into it) is `.stdout`."""
    spark_home = os.environ.get("SPARK_HOME") or str(Path(pyspark.__file__).parent)
    env = {**os.environ, "SPARK_HOME": spark_home}
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    command = [
        f"{spark_home}/bin/spark-submit",
        "--master",
        "local[1]",
        # A short-lived JVM: no UI, no 200 shuffle partitions, and a JIT that favours start-up.
        *("--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=1"),
        "--driver-java-options=-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        str(JOBS / script),
        *args,
    ]
    return subprocess.run(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300
    )


def assert_succeeded(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout[-4000:]


def read_rows(path: Path) -> tuple[pa.Schema, list[dict]]:
    table = pq.read_table(path)
    return table.schema, table.to_pylist()


def column_types(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    return [(field.name, field.type) for field in schema]


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    pq.write_table(USERS, tmp_path / "users.parquet")
    pq.write_table(PROGRESS, tmp_path / "progress_week.parquet")
    (tmp_path / "events").mkdir()
    pq.write_table(EVENTS, tmp_path / "events" / "part-0.parquet")
    return tmp_path


@pytest.mark.slow
@pytest.mark.integration  # a real spark-submit
def test_progress_outputs_job(inputs: Path):
    stats, progress = inputs / "out" / "daily_user_stats", inputs / "out" / "learning_progress"
    stats.mkdir(parents=True)
    (stats / "stale.parquet").write_bytes(b"left over by an earlier run")  # replaced, not kept
    proc = spark_submit(
        "progress_outputs.py",
        *("--date", D.isoformat(), "--users", str(inputs / "users.parquet")),
        *("--progress", str(inputs / "progress_week.parquet")),
        *("--daily-user-stats", str(stats), "--learning-progress", str(progress)),
    )
    assert_succeeded(proc)
    assert "daily_user_stats 2024-02-01: wrote 2 rows" in proc.stdout
    schema, rows = read_rows(stats)
    assert column_types(schema) == column_types(OUTPUT_SCHEMAS["daily_user_stats"])
    assert sorted(rows, key=lambda r: r["user_id"]) == [
        {
            "date": D,
            "user_id": "u1",
            "name": "Ann",
            "email": "ann@example.com",
            "total_time": 30,
            "lessons_completed": 2,
            "average_score": Decimal("80.01"),
            "daily_rank": 1,
        },
        {
            "date": D,
            "user_id": "u2",
            "name": "Bob",
            "email": "bob@example.com",
            "total_time": 5,
            "lessons_completed": 1,
            "average_score": None,
            "daily_rank": 2,
        },
    ]

    assert "learning_progress 2024-02-01: wrote 3 rows" in proc.stdout
    schema, rows = read_rows(progress)
    assert column_types(schema) == column_types(OUTPUT_SCHEMAS["learning_progress"])
    week_start = dt.date(2024, 1, 29)
    # u1 math: 80.00 and 80.01; u2 math: NULL (D) and 90.00 (Monday); ghost is kept: no join here
    assert sorted(rows, key=lambda r: (r["user_id"], r["subject"])) == [
        {
            "user_id": "ghost",
            "subject": "art",
            "week_start": week_start,
            "lessons_completed": 1,
            "time_spent_minutes": 60,
            "average_score": 50.0,
        },
        {
            "user_id": "u1",
            "subject": "math",
            "week_start": week_start,
            "lessons_completed": 2,
            "time_spent_minutes": 30,
            "average_score": pytest.approx(80.005),
        },
        {
            "user_id": "u2",
            "subject": "math",
            "week_start": week_start,
            "lessons_completed": 2,
            "time_spent_minutes": 45,
            "average_score": 90.0,
        },
    ]


@pytest.mark.slow
@pytest.mark.integration  # a real spark-submit
def test_event_stats_job(inputs: Path):
    page_views, engagement = inputs / "out" / "page_view_stats", inputs / "out" / "user_engagement"
    proc = spark_submit(
        "event_stats.py",
        *("--date", D.isoformat(), "--events", str(inputs / "events")),
        *("--page-view-stats", str(page_views), "--user-engagement", str(engagement)),
    )
    assert_succeeded(proc)
    assert "page_view_stats 2024-02-01: wrote 1 rows" in proc.stdout
    assert "user_engagement 2024-02-01: wrote 2 rows" in proc.stdout

    schema, rows = read_rows(page_views)
    assert column_types(schema) == column_types(OUTPUT_SCHEMAS["page_view_stats"])
    assert rows == [{"date": D, "hour": 0, "page": "/home", "view_count": 2}]

    schema, rows = read_rows(engagement)
    assert column_types(schema) == column_types(OUTPUT_SCHEMAS["user_engagement"])
    by_user = {row.pop("user_id"): row for row in rows}
    # u1: 4 events, pages /home and /quiz, 1 session, 125 000 ms = 2 min, 1 click: 1.2 + 0.8 + 0.3
    # u2: 1 event, page /home: 0.3 + 0.4
    assert by_user.keys() == {"u1", "u2"}
    assert by_user["u1"] == {
        "date": D,
        "total_events": 4,
        "unique_pages": 2,
        "session_count": 1,
        "total_time_minutes": 2,
        "engagement_score": pytest.approx(2.3),
    }
    assert by_user["u2"] == {
        "date": D,
        "total_events": 1,
        "unique_pages": 1,
        "session_count": 0,
        "total_time_minutes": 0,
        "engagement_score": pytest.approx(0.7),
    }


@pytest.mark.slow
@pytest.mark.integration  # a real spark-submit
def test_bad_date_exits_non_zero_naming_the_value(tmp_path: Path):
    proc = spark_submit(
        "progress_outputs.py",
        *("--date", "2024-02-30", "--users", "u", "--progress", str(tmp_path / "p.parquet")),
        *("--daily-user-stats", str(tmp_path / "o"), "--learning-progress", str(tmp_path / "o2")),
    )
    assert proc.returncode != 0
    assert "'2024-02-30'" in proc.stdout
    assert not (tmp_path / "o").exists()


OTHER_ARGS = {
    "progress_outputs.py": [
        "--users",
        "u",
        "--progress",
        "p",
        "--daily-user-stats",
        "o",
        "--learning-progress",
        "l",
    ],
    "event_stats.py": ["--events", "e", "--page-view-stats", "p", "--user-engagement", "u"],
}


def load_entry_point(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"entry_point_{script[:-3]}", JOBS / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", sorted(OTHER_ARGS))
@pytest.mark.parametrize("bad", ["2024-02-30", "20240201", "2024-2-1", "2024-W05-4", ""])
def test_every_job_rejects_a_bad_date_before_starting_spark(script, bad, capsys):
    """argparse rejects the value before any session exists, so this needs no JVM of its own."""
    with pytest.raises(SystemExit) as exit_info:
        load_entry_point(script).parse_args(["--date", bad, *OTHER_ARGS[script]])
    assert exit_info.value.code != 0
    assert repr(bad) in capsys.readouterr().err


@pytest.mark.parametrize("only_schema", [True, False], ids=["empty-dataset", "no-data-file"])
def test_a_day_without_events_writes_empty_outputs_with_their_schema(
    spark: SparkSession, tmp_path: Path, only_schema: bool
):
    events = tmp_path / "events"
    events.mkdir()
    if only_schema:
        pq.write_table(EVENTS_SCHEMA.empty_table(), events / "part-0.parquet")
    (events / "_SUCCESS").touch()
    day = read_events(spark, events)
    for name, result in (("pvs", page_view_stats(day, D)), ("ue", user_engagement(day, D))):
        assert write_parquet(result, tmp_path / name) == 0
        assert pq.read_table(tmp_path / name).schema.names == result.schema.names
