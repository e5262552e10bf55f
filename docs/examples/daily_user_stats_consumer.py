"""An example consumer (not deployed: copy it into a dags folder): runs whenever
`daily_analytics_etl` has replaced a day of `daily_user_stats`, and reads which day from the event."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, dag, task

DAILY_USER_STATS = Asset(
    name="analytics.daily_user_stats", uri="analytics-etl://analytics_postgres/daily_user_stats"
)


@dag(
    schedule=[DAILY_USER_STATS],
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["example"],
)
def daily_user_stats_consumer():
    @task(inlets=[DAILY_USER_STATS])
    def report(triggering_asset_events=None) -> list[str]:
        days = [event.extra["date"] for event in triggering_asset_events[DAILY_USER_STATS]]
        print(f"daily_user_stats was updated for {days}")
        return days

    report()


daily_user_stats_consumer()
