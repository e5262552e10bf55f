"""The quality gate against real Great Expectations and real Parquet directories.

Each test writes the four outputs of a run with pyarrow at the RunPaths layout (a directory of part
files plus Spark's `_SUCCESS`), runs the gate and reads its verdict, result JSON and data docs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics_etl.paths import OUTPUT_TABLES, RunPaths
from analytics_etl.quality import GX_PROJECT_DIR, GateError, GateResult, run_gate
from tests.output_schemas import OUTPUT_SCHEMAS

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _site_lock_database(analytics_conn: str) -> None:
    """The gate takes the data docs site's advisory lock (run_lock.site_lock) on analytics_postgres."""


DAY = dt.date(2024, 1, 17)  # a Wednesday; its week starts on Monday 2024-01-15
RUN_ID = "scheduled__2024-01-18T02:00:00+00:00"
U1 = "6f1c1f0e-8a4b-4c8e-9a55-0c1d2e3f4a5b"
U2 = "0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
U3 = "d2c4e6f8-0a1b-4c3d-9e5f-7a9b1c3d5e7f"

SCHEMAS = OUTPUT_SCHEMAS


def good_rows(day: dt.date) -> dict[str, list[dict]]:
    monday = day - dt.timedelta(days=day.weekday())
    return {
        "daily_user_stats": [
            dict(
                date=day,
                user_id=U1,
                name="Ada",
                email="ada@example.com",
                total_time=90,
                lessons_completed=3,
                average_score=Decimal("88.50"),
                daily_rank=1,
            ),
            dict(
                date=day,
                user_id=U2,
                name="Bo",
                email="bo@example.com",
                total_time=45,
                lessons_completed=1,
                average_score=None,
                daily_rank=2,
            ),
            dict(
                date=day,
                user_id=U3,
                name="Cy",
                email="cy@example.com",
                total_time=45,
                lessons_completed=2,
                average_score=Decimal("100.00"),
                daily_rank=2,
            ),
        ],  # fmt: skip
        "page_view_stats": [
            dict(date=day, hour=0, page="/dashboard", view_count=3),
            dict(date=day, hour=23, page="/dashboard", view_count=1),
            dict(date=day, hour=23, page="/lessons/1", view_count=2),
        ],
        "user_engagement": [
            dict(
                user_id=U1,
                date=day,
                total_events=5,
                unique_pages=2,
                session_count=1,
                total_time_minutes=12,
                engagement_score=2.6,
            ),
            dict(
                user_id=U2,
                date=day,
                total_events=1,
                unique_pages=0,
                session_count=1,
                total_time_minutes=0,
                engagement_score=0.3,
            ),
        ],  # fmt: skip
        "learning_progress": [
            dict(
                user_id=U1,
                subject="math",
                week_start=monday,
                lessons_completed=4,
                time_spent_minutes=120,
                average_score=91.25,
            ),
            dict(
                user_id=U1,
                subject="physics",
                week_start=monday,
                lessons_completed=1,
                time_spent_minutes=30,
                average_score=None,
            ),
        ],  # fmt: skip
    }


def write_output(paths: RunPaths, table: str, rows: list[dict]) -> None:
    """One output as Spark leaves it: part files (here two when there are rows) and `_SUCCESS`."""
    directory = paths.output(table)
    directory.mkdir(parents=True, exist_ok=True)
    schema = SCHEMAS[table]
    half = len(rows) // 2
    parts = [rows[:half], rows[half:]] if half else [rows]
    for i, part in enumerate(parts):
        pq.write_table(
            pa.Table.from_pylist(part, schema=schema), directory / f"part-{i:05d}-x.snappy.parquet"
        )
    (directory / "_SUCCESS").write_text("")


def make_run(tmp_path: Path, day: dt.date = DAY, run_id: str = RUN_ID, **changes: list[dict]) -> RunPaths:
    paths = RunPaths.build(tmp_path / "data", tmp_path / "drop", day, run_id)
    rows = good_rows(day)
    rows.update(changes)
    for table in OUTPUT_TABLES:
        write_output(paths, table, rows[table])
    return paths


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def page_text(page: Path) -> str:
    raw = re.sub(r"<(script|style).*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", raw)))


# -- a good day -------------------------------------------------------------------------------------
def test_good_day_passes_and_leaves_the_versioned_project_untouched(tmp_path: Path) -> None:
    paths = make_run(tmp_path)
    before = tree_digest(GX_PROJECT_DIR.parent)

    result = run_gate(paths, RUN_ID)

    assert tree_digest(GX_PROJECT_DIR.parent) == before
    assert result.success, result.summary()
    assert result.failures == []
    assert result.row_counts == {
        "daily_user_stats": 3,
        "page_view_stats": 3,
        "user_engagement": 2,
        "learning_progress": 2,
    }
    assert result.result_path == paths.validation / "checkpoint_result.json"
    document = json.loads(result.result_path.read_text())
    assert document["success"] is True
    assert document["date"] == "2024-01-17"
    assert document["expectation_parameters"]["expected_week_start"] == ["2024-01-15"]
    assert [v["suite_name"] for v in document["validation_results"]] == list(OUTPUT_TABLES)
    assert result.data_docs_index == paths.data_docs / "index.html"
    assert result.data_docs_index.is_file()
    assert set(result.data_docs_pages) == set(OUTPUT_TABLES)
    assert all(
        page.is_file() and page.is_relative_to(paths.data_docs) for page in result.data_docs_pages.values()
    )
    assert "passed" in result.summary()


# -- a bad output fails the whole gate --------------------------------------------------------------
def _bad(table: str, index: int, **change: object) -> dict[str, list[dict]]:
    rows = good_rows(DAY)[table]
    rows[index] = {**rows[index], **change}
    return {table: rows}


BAD_OUTPUTS = {
    "average_score_250": (
        _bad("daily_user_stats", 0, average_score=Decimal("250.00")),
        (
            "daily_user_stats",
            "expect_column_values_to_be_between",
            ("average_score",),
            1,
            3,
            "250",
            "between 0 and 100",
        ),
    ),
    "hour_24": (
        _bad("page_view_stats", 0, hour=24),
        ("page_view_stats", "expect_column_values_to_be_between", ("hour",), 1, 3, "24", "between 0 and 23"),
    ),
    "duplicate_user_id": (
        _bad("user_engagement", 1, user_id=U1),
        ("user_engagement", "expect_column_values_to_be_unique", ("user_id",), 2, 2, U1, ""),
    ),
    # 1,024 two-byte characters and one more byte: 1,025 characters, 2,049 bytes.
    "subject_over_2048_bytes": (
        _bad("learning_progress", 0, subject="é" * 1024 + "x"),
        (
            "learning_progress",
            "expect_column_values_utf8_bytes_to_be_at_most",
            ("subject",),
            1,
            2,
            "\\u00e9\\u00e9",
            "at most (bytes) 2048",
        ),
    ),
    "page_over_2048_bytes": (
        _bad("page_view_stats", 2, page="/" + "€" * 682 + "xy"),  # 1 + 2,046 + 2 bytes
        (
            "page_view_stats",
            "expect_column_values_utf8_bytes_to_be_at_most",
            ("page",),
            1,
            3,
            "\\u20ac\\u20ac",
            "at most (bytes) 2048",
        ),
    ),
    "week_start_tuesday": (
        _bad("learning_progress", 1, week_start=dt.date(2024, 1, 16)),
        (
            "learning_progress",
            "expect_column_values_to_be_in_set",
            ("week_start",),
            1,
            2,
            "2024-01-16",
            'in {"2024-01-15"}',
        ),
    ),
}


@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_a_bad_output_fails_the_gate_and_says_where(tmp_path: Path, case: str) -> None:
    changes, (table, expectation, columns, unexpected, total, sample, bounds) = BAD_OUTPUTS[case]
    paths = make_run(tmp_path, **changes)

    result = run_gate(paths, RUN_ID)

    assert not result.success
    assert result.failed_tables == [table]
    [failure] = result.failures
    assert (failure.table, failure.expectation, failure.columns) == (table, expectation, columns)
    assert (failure.unexpected_count, failure.element_count) == (unexpected, total)
    assert sample in failure.sample and failure.expected == bounds
    expected = f" (expected {bounds})" if bounds else ""
    line = f"{table}: {expectation} on {columns[0]}{expected} failed for {unexpected} of {total} rows"
    assert line in result.summary()

    # The result JSON under the run's validation dir says the same ...
    document = json.loads(result.result_path.read_text())
    assert result.result_path.is_relative_to(paths.validation)
    assert document["success"] is False
    assert document["failures"] == [
        {
            "table": table,
            "expectation": expectation,
            "columns": list(columns),
            "unexpected_count": unexpected,
            "element_count": total,
            "sample": failure.sample,
            "expected": bounds,
        }
    ]
    [suite_result] = [v for v in document["validation_results"] if v["suite_name"] == table]
    [failed] = [r for r in suite_result["results"] if not r["success"]]
    assert failed["expectation_config"]["type"] == expectation
    assert failed["result"]["unexpected_count"] == unexpected
    # ... and so does the data docs page of that table for this run.
    text = page_text(result.data_docs_pages[table])
    assert "Failed" in text or "failed" in text
    assert columns[0] in text
    assert f"{unexpected} unexpected values found" in text


def test_values_of_exactly_2048_bytes_pass(tmp_path: Path) -> None:
    """The byte limit, not a character limit: 2,048 bytes of multi-byte text are fine."""
    changes = {
        **_bad("learning_progress", 0, subject="é" * 1024),  # 2 x 1,024 bytes
        **_bad("page_view_stats", 2, page="/" + "€" * 682 + "a"),  # 1 + 3 x 682 + 1 bytes
    }
    result = run_gate(make_run(tmp_path, **changes), RUN_ID)
    assert result.success, result.summary()


def test_wrong_types_missing_columns_and_nulls_are_failures_too(tmp_path: Path) -> None:
    paths = RunPaths.build(tmp_path / "data", tmp_path / "drop", DAY, RUN_ID)
    for table, rows in good_rows(DAY).items():
        write_output(paths, table, rows)
    # Overwrite page_view_stats with `hour` as a long and no `view_count`, and a NULL page.
    bad = pa.table(
        {
            "date": pa.array([DAY], pa.date32()),
            "hour": pa.array([1], pa.int64()),
            "page": pa.array([None], pa.string()),
        }
    )
    for part in paths.output("page_view_stats").glob("part-*"):
        part.unlink()
    pq.write_table(bad, paths.output("page_view_stats") / "part-00000.parquet")

    result = run_gate(paths, RUN_ID)

    assert not result.success
    found = {(f.expectation, f.columns) for f in result.failures}
    assert ("expect_table_columns_to_match_set", ()) in found
    assert ("expect_column_values_to_be_of_type", ("hour",)) in found
    assert ("expect_column_values_to_not_be_null", ("page",)) in found
    # A check on a column that is missing cannot run: GX records an exception, the gate a failure.
    assert any(f.columns == ("view_count",) and f.sample.startswith("error:") for f in result.failures)
    assert result.failed_tables == ["page_view_stats"]


def test_daily_rank_above_the_row_count_fails(tmp_path: Path) -> None:
    rows = good_rows(DAY)["daily_user_stats"]
    rows[2] = {**rows[2], "daily_rank": 4}
    result = run_gate(make_run(tmp_path, daily_user_stats=rows), RUN_ID)
    assert [(f.table, f.columns, f.unexpected_count) for f in result.failures] == [
        ("daily_user_stats", ("daily_rank",), 1)
    ]


# -- empty days, two dates, missing outputs ------------------------------------------------------
def test_empty_outputs_pass(tmp_path: Path) -> None:
    paths = make_run(tmp_path, **{table: [] for table in OUTPUT_TABLES})
    result = run_gate(paths, RUN_ID)
    assert result.success, result.summary()
    assert result.row_counts == dict.fromkeys(OUTPUT_TABLES, 0)


def test_two_dates_in_one_process_share_the_site_and_keep_their_results(tmp_path: Path) -> None:
    other_day = dt.date(2024, 1, 22)  # a Monday: its own week
    first = make_run(tmp_path)
    second = make_run(tmp_path, day=other_day, run_id="manual__2024-01-23T09:00:00+00:00")

    r1 = run_gate(first, RUN_ID)
    bad_second = _bad("page_view_stats", 0, hour=-1)["page_view_stats"]
    for row in bad_second:
        row["date"] = other_day
    write_output(second, "page_view_stats", bad_second)
    r2 = run_gate(second, "manual__2024-01-23T09:00:00+00:00")
    r3 = run_gate(first, RUN_ID, tables=["learning_progress"])  # a subset, after another date

    assert isinstance(r1, GateResult) and r1.success
    assert not r2.success and r2.failed_tables == ["page_view_stats"]
    assert r3.success and list(r3.row_counts) == ["learning_progress"]
    assert r1.result_path != r2.result_path
    assert json.loads(r1.result_path.read_text())["date"] == "2024-01-17"
    assert json.loads(r2.result_path.read_text())["date"] == "2024-01-22"
    # Every run's pages stay on the shared site and in its index.
    index = r2.data_docs_index.read_text()
    for result in (r1, r2):
        for page in result.data_docs_pages.values():
            assert page.is_file()
            assert page.relative_to(result.data_docs_index.parent).as_posix() in index


def test_a_missing_output_is_an_error_not_a_verdict(tmp_path: Path) -> None:
    paths = RunPaths.build(tmp_path / "data", tmp_path / "drop", DAY, RUN_ID)
    write_output(paths, "daily_user_stats", good_rows(DAY)["daily_user_stats"])
    with pytest.raises(GateError, match="page_view_stats"):
        run_gate(paths, RUN_ID)
    assert not paths.validation.exists()


def test_unknown_tables_are_rejected(tmp_path: Path) -> None:
    paths = make_run(tmp_path)
    with pytest.raises(ValueError, match="users"):
        run_gate(paths, RUN_ID, tables=["users"])
