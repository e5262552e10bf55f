"""What the UI views show, from a run record, a GX result document and quarantine rows."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics_etl.ui import shaping

pytestmark = pytest.mark.unit

UTC = dt.UTC


def validation(table: str, success: bool, evaluated: int, failed: int) -> dict:
    return {
        "suite_name": table,
        "success": success,
        "statistics": {"evaluated_expectations": evaluated, "unsuccessful_expectations": failed},
        "results": [],
    }


FAILED_DOCUMENT = {
    "success": False,
    "date": "2024-01-16",
    "row_counts": {"daily_user_stats": 193, "learning_progress": 790},
    "failures": [
        {
            "table": "learning_progress",
            "expectation": "expect_column_values_to_be_between",
            "columns": ["avg_score"],
            "unexpected_count": 3,
            "element_count": 790,
            "sample": "e.g. 250.0",
        }
    ],
    "data_docs": {
        "pages": {"daily_user_stats": "/d/data_docs/v/a.html", "learning_progress": "/d/data_docs/v/b.html"}
    },
    "validation_results": [
        validation("daily_user_stats", True, 18, 0),
        validation("learning_progress", False, 12, 1),
    ],
}


def test_quality_puts_the_failed_expectations_and_tables_first():
    verdict = shaping.quality(FAILED_DOCUMENT)
    assert verdict.success is False and verdict.date == "2024-01-16"
    [failure] = verdict.failures
    assert (failure.table, failure.columns, failure.unexpected_count, failure.element_count) == (
        "learning_progress", ("avg_score",), 3, 790,
    )  # fmt: skip
    assert [(t.table, t.success, t.failed, t.rows) for t in verdict.tables] == [
        ("learning_progress", False, 1, 790),
        ("daily_user_stats", True, 0, 193),
    ]
    assert verdict.first_page.page == "/d/data_docs/v/b.html"  # the failed table's page is shown at once


def test_quality_of_a_passed_gate_shows_the_first_table():
    document = {**FAILED_DOCUMENT, "success": True, "failures": [],
                "validation_results": [validation("daily_user_stats", True, 18, 0)]}  # fmt: skip
    verdict = shaping.quality(document)
    assert verdict.success and verdict.failures == []
    assert verdict.first_page.table == "daily_user_stats"


RECORD = {
    "run_id": "manual__1",
    "date": dt.date(2024, 1, 15),
    "rows_read": 200,
    "rows_kept": 180,
    "rows_rejected": 20,
    "rejected_by_reason": {"malformed": 5, "duplicate": 15, "invalid_value": 0},
}


def row(reason: str, file: str, line: int, raw: str = "{}") -> dict:
    return {"reason": reason, "source_file": file, "line_number": line, "raw": raw, "event_id": None}


def test_reasons_come_from_the_record_most_frequent_first_with_their_samples():
    samples = {"malformed": [row("malformed", "a.jsonl", 3, "x" * 1000)], "duplicate": []}
    shaped = shaping.reasons(RECORD, samples)
    assert [(r.reason, r.count, r.share) for r in shaped] == [
        ("duplicate", 15, 0.075),
        ("malformed", 5, 0.025),
    ]
    [sample] = shaped[1].samples
    assert (sample.source_file, sample.line_number) == ("a.jsonl", 3)
    assert len(sample.raw) == shaping.RAW_SHOWN and sample.raw.endswith("…")


def test_sampling_spreads_each_reason_across_files_and_stops_early():
    consumed = []

    def rows():
        for item in [row("duplicate", "a.jsonl", 4), row("duplicate", "a.jsonl", 5), row("malformed", "a.jsonl", 7),
                     row("duplicate", "a.jsonl", 6), row("out_of_window", "a.jsonl", 1),
                     row("malformed", "a.jsonl", 2), row("duplicate", "b.csv", 9), row("malformed", "c.parquet", 1),
                     row("duplicate", "c.parquet", 3)]:  # fmt: skip
            consumed.append(item)
            yield item

    found = shaping.sample_by_reason(rows(), ["duplicate", "malformed"], per_reason=2)
    # Not the first two rows of a.jsonl: one from each of the first files met, in file order.
    assert [(r["source_file"], r["line_number"]) for r in found["duplicate"]] == [
        ("a.jsonl", 4),
        ("b.csv", 9),
    ]
    assert [(r["source_file"], r["line_number"]) for r in found["malformed"]] == [
        ("a.jsonl", 7),
        ("c.parquet", 1),
    ]
    assert "out_of_window" not in found
    assert len(consumed) == 8  # each reason had two files by the eighth row: the ninth was never read


def test_sampling_of_a_one_file_quarantine_stops_at_the_scan_limit():
    consumed = []

    def rows():
        for line in range(1, 100):
            consumed.append(line)
            yield row("malformed", "a.jsonl", line)

    found = shaping.sample_by_reason(rows(), ["malformed"], per_reason=3, scan_limit=10)
    assert [r["line_number"] for r in found["malformed"]] == [1, 2, 3]
    assert len(consumed) == 10


def test_the_quality_view_shows_the_asked_tables_page_and_the_failures_bounds():
    document = {
        "success": False,
        "data_docs": {"pages": {"daily_user_stats": "/d/dus.html", "page_view_stats": "/d/pvs.html"}},
        "validation_results": [
            {"suite_name": "daily_user_stats", "success": False},
            {"suite_name": "page_view_stats", "success": True},
        ],
        "failures": [{"table": "daily_user_stats", "expectation": "expect_column_values_to_be_between",
                      "columns": ["average_score"], "sample": "e.g. 250", "expected": "between 0 and 100"}],
    }  # fmt: skip
    verdict = shaping.quality(document)
    assert verdict.failures[0].expected == "between 0 and 100"
    assert verdict.page_of(None).table == "daily_user_stats"
    assert verdict.page_of("page_view_stats").table == "page_view_stats"
    assert verdict.page_of("../../etc").table == "daily_user_stats"


def test_reject_ratio_needs_rows_read():
    assert shaping.reject_ratio(RECORD) == 0.1
    assert shaping.reject_ratio({"rows_read": 0, "rows_rejected": 0}) is None
    assert shaping.reject_ratio({"rows_read": None, "rows_rejected": None}) is None


def test_history_points_have_ratio_duration_and_the_gates_outcome_oldest_first():
    start = dt.datetime(2024, 1, 16, 2, 0, tzinfo=UTC)
    rows = [
        {**RECORD, "date": dt.date(2024, 1, 16), "run_id": "r2", "status": "failed", "validation_success": False,
         "started_at": start, "ended_at": start + dt.timedelta(seconds=95)},
        {**RECORD, "run_id": "r1", "status": "success", "validation_success": True,
         "started_at": start, "ended_at": start + dt.timedelta(minutes=2)},
        {"date": dt.date(2024, 1, 17), "run_id": "r3", "status": "running", "validation_success": None,
         "rows_read": None, "rows_kept": None, "rows_rejected": None, "started_at": start, "ended_at": None},
    ]  # fmt: skip
    points = shaping.history(rows)
    assert [(p.run_id, p.outcome, p.duration_seconds, p.reject_ratio) for p in points] == [
        ("r1", "passed", 120.0, 0.1),
        ("r2", "failed", 95.0, 0.1),
        ("r3", "none", None, None),
    ]


def test_the_window_is_ninety_days_ending_at_the_asked_or_latest_date():
    today = dt.date(2026, 11, 22)
    assert shaping.window(dt.date(2024, 1, 18), None, 90, today) == (
        dt.date(2023, 10, 21),
        dt.date(2024, 1, 18),
    )
    assert shaping.window(dt.date(2024, 1, 18), dt.date(2024, 3, 1), 90, today)[1] == dt.date(2024, 3, 1)
    assert shaping.window(None, None, 90, today) == (today - dt.timedelta(days=89), today)


def test_any_date_a_user_can_type_gives_a_window_or_a_named_refusal():
    today = dt.date(2026, 11, 22)
    assert shaping.window(None, dt.date.min, 90, today) == (dt.date.min, dt.date.min)
    assert shaping.window(None, dt.date(1, 2, 1), 90, today) == (dt.date.min, dt.date(1, 2, 1))
    assert shaping.window(None, dt.date.max, 90, today) == (dt.date.max - dt.timedelta(days=89), dt.date.max)
    assert shaping.parse_end("0001-01-01") == dt.date.min
    assert shaping.parse_end("") is None and shaping.parse_end(None) is None
    for typed in ("2024-02-30", "yesterday", "10000-01-01", "2024-1-5x"):
        with pytest.raises(shaping.BadDate, match="is not a date"):
            shaping.parse_end(typed)


def test_without_a_length_the_charts_start_at_the_first_day_with_a_run_a_week_at_least():
    start, end = dt.date(2023, 10, 25), dt.date(2024, 1, 22)  # the 90 days up to the 22nd
    runs = [dt.date(2024, 1, 22), dt.date(2024, 1, 15)]
    assert shaping.fitted_start(start, end, runs, 7) == dt.date(2024, 1, 15)
    assert shaping.fitted_start(start, end, [end], 7) == dt.date(2024, 1, 16)  # one day: a week
    assert shaping.fitted_start(start, end, [], 7) == start  # nothing to fit: the whole window
    assert shaping.fitted_start(start, end, [start], 7) == start
    assert shaping.fitted_start(dt.date.min, dt.date(1, 1, 3), [dt.date(1, 1, 3)], 7) == dt.date.min


def test_a_window_length_is_a_whole_number_of_days_or_a_named_refusal():
    assert shaping.parse_days("365") == 365 and shaping.parse_days(" 3 ") == 3
    assert shaping.parse_days("") is None and shaping.parse_days(None) is None
    for typed in ("0", "-5", "2.5", "ninety", "732", "1e3", "٣"):
        with pytest.raises(shaping.BadDays, match="is not a number of days"):
            shaping.parse_days(typed)
