"""HTML from the templates beside this module (Jinja2, autoescaped: rejected rows are untrusted)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from analytics_etl.ui import DAG_ID, URL_PREFIX

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), undefined=StrictUndefined
    )
    env.filters["thousands"] = lambda n: "–" if n is None else f"{n:,}"
    env.filters["percent"] = lambda r: "–" if r is None else f"{r:.2%}"
    return env


def app_root(request: Request) -> str:
    """Where this app is mounted, as the browser sees it (`/analytics-etl`, or below a base URL)."""
    return request.scope.get("root_path", "") or URL_PREFIX


def run_href(request: Request, run_id: str) -> str:
    """The run's page in the Airflow UI (which is served at the mount point's parent)."""
    ui_root = app_root(request).removesuffix(URL_PREFIX)
    return f"{ui_root}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}"


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _environment().get_template(template).render(root=app_root(request), dag_id=DAG_ID, **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
