"""An example consumer (not deployed: copy it into a dags folder): one run per day that
`daily_analytics_etl` has replaced in `daily_user_stats`, keyed by that day.

The producer's events carry the day as their partition key; `PartitionedAssetTimetable` (Airflow 3.2+)
creates one run per key, and the run's `partition_key` is the day (the identity mapper).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, PartitionedAssetTimetable, dag, get_current_context, task

DAILY_USER_STATS = Asset(
    name="analytics.daily_user_stats", uri="analytics-etl://analytics_postgres/daily_user_stats"
)


@dag(
    schedule=PartitionedAssetTimetable(assets=DAILY_USER_STATS),
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["example"],
)
def daily_user_stats_consumer():
    @task(inlets=[DAILY_USER_STATS])
    def report() -> str:
        day = get_current_context()["dag_run"].partition_key
        print(f"daily_user_stats was updated for {day}")
        return day

    report()


daily_user_stats_consumer()
