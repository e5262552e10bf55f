"""`user_engagement`: one row per active user, its counts, minutes and engagement score."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from analytics_jobs.io import EVENTS_SCHEMA
from analytics_jobs.transforms.user_engagement import user_engagement

pytestmark = pytest.mark.spark

D = dt.date(2024, 3, 10)
AT = dt.datetime(2024, 3, 10, 9, tzinfo=dt.UTC)

# (user_id, event_type, page, duration_ms)
EVENTS = [
    ("u1", "page_view", "/a", None),
    ("u1", "page_view", "/a", None),  # the same page again: one unique page
    ("u1", "page_view", "/b", None),
    ("u1", "click", "/b", None),
    ("u1", "click", "/c", None),  # a page seen only through a click still counts
    ("u1", "session_start", None, None),
    ("u1", "session_end", None, 90_000),
    ("u1", "session_start", None, None),
    ("u1", "session_end", None, 50_000),  # 140 000 ms: 2 minutes
    ("u2", "session_start", None, None),  # no page at all
    ("u2", "session_end", None, None),  # a session_end without duration counts as 0
    ("u3", "page_view", "/x", 600_000),  # duration of a non-session_end event is ignored; no session_end
    ("u4", "session_end", "/exit", 59_999),
    ("u4", "session_end", None, 60_000),  # 119 999 ms: floored to 1 minute
]

# user_id, date, total_events, unique_pages, session_count, total_time_minutes, engagement_score
EXPECTED = {
    "u1": ("u1", D, 9, 3, 2, 2, 9 * 0.3 + 3 * 0.4 + 2 * 0.3),  # 4.5
    "u2": ("u2", D, 2, 0, 1, 0, 2 * 0.3),  # 0.6
    "u3": ("u3", D, 1, 1, 0, 0, 1 * 0.3 + 1 * 0.4),  # 0.7
    "u4": ("u4", D, 2, 1, 0, 1, 2 * 0.3 + 1 * 0.4),  # 1.0
}


@pytest.fixture(scope="module")
def result(spark: SparkSession):
    rows = [
        (f"e{i}", kind, user, AT, page, duration, None)
        for i, (user, kind, page, duration) in enumerate(EVENTS, start=1)
    ]
    df = user_engagement(spark.createDataFrame(rows, EVENTS_SCHEMA), D)
    return df.schema, {row.user_id: tuple(row) for row in df.collect()}


def test_columns_and_types(result):
    schema, _ = result
    assert [(f.name, f.dataType) for f in schema] == [
        ("user_id", T.StringType()),
        ("date", T.DateType()),
        ("total_events", T.LongType()),
        ("unique_pages", T.IntegerType()),
        ("session_count", T.IntegerType()),
        ("total_time_minutes", T.IntegerType()),
        ("engagement_score", T.DoubleType()),
    ]


@pytest.mark.parametrize("user", sorted(EXPECTED))
def test_rows(result, user):
    _, rows = result
    *counts, score = rows[user]
    *expected_counts, expected_score = EXPECTED[user]
    assert counts == expected_counts
    assert score == pytest.approx(expected_score)


def test_one_row_per_active_user(result):
    _, rows = result
    assert sorted(rows) == ["u1", "u2", "u3", "u4"]


def test_engagement_arithmetic_by_hand(result):
    _, rows = result
    assert [rows[u][6] for u in ("u1", "u2", "u3", "u4")] == pytest.approx([4.5, 0.6, 0.7, 1.0])


def test_minutes_saturate_at_the_int_maximum_instead_of_failing_the_day(spark: SparkSession) -> None:
    """76 session_end events of Date.now() milliseconds (a client bug) sum past the int column, and
    9 of the largest valid durations past a long: the day still computes, at the int maximum."""
    from analytics_jobs.transforms.user_engagement import INT_MAX

    bug = [("u1", "session_end", None, 1_705_314_600_000)] * 76 + [
        ("u2", "session_end", None, 9_000_000_000_000_000_000)
    ] * 2
    # Past a long only across pages (each page's sum fits), and one page past a long next to a
    # page that fits: both saturate too.
    bug += [("u3", "session_end", "/a", 5_000_000_000_000_000_000), ("u3", "session_end", "/b", 5 * 10**18)]
    bug += [("u4", "session_end", "/a", 9 * 10**18)] * 2 + [("u4", "session_end", "/b", 60_000)]
    rows = user_engagement(
        spark.createDataFrame(
            [(f"e{i}", t, u, AT, p, d, None) for i, (u, t, p, d) in enumerate(bug)], EVENTS_SCHEMA
        ),
        D,
    ).collect()
    assert {r.user_id: r.total_time_minutes for r in rows} == {u: INT_MAX for u in ("u1", "u2", "u3", "u4")}
