"""`daily_user_stats`: the day's progress per known user, scores rounded like PostgreSQL, dense ranks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from analytics_jobs.io import PROGRESS_SCHEMA, USERS_SCHEMA
from analytics_jobs.transforms.daily_user_stats import daily_user_stats

pytestmark = pytest.mark.spark

D = dt.date(2024, 1, 17)  # a Wednesday
MONDAY, TUESDAY, SUNDAY = dt.date(2024, 1, 15), dt.date(2024, 1, 16), dt.date(2024, 1, 21)
AT = dt.datetime(2024, 1, 17, 12, tzinfo=dt.UTC)
CREATED = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)

USERS = [
    ("u1", "Ann", "ann@example.com", "DE", CREATED),
    ("u2", "Bob", "bob@example.com", None, CREATED),
    ("u3", "Cid", "cid@example.com", "FR", CREATED),
    ("u4", "Dee", "dee@example.com", "FR", CREATED),
    ("u5", "Eve", "eve@example.com", "US", CREATED),
    ("u6", "Fay", "fay@example.com", "US", CREATED),
]

# (user_id, date, time_spent_minutes, score)
PROGRESS = [
    ("u1", D, 30, "80.00"),
    ("u1", D, 20, "80.01"),  # average 80.005: HALF_UP gives 80.01 (HALF_EVEN would give 80.00)
    ("u1", MONDAY, 999, "0.00"),  # another day of the week: not counted
    ("u2", D, 50, None),  # ties u1 on 50 minutes; no score at all
    ("u3", D, 10, "90.00"),
    ("u3", D, 0, "70.00"),
    ("u3", D, 5, None),  # a NULL score is left out of the average, not counted as 0
    ("u4", TUESDAY, 100, "50.00"),  # only other days: u4 has no row for D
    ("u4", SUNDAY, 100, "50.00"),
    ("u5", D, 0, "1.00"),  # zero minutes is still a user of the day
    ("u5", D, 0, "1.00"),
    ("u5", D, 0, "1.01"),  # average 1.00333...: rounds down
    ("u6", D, 15, "2.67"),  # ties u3 on 15 minutes
    ("u6", D, 0, "2.68"),  # average 2.675, which a double holds as 2.67499999...
    ("ghost", D, 500, "99.00"),  # not in users: excluded, and does not take rank 1
]

EXPECTED = [
    (D, "u1", "Ann", "ann@example.com", 50, 2, Decimal("80.01"), 1),
    (D, "u2", "Bob", "bob@example.com", 50, 1, None, 1),
    (D, "u3", "Cid", "cid@example.com", 15, 3, Decimal("80.00"), 2),
    (D, "u5", "Eve", "eve@example.com", 0, 3, Decimal("1.00"), 3),
    (D, "u6", "Fay", "fay@example.com", 15, 2, Decimal("2.68"), 2),
]


def _progress_rows(rows):
    return [
        (i, user, f"lesson-{i}", "math", day, minutes, None if score is None else Decimal(score), AT)
        for i, (user, day, minutes, score) in enumerate(rows, start=1)
    ]


@pytest.fixture(scope="module")
def result(spark: SparkSession):
    users = spark.createDataFrame(USERS, USERS_SCHEMA)
    progress = spark.createDataFrame(_progress_rows(PROGRESS), PROGRESS_SCHEMA)
    df = daily_user_stats(progress, users, D)
    return df.schema, {row.user_id: tuple(row) for row in df.collect()}


def test_columns_and_types(result):
    schema, _ = result
    assert [(f.name, f.dataType) for f in schema] == [
        ("date", T.DateType()),
        ("user_id", T.StringType()),
        ("name", T.StringType()),
        ("email", T.StringType()),
        ("total_time", T.LongType()),
        ("lessons_completed", T.IntegerType()),
        ("average_score", T.DecimalType(5, 2)),
        ("daily_rank", T.IntegerType()),
    ]


def test_rows(result):
    _, rows = result
    assert sorted(rows.values()) == EXPECTED


def test_ties_share_a_rank_and_the_next_rank_is_dense(result):
    _, rows = result
    ranks = {user: row[7] for user, row in rows.items()}
    assert ranks == {"u1": 1, "u2": 1, "u3": 2, "u6": 2, "u5": 3}


def test_user_missing_from_users_is_excluded(result):
    _, rows = result
    assert "ghost" not in rows


def test_rows_of_other_days_of_the_week_are_excluded(result):
    _, rows = result
    assert "u4" not in rows
    assert rows["u1"][4:6] == (50, 2)


def test_all_null_scores_give_null_average(result):
    _, rows = result
    assert rows["u2"][6] is None


def test_average_ignores_null_scores(result):
    _, rows = result
    assert rows["u3"][6] == Decimal("80.00")


@pytest.mark.parametrize(("user", "average"), [("u1", "80.01"), ("u5", "1.00"), ("u6", "2.68")])
def test_average_rounds_half_up_on_decimals(result, user, average):
    _, rows = result
    assert rows[user][6] == Decimal(average)


def test_zero_minutes(result):
    _, rows = result
    assert rows["u5"][4:6] == (0, 3)


def test_no_progress_gives_an_empty_result(spark: SparkSession):
    users = spark.createDataFrame(USERS, USERS_SCHEMA)
    progress = spark.createDataFrame(_progress_rows(PROGRESS), PROGRESS_SCHEMA)
    assert daily_user_stats(progress, users, dt.date(2024, 1, 18)).collect() == []
