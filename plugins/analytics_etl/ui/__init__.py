"""The run inside the Airflow UI: a FastAPI app the api-server mounts, and the external views that
frame it (a run's data quality and rejects, the history of `etl_runs` as charts, the platform's
metrics from Prometheus).

The app is built on its first request (`LazyApp`), so the scheduler, the dag-processor and the
workers, which import the plugin too, never import FastAPI or the api-server's security module.
"""

from __future__ import annotations

import threading
from typing import Any

DAG_ID = "daily_analytics_etl"
URL_PREFIX = "/analytics-etl"

# Relative hrefs: the UI resolves them against its base URL, so a deployment under a sub-path works.
EXTERNAL_VIEWS = [
    {
        "name": "Data quality",
        "href": f"{URL_PREFIX.lstrip('/')}/dags/{{DAG_ID}}/runs/{{RUN_ID}}/quality",
        "destination": "dag_run",
        "url_route": "etl-data-quality",
    },
    {
        "name": "Rejects",
        "href": f"{URL_PREFIX.lstrip('/')}/dags/{{DAG_ID}}/runs/{{RUN_ID}}/rejects",
        "destination": "dag_run",
        "url_route": "etl-rejects",
    },
    {
        "name": "ETL history",
        "href": f"{URL_PREFIX.lstrip('/')}/history",
        "destination": "nav",
        "category": "browse",
        "url_route": "etl-history",
    },
    {
        "name": "ETL monitoring",
        "href": f"{URL_PREFIX.lstrip('/')}/monitoring",
        "destination": "nav",
        "category": "browse",
        "url_route": "etl-monitoring",
    },
]


class LazyApp:
    """An ASGI app that builds `analytics_etl.ui.app.create_app()` when the first request comes."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from analytics_etl.ui.app import create_app

                    self._app = create_app()
        await self._app(scope, receive, send)

    def __repr__(self) -> str:
        return "analytics_etl.ui.app:create_app"


FASTAPI_APPS = [{"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "analytics_etl_ui"}]
