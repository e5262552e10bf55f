"""The app's routes. Each one reads through `store`, shapes through `shaping` and renders a
template; authentication is the app's own dependency (see app.py), not repeated here."""

from __future__ import annotations

import datetime as dt
import mimetypes
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import FileResponse, Response

from analytics_etl import objects, settings
from analytics_etl.ui import DAG_ID, guard, history_charts, monitoring_charts, prometheus, shaping, store
from analytics_etl.ui.render import STATIC, page, run_href

router = APIRouter()

HISTORY_DAYS = 90  # the runs the history page looks at when no length is asked for
FITTED_AT_LEAST = 7  # days on the axis at least, when it is fitted to the runs
WINDOW_CHOICES = (7, 30, 90, 365)  # the form's lengths; `?days=` takes any up to shaping.MAX_DAYS
SAMPLE_PER_REASON = 5


def _not_ours(request: Request, dag_id: str) -> Response:
    return page(
        request, "message.html", 404, title="Not an ETL run",
        message=f"These views describe runs of {DAG_ID}; {dag_id} has none.",
    )  # fmt: skip


def _no_record(request: Request, run_id: str) -> Response:
    return page(
        request, "message.html", 404, title="No run record",
        message=f"etl_runs has no record of run {run_id}. A run that failed before start_run_record "
        "(a bad date, a conflicting conf) never wrote one: its task log says why.",
    )  # fmt: skip


@router.get("/dags/{dag_id}/runs/{run_id}/quality")
def quality(request: Request, dag_id: str, run_id: str, table: str | None = None) -> Response:
    """The gate's verdict, and the GX data docs page of `table` (a "page" link), else of the first
    failed table: the heading names the page shown."""
    if dag_id != DAG_ID:
        return _not_ours(request, dag_id)
    record = store.run(run_id)
    if record is None:
        return _no_record(request, run_id)
    root = store.data_dir()
    document = store.validation_document(root, record)
    verdict = shaping.quality(document) if document else None
    pages = {}
    if verdict:
        for output in verdict.tables:
            relative = store.data_docs_relative(root, output.page)
            if relative:
                pages[output.table] = f"data-docs/{quote(relative)}"
    shown = verdict.page_of(table) if verdict else None
    return page(request, "quality.html", record=record, verdict=verdict, pages=pages, shown=shown,
                run_link=run_href(request, run_id))  # fmt: skip


@router.get("/dags/{dag_id}/runs/{run_id}/rejects")
def rejects(request: Request, dag_id: str, run_id: str) -> Response:
    if dag_id != DAG_ID:
        return _not_ours(request, dag_id)
    record = store.run(run_id)
    if record is None:
        return _no_record(request, run_id)
    root = store.data_dir()
    folder = store.quarantine_folder(root, record)
    wanted = [r for r, n in (record.get("rejected_by_reason") or {}).items() if int(n) > 0]
    samples = shaping.sample_by_reason(store.quarantine_rows(root, folder), wanted, SAMPLE_PER_REASON)
    latest = store.latest_run_of(record["date"])
    return page(
        request, "rejects.html", record=record, reasons=shaping.reasons(record, samples),
        ratio=shaping.reject_ratio(record), quarantine=store.display(folder), quarantine_exists=folder.is_dir(),
        replaced_by=latest if latest and latest != run_id else None, run_link=run_href(request, run_id),
    )  # fmt: skip


def _window(end: str | None, days: str | None) -> tuple[dt.date | None, int | None]:
    """The `end` and `days` a chart page was asked for; BadDate / BadDays name a bad one."""
    return shaping.parse_end(end), shaping.parse_days(days)


def _refused(request: Request, err: ValueError) -> Response:
    """A clear 400 for a bad `end` or `days`, not FastAPI's JSON 422."""
    title = "Not a date" if isinstance(err, shaping.BadDate) else "Not a number of days"
    return page(request, "message.html", 400, title=title, message=str(err))


@router.get("/history")
def history(
    request: Request,
    end: Annotated[str | None, Query()] = None,
    days: Annotated[str | None, Query()] = None,
) -> Response:
    """The runs of `days` days up to `end`; without `days`, of the last 90 days from the first day
    with a run (at least a week), so the charts spread whatever runs there are over their width."""
    try:
        asked, length = _window(end, days)
    except (shaping.BadDate, shaping.BadDays) as err:
        return _refused(request, err)
    start, last = shaping.window(store.latest_date(DAG_ID), asked, length or HISTORY_DAYS, dt.date.today())
    points = shaping.history(store.history(DAG_ID, start, last))
    if length is None:
        start = shaping.fitted_start(start, last, [p.date for p in points], FITTED_AT_LEAST)
    charts = history_charts.charts(
        start, last, points, lambda run_id: run_href(request, run_id), _threshold()
    )
    return page(request, "history.html", start=start, end=last, days=length, lengths=WINDOW_CHOICES,
                points=points, charts=charts,
                run_links=[run_href(request, p.run_id) for p in points])  # fmt: skip


@router.get("/monitoring")
def monitoring(
    request: Request,
    end: Annotated[str | None, Query()] = None,
    days: Annotated[str | None, Query()] = None,
) -> Response:
    """The platform's metrics read back from Prometheus, one point per date, with the alert rules'
    thresholds, and the rules' active alerts: the dashboard of docs/monitoring.md. The window works
    as the history page's, over the dates Prometheus holds."""
    try:
        asked, length = _window(end, days)
    except (shaping.BadDate, shaping.BadDays) as err:
        return _refused(request, err)
    try:
        where = prometheus.server()
        answers = {expr: prometheus.query(where, expr) for expr in monitoring_charts.QUERIES}
        active = prometheus.alerts(where)
    except prometheus.Unavailable as err:
        return page(request, "message.html", 503, title="Prometheus unavailable", message=str(err))
    known = monitoring_charts.dates(answers)
    start, last = shaping.window(max(known, default=None), asked, length or HISTORY_DAYS, dt.date.today())
    if length is None:
        start = shaping.fitted_start(start, last, [d for d in known if start <= d <= last], FITTED_AT_LEAST)
    return page(request, "monitoring.html", start=start, end=last, days=length, lengths=WINDOW_CHOICES,
                charts=monitoring_charts.draw(answers, start, last), alerts=active,
                prometheus=where.base)  # fmt: skip


def _threshold() -> float | None:
    try:
        return settings.max_reject_ratio()
    except Exception:  # a bad variable value is the gate's error to report, not the chart's
        return None


@router.get("/data-docs/{relative:path}")
def data_docs(relative: str) -> Response:
    """A file of the Great Expectations site under `etl_data_dir`, and nothing else."""
    try:
        path = store.data_docs_file(store.data_dir(), relative)
    except guard.Refused:
        return Response("Not found", status_code=404, media_type="text/plain")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if objects.on_store(path):  # a page of the site on the store: small, read whole
        return Response(path.read_bytes(), media_type=media_type)
    return FileResponse(path, media_type=media_type)


@router.get("/static/{name}")
def static(name: str) -> Response:
    try:
        path = guard.served_file(STATIC, name)
    except guard.Refused:
        return Response("Not found", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0])
