"""`user_engagement` of day D (contract 4.2): one row per user with at least one kept event."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

MS_PER_MINUTE = 60_000
INT_MAX = 2**31 - 1


def _count_of(event_type: str) -> Column:
    return F.count(F.when(F.col("event_type") == event_type, F.lit(1)))


def user_engagement(events: DataFrame, date: dt.date) -> DataFrame:
    """Activity of each user over `events` (the kept events of `date`).

    A `session_end` without `duration_ms` adds nothing to the time; a user without any
    `session_end` gets 0 minutes rather than NULL, as a user who was active spent no measured time.
    The minutes are floored on the integral sum, so no floating point enters the division.
    """
    # try_sum: NULL instead of an overflow error (ANSI) when client-bug durations overflow a long.
    session_ms = F.try_sum(
        F.when(F.col("event_type") == "session_end", F.coalesce(F.col("duration_ms"), F.lit(0)))
    )
    per_user = events.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("total_events"),
        F.count_distinct("page").cast("int").alias("unique_pages"),
        _count_of("session_start").cast("int").alias("session_count"),
        _count_of("session_end").alias("session_ends"),
        session_ms.alias("session_ms"),
        _count_of("click").alias("clicks"),
    )
    # Saturates at the int maximum of the Cassandra column rather than fail the day: only a client
    # bug reaches it (4,085 years of sessions in one day; docs/ingestion.md).
    minutes = (
        F.when(F.col("session_ends") == 0, F.lit(0))
        .when(F.col("session_ms").isNull(), F.lit(INT_MAX))  # the sum overflowed a long
        .otherwise(F.least(F.expr(f"session_ms div {MS_PER_MINUTE}"), F.lit(INT_MAX)))
    )
    # 0.3 and 0.4 as Python floats make the arithmetic double, as the Cassandra column is.
    score = F.col("total_events") * 0.3 + F.col("unique_pages") * 0.4 + F.col("clicks") * 0.3
    return per_user.select(
        "user_id",
        F.lit(date).alias("date"),
        "total_events",
        "unique_pages",
        "session_count",
        minutes.cast("int").alias("total_time_minutes"),
        score.cast("double").alias("engagement_score"),
    )
