"""`page_view_stats` of day D (contract 4.2): page views per UTC hour and page."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

SECONDS_PER_DAY = 86_400
SECONDS_PER_HOUR = 3_600


def utc_hour(timestamp: Column) -> Column:
    """Hour of the day (0..23) of an instant in UTC, whatever `spark.sql.session.timeZone` says.

    `F.hour` renders the instant in the session's time zone; counting seconds since the epoch
    does not depend on any setting.
    """
    return F.floor(F.pmod(F.unix_seconds(timestamp), F.lit(SECONDS_PER_DAY)) / SECONDS_PER_HOUR).cast("int")


def page_view_stats(events: DataFrame, date: dt.date) -> DataFrame:
    """Count the `page_view` events of `events` (the kept events of `date`) per UTC hour and page.

    The ingest rejects page views without a page, so no group has a NULL page.
    """
    return (
        events.where(F.col("event_type") == "page_view")
        .groupBy(utc_hour(F.col("timestamp")).alias("hour"), "page")
        .agg(F.count(F.lit(1)).alias("view_count"))
        .select(F.lit(date).alias("date"), "hour", "page", "view_count")
    )
