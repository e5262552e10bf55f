"""The app's routes. Each one reads through `store`, shapes through `shaping` and renders a
template; authentication is the app's own dependency (see app.py), not repeated here."""

from __future__ import annotations

import datetime as dt
import mimetypes
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import FileResponse, Response

from analytics_etl import settings
from analytics_etl.ui import DAG_ID, guard, shaping, store, svg
from analytics_etl.ui.render import STATIC, page, run_href

router = APIRouter()

HISTORY_DAYS = 90
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
        ratio=shaping.reject_ratio(record), quarantine=folder, quarantine_exists=folder.is_dir(),
        replaced_by=latest if latest and latest != run_id else None, run_link=run_href(request, run_id),
    )  # fmt: skip


@router.get("/history")
def history(request: Request, end: Annotated[str | None, Query()] = None) -> Response:
    try:
        asked = shaping.parse_end(end)
    except shaping.BadDate as err:  # a clear answer, not FastAPI's JSON 422
        return page(request, "message.html", 400, title="Not a date", message=str(err))
    start, last = shaping.window(store.latest_date(DAG_ID), asked, HISTORY_DAYS, dt.date.today())
    points = shaping.history(store.history(DAG_ID, start, last))
    return page(request, "history.html", start=start, end=last, points=points,
                charts=_charts(request, start, last, points),
                run_links=[run_href(request, p.run_id) for p in points])  # fmt: skip


def _charts(request: Request, start: dt.date, end: dt.date, points: list[shaping.Point]) -> list[str]:
    axis = svg.Axis(
        start=start,
        end=end,
        dates=[p.date for p in points],
        hrefs=[run_href(request, p.run_id) for p in points],
        labels=[f"{p.date.isoformat()} · {p.run_id} ({p.status})" for p in points],
    )
    try:
        threshold: tuple[str, float] | None = ("max reject ratio", settings.max_reject_ratio())
    except Exception:  # a bad variable value is the gate's error to report, not the chart's
        threshold = None
    rows = [
        svg.Series("read", "#1565c0", [p.rows_read for p in points]),
        svg.Series("kept", "#2e7d32", [p.rows_kept for p in points]),
        svg.Series("rejected", "#c62828", [p.rows_rejected for p in points]),
    ]
    ratio = svg.Series("rejected / read", "#c62828", [p.reject_ratio for p in points])
    took = svg.Series("duration", "#6a1b9a", [p.duration_seconds for p in points])
    return [
        svg.line_chart("Rows per day", axis, rows),
        svg.line_chart("Reject ratio", axis, [ratio], svg.percent, threshold),
        svg.line_chart("Run duration", axis, [took], svg.duration),
        svg.outcome_strip("Validation outcome", axis, [p.outcome for p in points]),
    ]


@router.get("/data-docs/{relative:path}")
def data_docs(relative: str) -> Response:
    """A file of the Great Expectations site under `etl_data_dir`, and nothing else."""
    try:
        path = store.data_docs_file(store.data_dir(), relative)
    except guard.Refused:
        return Response("Not found", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")


@router.get("/static/{name}")
def static(name: str) -> Response:
    try:
        path = guard.served_file(STATIC, name)
    except guard.Refused:
        return Response("Not found", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0])
