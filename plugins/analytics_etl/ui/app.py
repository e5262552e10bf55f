"""The FastAPI app the api-server mounts at `URL_PREFIX`.

Every route depends on Airflow's own `requires_access_dag` (read access to the runs of the DAG), which
authenticates through `get_user`: the `Authorization: Bearer` header of an API client, or the `_token`
cookie the UI sets at login, which the browser sends with the iframe's requests since the app is on
the UI's origin. No login: 401; a bad token: 403. The OpenAPI pages are off, so nothing of the app is
reachable without it.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from starlette.responses import Response

from analytics_etl.ui import DAG_ID, routes, store
from analytics_etl.ui.render import page


def create_app() -> FastAPI:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    app = FastAPI(
        title="analytics_etl UI",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=DAG_ID))],
    )
    app.include_router(routes.router)

    @app.exception_handler(store.Unavailable)
    def unavailable(request: Request, exc: store.Unavailable) -> Response:
        return page(request, "message.html", 503, title="ETL data unavailable", message=str(exc))

    return app
