"""`learning_progress` of day D (contract 4.2): each user's week so far, per subject."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def iso_week(date: dt.date) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of the ISO week holding `date`."""
    monday = date - dt.timedelta(days=date.weekday())
    return monday, monday + dt.timedelta(days=6)


def learning_progress(progress: DataFrame, date: dt.date) -> DataFrame:
    """Aggregate every `progress` row of `date`'s ISO week per (user_id, subject), all users.

    The rows are filtered to Monday..Sunday here as well as in the extract: a row of another week
    would otherwise be counted silently in this week's totals. The scores are summed as decimals
    (exactly) and only the quotient becomes a double, the type of the Cassandra column.
    """
    monday, sunday = iso_week(date)
    week = progress.where(F.col("date").between(F.lit(monday), F.lit(sunday)))
    average = F.sum("score").cast("double") / F.count("score")
    per_subject = week.groupBy("user_id", "subject").agg(
        F.count(F.lit(1)).cast("int").alias("lessons_completed"),
        F.sum("time_spent_minutes").cast("int").alias("time_spent_minutes"),
        F.when(F.count("score") > 0, average).alias("average_score"),
    )
    return per_subject.select(
        "user_id",
        "subject",
        F.lit(monday).alias("week_start"),
        "lessons_completed",
        "time_spent_minutes",
        "average_score",
    )
