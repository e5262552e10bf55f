"""`page_view_stats`: page views per UTC hour and page."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from analytics_jobs.io import EVENTS_SCHEMA
from analytics_jobs.transforms.page_view_stats import page_view_stats

pytestmark = pytest.mark.spark

D = dt.date(2024, 3, 10)


def _at(hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> dt.datetime:
    return dt.datetime(2024, 3, 10, hour, minute, second, micro, tzinfo=dt.UTC)


# (event_type, timestamp, page)
EVENTS = [
    ("page_view", _at(0), "/home"),  # the first instant of the day
    ("page_view", _at(0, 59, 59, 999_999), "/home"),  # the last instant of hour 0
    ("page_view", _at(1), "/home"),  # the first instant of hour 1
    ("page_view", _at(23), "/about"),
    ("page_view", _at(23, 30), "/home"),
    ("page_view", _at(23, 59, 59, 999_999), "/home"),  # the last instant of the day
    ("click", _at(0, 10), "/home"),  # not a page view
    ("session_start", _at(0, 5), None),  # an event without a page
    ("session_end", _at(23, 45), None),
]

EXPECTED = [
    (D, 0, "/home", 2),
    (D, 1, "/home", 1),
    (D, 23, "/about", 1),
    (D, 23, "/home", 2),
]


@pytest.fixture(scope="module")
def events(spark: SparkSession):
    rows = [
        (f"e{i}", kind, "u1", ts, page, None, "desktop") for i, (kind, ts, page) in enumerate(EVENTS, start=1)
    ]
    return spark.createDataFrame(rows, EVENTS_SCHEMA)


def test_rows_and_types(events):
    df = page_view_stats(events, D)
    assert [(f.name, f.dataType) for f in df.schema] == [
        ("date", T.DateType()),
        ("hour", T.IntegerType()),
        ("page", T.StringType()),
        ("view_count", T.LongType()),
    ]
    assert sorted(df.collect()) == EXPECTED


def test_hours_are_utc_whatever_the_session_time_zone(spark: SparkSession, events):
    """New York is UTC-5 on 2024-03-10 before 07:00 UTC and UTC-4 after: F.hour would shift."""
    previous = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        rows = page_view_stats(events, D).collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", previous)
    assert sorted(rows) == EXPECTED
