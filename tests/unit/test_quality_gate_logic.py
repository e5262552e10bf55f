"""The gate's pure parts, and the versioned GX project read as data (no GX import, no JVM)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from analytics_etl.paths import OUTPUT_TABLES
from analytics_etl.quality import (
    CHECKPOINT_NAME,
    DATASOURCE_NAME,
    GX_PROJECT_DIR,
    GateFailure,
    GateResult,
    QualityGateFailed,
    _check_tables,
    _columns,
    _sample,
    expectation_parameters,
    expected_bounds,
    week_start,
)

pytestmark = pytest.mark.unit


# -- run-time values -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "monday"),
    [
        (dt.date(2024, 1, 15), dt.date(2024, 1, 15)),
        (dt.date(2024, 1, 21), dt.date(2024, 1, 15)),
        (dt.date(2024, 1, 1), dt.date(2024, 1, 1)),
        (dt.date(2023, 1, 1), dt.date(2022, 12, 26)),  # a Sunday: its ISO week began in 2022
    ],
)
def test_week_start_is_the_monday_of_the_iso_week(day: dt.date, monday: dt.date) -> None:
    assert week_start(day) == monday
    assert week_start(day).isoweekday() == 1


def test_expectation_parameters() -> None:
    day = dt.date(2024, 1, 17)
    assert expectation_parameters(day, {"daily_user_stats": 42}) == {
        "expected_date": [day],
        "expected_week_start": [dt.date(2024, 1, 15)],
        "daily_user_stats_row_count": 42,
    }
    # An empty day: no rank to check, and a max below the min (1) would be a GX error.
    assert expectation_parameters(day, {"daily_user_stats": 0})["daily_user_stats_row_count"] == 1
    assert expectation_parameters(day, {})["daily_user_stats_row_count"] == 1


@pytest.mark.parametrize("bad", [[], ["users"], ["page_view_stats", "page_view_stats"], "page_view_stats"])
def test_check_tables_rejects_unknown_empty_duplicate_or_a_string(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        _check_tables(bad)  # type: ignore[arg-type]


def test_check_tables_keeps_the_order() -> None:
    assert _check_tables(["learning_progress", "daily_user_stats"]) == (
        "learning_progress",
        "daily_user_stats",
    )


# -- reading GX results ---------------------------------------------------------------------------
def test_columns_of_each_kind_of_expectation() -> None:
    assert _columns({"column": "hour", "min_value": 0}) == ("hour",)
    assert _columns({"column_list": ["hour", "page"]}) == ("hour", "page")
    assert _columns({"column_A": "total_events", "column_B": "unique_pages"}) == (
        "total_events",
        "unique_pages",
    )
    assert _columns({"column_set": ["a", "b"]}) == ()


def test_sample_prefers_an_error_then_unexpected_values_then_the_observed_value() -> None:
    values = {"partial_unexpected_list": [Decimal("250.00"), dt.date(2024, 1, 16), 3, 4], "observed_value": 1}
    assert _sample(values, {}) == 'e.g. 250, "2024-01-16", 3'
    assert _sample({"observed_value": "int64"}, {}) == 'observed "int64"'
    assert _sample({}, {}) == ""
    flat = {"raised_exception": True, "exception_message": "column view_count not found\ntrace"}
    assert _sample(values, flat) == "error: column view_count not found"
    nested = {"metric-id": {"raised_exception": True, "exception_message": "boom"}}
    assert _sample({}, nested) == "error: boom"
    compound = {"partial_unexpected_list": [{"hour": 3, "page": "/a"}]}
    assert _sample(compound, {}) == 'e.g. {"hour": 3, "page": "/a"}'


def test_samples_are_distinct_and_rounded() -> None:
    repeated = {"partial_unexpected_list": [250.0, 250.0, Decimal("250.00"), 106.1675, -0.00412, 7]}
    assert _sample(repeated, {}) == "e.g. 250, 106.17, -0.00412"


def test_expected_bounds_say_what_the_values_are_held_to() -> None:
    assert expected_bounds({"column": "average_score", "min_value": 0.0, "max_value": 100.0}) == (
        "between 0 and 100"
    )
    assert expected_bounds({"min_value": 1, "strict_min": True, "mostly": 0.95}) == (
        "> 1 for at least 95% of rows"
    )
    assert expected_bounds({"max_value": 23.0}) == "<= 23"
    assert expected_bounds({"value_set": ["click", "view"]}) == 'in {"click", "view"}'
    assert expected_bounds({"regex": "^[0-9]+$"}) == "matching ^[0-9]+$"
    assert expected_bounds({"column_A": "last_seen", "column_B": "first_seen", "or_equal": True}) == (
        "last_seen >= first_seen"
    )
    assert expected_bounds({"column": "user_id"}) == ""


def test_a_failure_names_its_bounds() -> None:
    failure = GateFailure("daily_user_stats", "expect_column_values_to_be_between", ("average_score",), 1, 3,
                          "e.g. 250", "between 0 and 100")  # fmt: skip
    assert failure.describe() == (
        "daily_user_stats: expect_column_values_to_be_between on average_score (expected between 0 and 100)"
        " failed for 1 of 3 rows (e.g. 250)"
    )


def test_summary_names_table_expectation_column_and_count(tmp_path: Path) -> None:
    failure = GateFailure(
        table="daily_user_stats",
        expectation="expect_column_values_to_be_between",
        columns=("average_score",),
        unexpected_count=1,
        element_count=3,
        sample="e.g. 250.0",
    )
    typed = GateFailure(
        "page_view_stats", "expect_column_values_to_be_of_type", ("hour",), None, None, "observed int64"
    )
    result = GateResult(
        success=False,
        date=dt.date(2024, 1, 17),
        result_path=tmp_path / "checkpoint_result.json",
        data_docs_index=tmp_path / "index.html",
        row_counts={"daily_user_stats": 3, "page_view_stats": 0},
        failures=[failure, typed],
    )
    lines = result.summary().splitlines()
    assert lines[0] == (
        "quality gate for 2024-01-17 FAILED (2 expectations); rows: daily_user_stats=3, page_view_stats=0"
    )
    assert lines[1] == (
        "daily_user_stats: expect_column_values_to_be_between on average_score failed for 1 of 3 rows (e.g. 250.0)"
    )
    assert lines[2] == "page_view_stats: expect_column_values_to_be_of_type on hour failed (observed int64)"
    assert str(tmp_path / "checkpoint_result.json") in lines[3]
    assert result.failed_tables == ["daily_user_stats", "page_view_stats"]
    with pytest.raises(QualityGateFailed, match="average_score failed for 1 of 3 rows"):
        result.raise_for_failure()


# -- the versioned project holds what the contract asks for ---------------------------------------
def _suite(table: str) -> list[tuple[str, dict]]:
    data = json.loads((GX_PROJECT_DIR / "expectations" / f"{table}.json").read_text())
    assert data["name"] == table
    return [(e["type"], e["kwargs"]) for e in data["expectations"]]


def _has(table: str, kind: str, **kwargs: object) -> bool:
    return any(t == kind and all(k.get(n) == v for n, v in kwargs.items()) for t, k in _suite(table))


def test_the_checkpoint_validates_every_table_through_the_project_datasource() -> None:
    checkpoint = json.loads((GX_PROJECT_DIR / "checkpoints" / f"{CHECKPOINT_NAME}.json").read_text())
    assert [vd["name"] for vd in checkpoint["validation_definitions"]] == list(OUTPUT_TABLES)
    project = yaml.safe_load((GX_PROJECT_DIR / "great_expectations.yml").read_text())
    assets = project["fluent_datasources"][DATASOURCE_NAME]["assets"]
    for table in OUTPUT_TABLES:
        definition = json.loads((GX_PROJECT_DIR / "validation_definitions" / f"{table}.json").read_text())
        assert definition["suite"]["name"] == table
        assert definition["data"]["datasource"]["name"] == DATASOURCE_NAME
        assert definition["data"]["asset"]["name"] == table
        asset = assets[table]
        assert asset["type"] == "parquet"
        assert definition["data"]["asset"]["id"] == asset["id"]
        assert definition["data"]["batch_definition"]["name"] in asset["batch_definitions"]


PARAM_ROWS = {"$PARAMETER": "daily_user_stats_row_count"}
CONTRACT_MINIMUM = {
    "daily_user_stats": [
        ("expect_compound_columns_to_be_unique", {"column_list": ["date", "user_id"]}),
        ("expect_column_values_to_not_be_null", {"column": "date"}),
        ("expect_column_values_to_not_be_null", {"column": "user_id"}),
        ("expect_column_values_to_be_between", {"column": "total_time", "min_value": 0, "max_value": 1440}),
        ("expect_column_values_to_be_between", {"column": "lessons_completed", "min_value": 1}),
        ("expect_column_values_to_be_between", {"column": "average_score", "min_value": 0, "max_value": 100}),
        (
            "expect_column_values_to_be_between",
            {"column": "daily_rank", "min_value": 1, "max_value": PARAM_ROWS},
        ),
    ],
    "page_view_stats": [
        ("expect_column_values_to_be_between", {"column": "hour", "min_value": 0, "max_value": 23}),
        ("expect_column_values_to_be_between", {"column": "view_count", "min_value": 1}),
        ("expect_compound_columns_to_be_unique", {"column_list": ["hour", "page"]}),
    ],
    "user_engagement": [
        ("expect_column_values_to_be_unique", {"column": "user_id"}),
        ("expect_column_values_to_be_between", {"column": "total_events", "min_value": 1}),
        ("expect_column_values_to_be_between", {"column": "unique_pages", "min_value": 0}),
        ("expect_column_values_to_be_between", {"column": "session_count", "min_value": 0}),
        ("expect_column_values_to_be_between", {"column": "total_time_minutes", "min_value": 0}),
        ("expect_column_values_to_be_between", {"column": "engagement_score", "min_value": 0}),
    ],
    "learning_progress": [
        ("expect_column_values_to_be_in_set", {"column": "week_start"}),
        ("expect_column_values_to_be_between", {"column": "lessons_completed", "min_value": 1}),
        ("expect_column_values_to_be_between", {"column": "time_spent_minutes", "min_value": 0}),
        ("expect_column_values_to_be_between", {"column": "average_score", "min_value": 0, "max_value": 100}),
    ],
}


@pytest.mark.parametrize("table", OUTPUT_TABLES)
def test_each_suite_holds_at_least_the_contract(table: str) -> None:
    for kind, kwargs in CONTRACT_MINIMUM[table]:
        assert _has(table, kind, **kwargs), f"{table} lacks {kind} {kwargs}"
    # Every suite pins the exact column set of its output.
    assert any(kind == "expect_table_columns_to_match_set" for kind, _ in _suite(table))


def test_week_start_and_dates_are_checked_against_run_time_parameters() -> None:
    assert _has("learning_progress", "expect_column_values_to_be_in_set",
                value_set={"$PARAMETER": "expected_week_start"})  # fmt: skip
    for table in ("daily_user_stats", "page_view_stats", "user_engagement"):
        assert _has(table, "expect_column_values_to_be_in_set", column="date",
                    value_set={"$PARAMETER": "expected_date"})  # fmt: skip
