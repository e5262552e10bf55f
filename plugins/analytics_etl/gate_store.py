"""The quality gate with `etl_data_dir` on an object store: run on a local mirror of what it reads.

GX's pandas datasource and its filesystem stores read and write local paths. With the data root on
a store, `run_gate_anywhere` copies the run's four outputs (a day's aggregates, small) and the shared
data docs site into a temporary folder laid out as `etl_data_dir`, runs the same gate there
(quality.run_gate: same checkpoint, same verdict), then uploads what the gate wrote: the run's
validation result and the site's files this build wrote (its index, this run's pages and results,
the static files the store lacks). The returned result names the files on the store.

Each object is one PUT, so a reader sees an old or a new file, never half of one. Two gates of
different dates at once may each upload an index built without the other's newest page (the page
itself is there, and the next build lists it): so the whole mirror, build and upload holds the store
site's lock (run_lock.site_lock, a PostgreSQL advisory lock; docs/decisions.md), and a second gate
waits, then mirrors the site the first one uploaded.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from analytics_etl.paths import OUTPUT_TABLES, RunPaths
from analytics_etl.quality import GateResult, run_gate
from analytics_etl.storage import as_text, upload

log = logging.getLogger(__name__)


def run_gate_anywhere(paths: RunPaths, run_id: str) -> GateResult:
    """quality.run_gate on `paths`, through a local mirror when `etl_data_dir` is on a store."""
    if not paths.data_on_store:
        return run_gate(paths, run_id)
    from analytics_etl.run_lock import site_lock

    with site_lock(paths.data_docs), tempfile.TemporaryDirectory(prefix="etl-gate-") as folder:
        local = RunPaths(Path(folder), Path(folder) / "drops", paths.date, paths.key)
        for table in OUTPUT_TABLES:
            _download(paths.output(table), local.output(table))
        _download(paths.data_docs, local.data_docs, skip=STATIC)
        started = time.time()
        result = run_gate(local, run_id)
        _name_store_paths(local.validation, Path(folder), as_text(paths.data_dir))
        _upload_written(local.validation, paths.validation, since=0.0)
        uploaded = _upload_written(local.data_docs, paths.data_docs, since=started)
        log.info("gate on the store: %d data docs files uploaded to %s", uploaded, as_text(paths.data_docs))
        return _on_store(result, Path(folder), paths.data_dir)


# GX copies the site's static files (4 MB of CSS, fonts and scripts) into it on every build: they are
# not downloaded, and uploaded only when the store lacks them (or holds another size).
STATIC = "static/"


def _download(source: Any, target: Path, skip: str | None = None) -> None:
    """Every object under the prefix `source` into the local folder `target` (nothing when absent),
    but those whose relative key starts with `skip`."""
    fs, prefix = source.fs, source.path.rstrip("/")
    fs.invalidate_cache(prefix)
    target.mkdir(parents=True, exist_ok=True)
    for key, info in fs.find(prefix, detail=True).items():
        relative = key[len(prefix) :].lstrip("/")
        if info["type"] != "file" or not relative or relative.endswith("/"):
            continue  # folder markers
        if skip and relative.startswith(skip):
            continue
        local = target / relative
        local.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(key, str(local))


def _upload_written(source: Path, target: Any, since: float) -> int:
    """Upload the files under `source` written at or after `since` (epoch s) to the prefix `target`."""
    count = 0
    for local in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = local.relative_to(source).as_posix()
        remote = target / relative
        if local.stat().st_mtime < since:
            continue
        if relative.startswith(STATIC) and remote.exists() and remote.stat().st_size == local.stat().st_size:
            continue
        upload(local, remote)
        count += 1
    return count


def _name_store_paths(folder: Path, mirror: Path, root: str) -> None:
    """The result documents under `folder` name the files on the store, not in the mirror."""
    for document in folder.rglob("*.json"):
        document.write_text(document.read_text(encoding="utf-8").replace(str(mirror), root), encoding="utf-8")


def _on_store(result: GateResult, mirror: Path, data_dir: Any) -> GateResult:
    """The result with its paths on the store (as `s3://bucket/key` text) instead of in the mirror."""

    def moved(path: Path) -> Any:
        return as_text(data_dir / Path(path).relative_to(mirror).as_posix())

    return dataclasses.replace(
        result,
        result_path=moved(result.result_path),
        data_docs_index=moved(result.data_docs_index),
        data_docs_pages={table: moved(page) for table, page in result.data_docs_pages.items()},
    )
