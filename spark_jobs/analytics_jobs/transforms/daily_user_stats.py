"""`daily_user_stats` of day D (contract 4.1): per user, the lessons completed that day."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def daily_user_stats(progress: DataFrame, users: DataFrame, date: dt.date) -> DataFrame:
    """Aggregate the `progress` rows dated `date` per user and rank users by time spent.

    `progress` may hold the whole ISO week (the same extract feeds `learning_progress`), so the
    day is filtered here. The inner join drops rows of users unknown to `users`: the output needs
    their name and email, and the source has no foreign key guaranteeing them.

    `average_score` stays decimal from sum to rounding: `round` on a decimal is HALF_UP, so x.xx5
    rounds up exactly as PostgreSQL's `round(numeric, 2)` would, where a double average might
    hold x.xx4999... The division is `sum / count` rather than `avg`, whose 6-digit intermediate
    scale would round twice.
    """
    day = progress.where(F.col("date") == F.lit(date))
    per_user = day.groupBy("user_id").agg(
        F.sum("time_spent_minutes").cast("long").alias("total_time"),
        F.count(F.lit(1)).cast("int").alias("lessons_completed"),
        F.sum("score").alias("score_sum"),
        F.count("score").alias("score_count"),
    )
    average = F.when(F.col("score_count") > 0, F.col("score_sum") / F.col("score_count"))
    rank_window = Window.partitionBy("date").orderBy(F.col("total_time").desc())
    return (
        per_user.join(users, per_user["user_id"] == users["id"], "inner")
        .withColumn("date", F.lit(date))
        .withColumn("average_score", F.round(average, 2).cast("decimal(5,2)"))
        .withColumn("daily_rank", F.dense_rank().over(rank_window).cast("int"))
        .select(
            "date",
            "user_id",
            "name",
            "email",
            "total_time",
            "lessons_completed",
            "average_score",
            "daily_rank",
        )
    )
