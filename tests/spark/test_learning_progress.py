"""`learning_progress`: per user and subject, the rows of the ISO week holding the day."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from analytics_jobs.io import PROGRESS_SCHEMA
from analytics_jobs.transforms.learning_progress import iso_week, learning_progress

pytestmark = pytest.mark.spark

D = dt.date(2024, 2, 1)  # a Thursday; its week spans two months: Monday 2024-01-29 .. Sunday 2024-02-04
WEEK_START = dt.date(2024, 1, 29)
AT = dt.datetime(2024, 2, 1, 12, tzinfo=dt.UTC)

# (user_id, subject, date, time_spent_minutes, score)
PROGRESS = [
    ("u1", "math", dt.date(2024, 1, 29), 10, "80.00"),  # Monday, January
    ("u1", "math", dt.date(2024, 2, 4), 20, "91.00"),  # Sunday, February
    ("u1", "math", dt.date(2024, 1, 28), 100, "0.00"),  # the Sunday before: excluded
    ("u1", "math", dt.date(2024, 2, 5), 100, "0.00"),  # the Monday after: excluded
    ("u1", "art", dt.date(2024, 2, 1), 15, None),  # scores all NULL
    ("u1", "art", dt.date(2024, 1, 31), 5, None),
    ("u2", "math", dt.date(2024, 2, 2), 0, "70.00"),  # u2 is in no users table: no join here
    ("u2", "math", dt.date(2024, 1, 30), 7, "75.50"),
    ("u2", "math", dt.date(2024, 1, 30), 8, None),
    ("u3", "math", dt.date(2024, 1, 20), 30, "60.00"),  # only an earlier week: no row
]

EXPECTED = [
    ("u1", "art", WEEK_START, 2, 20, None),
    ("u1", "math", WEEK_START, 2, 30, 85.5),
    ("u2", "math", WEEK_START, 3, 15, 72.75),
]


@pytest.fixture(scope="module")
def result(spark: SparkSession):
    rows = [
        (i, user, f"lesson-{i}", subject, day, minutes, None if score is None else Decimal(score), AT)
        for i, (user, subject, day, minutes, score) in enumerate(PROGRESS, start=1)
    ]
    df = learning_progress(spark.createDataFrame(rows, PROGRESS_SCHEMA), D)
    return df.schema, sorted(tuple(row) for row in df.collect())


def test_columns_and_types(result):
    schema, _ = result
    assert [(f.name, f.dataType) for f in schema] == [
        ("user_id", T.StringType()),
        ("subject", T.StringType()),
        ("week_start", T.DateType()),
        ("lessons_completed", T.IntegerType()),
        ("time_spent_minutes", T.IntegerType()),
        ("average_score", T.DoubleType()),
    ]


def test_rows_of_the_week_spanning_two_months(result):
    _, rows = result
    assert rows == EXPECTED


def test_all_null_scores_give_null_average(result):
    _, rows = result
    assert rows[0][:2] == ("u1", "art")
    assert rows[0][5] is None


@pytest.mark.parametrize(
    ("day", "week"),
    [
        (dt.date(2024, 1, 29), (dt.date(2024, 1, 29), dt.date(2024, 2, 4))),  # a Monday is its own start
        (dt.date(2024, 2, 4), (dt.date(2024, 1, 29), dt.date(2024, 2, 4))),  # a Sunday ends the week
        (dt.date(2025, 1, 1), (dt.date(2024, 12, 30), dt.date(2025, 1, 5))),  # across a new year
    ],
)
def test_iso_week(day, week):
    assert iso_week(day) == week
