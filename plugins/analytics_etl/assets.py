"""The tables the loads update, as Airflow Assets, so another DAG can be scheduled on
"daily_user_stats updated" instead of on a clock (docs/assets.md).

A URI names the sink by its Airflow connection, not by host: the same Asset whatever the
deployment. Each event's extra carries the day and the run that produced it.
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
    """Attach the day, the run and the rows written to the events the task's outlets emit."""
    for asset in assets:
        table = asset.name.removeprefix("analytics.")
        context["outlet_events"][asset].extra = {
            "date": run["date"],
            "run_id": run["run_id"],
            "rows": rows.get(table),
        }
