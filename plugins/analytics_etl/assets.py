"""The tables the loads update, as Airflow Assets, so another DAG can be scheduled on
"daily_user_stats updated" instead of on a clock (docs/assets.md).

A URI names the sink by its Airflow connection, not by host: the same Asset whatever the
deployment. Each event carries the day as its partition key (a consumer DAG can be scheduled per
day with `PartitionedAssetTimetable`, docs/assets.md), and in its extra the day, the run and the rows.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset

from analytics_etl import settings


def _table(conn_id: str, table: str) -> Asset:
    return Asset(name=f"analytics.{table}", uri=f"analytics-etl://{conn_id}/{table}", group="analytics")


DAILY_USER_STATS = _table(settings.ANALYTICS_CONN_ID, "daily_user_stats")
POSTGRES_ASSETS = [DAILY_USER_STATS]
CASSANDRA_ASSETS = [
    _table(settings.CASSANDRA_CONN_ID, table)
    for table in ("user_engagement", "page_view_stats", "learning_progress")
]


def mark_updated(context: Any, assets: list[Asset], run: dict[str, str], rows: dict[str, int]) -> None:
    """Key the events the task's outlets emit by the day, and attach the day, run and rows written.

    A scheduled or backfill run's events carry its partition key already; a manual run has one only
    when it was given one, so the day is set here for every run (the same key: no conflict)."""
    for asset in assets:
        table = asset.name.removeprefix("analytics.")
        event = context["outlet_events"][asset]
        event.add_partitions(run["date"])
        event.extra = {
            "date": run["date"],
            "run_id": run["run_id"],
            "rows": rows.get(table),
        }
