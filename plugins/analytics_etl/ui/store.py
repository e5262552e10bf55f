"""What the views read, and only through here: `etl_runs` in `analytics_postgres`, and files under
the Airflow variable `etl_data_dir`, both looked up in the api-server when a request comes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from analytics_etl import db, objects, settings
from analytics_etl.paths import RunPaths
from analytics_etl.publish import PublishError, read_pointer
from analytics_etl.sql import read_sql
from analytics_etl.ui import guard

DATA_DOCS = "data_docs"
QUARANTINE_FILES = "part-*.json"  # the ingest writes JSON lines (docs/ingestion.md)


class Unavailable(RuntimeError):
    """A setting the views need is missing, or the analytics database cannot be reached."""


def data_dir() -> Path:
    """`etl_data_dir`: a local path, or a path on the object store of `aws_default` (storage.root_path)."""
    from analytics_etl.storage import root_path

    try:
        return root_path(settings.required_variable(settings.VAR_DATA_DIR))
    except Exception as exc:  # not set, the metadata database is down, or not a valid root
        raise Unavailable(str(exc)) from exc


def _query(statement: str, **params: Any) -> list[dict[str, Any]]:
    try:
        conn = db.connect(settings.ANALYTICS_CONN_ID, application_name="analytics_etl_ui")
    except Exception as exc:  # no such connection, or the server refuses
        raise Unavailable(f"cannot reach {settings.ANALYTICS_CONN_ID}: {exc}") from exc
    with closing(conn), conn, conn.cursor() as cur:
        cur.execute(read_sql(f"ui/{statement}.sql"), params)
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def run(run_id: str) -> dict[str, Any] | None:
    rows = _query("run", run_id=run_id)
    return rows[0] if rows else None


def latest_run_of(date: dt.date) -> str | None:
    rows = _query("latest_run_of_date", date=date)
    return rows[0]["run_id"] if rows else None


def latest_date(dag_id: str) -> dt.date | None:
    return _query("latest_date", dag_id=dag_id)[0]["date"]


def history(dag_id: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    return _query("history", dag_id=dag_id, start=start, end=end)


def validation_document(root: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """The run's GX result document, if the record names one inside `root` that still exists."""
    if not record.get("validation_result"):
        return None
    try:
        path = guard.inside(root, record["validation_result"])
    except guard.Refused:
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def data_docs_relative(root: Path, page: str | None) -> str | None:
    """`page` (an absolute path from the result document) relative to the data docs site, as the
    app serves it, or None when it is not inside the site under `root`."""
    if not page:
        return None
    try:
        site = guard.inside(root, root / DATA_DOCS)
        found = guard.inside(site, page)
        return objects.relative(found, site) if objects.on_store(site) else found.relative_to(site).as_posix()
    except guard.Refused:
        return None


def data_docs_file(root: Path, relative: str) -> Path:
    """A file of the data docs site; raises guard.Refused for any other path."""
    site = guard.inside(root, root / DATA_DOCS)
    return guard.served_file(site, relative)


def quarantine_folder(root: Path, record: dict[str, Any]) -> Path:
    if objects.on_store(root):  # the layout below the root, on the store's root
        return root / str(RunPaths(Path(""), Path(""), record["date"], "ui").quarantine)
    return RunPaths.build(root, root, record["date"], record["run_id"]).quarantine


def display(path: Any) -> str:
    """How the page names a path: the local path, or `s3://bucket/key` (no connection id)."""
    return f"s3://{objects.key_of(path)}" if objects.on_store(path) else str(path)


def quarantine_rows(root: Path, folder: Path) -> Iterator[dict[str, Any]]:
    """The quarantine's rows, file by file in name order, read lazily. On a store, the files of the
    date's published run, as its `_PUBLISHED.json` lists them; nothing before a run has published."""
    try:
        folder = guard.inside(root, folder)
    except guard.Refused:
        return
    if objects.on_store(folder):
        yield from _published_rows(root, folder)
        return
    for part in sorted(folder.glob(QUARANTINE_FILES)):
        with open(guard.inside(folder, part), encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


def _published_rows(root: Any, folder: Any) -> Iterator[dict[str, Any]]:
    import fnmatch

    try:
        pointer = read_pointer(folder)
    except PublishError:  # a pointer that is not one names nothing to read
        return
    if pointer is None:
        return
    for name in sorted(f.name for f in pointer.files):
        if not fnmatch.fnmatchcase(name.rsplit("/", 1)[-1], QUARANTINE_FILES):
            continue
        try:
            part = guard.served_file(folder, name)
        except guard.Refused:
            continue
        for line in part.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)
