"""The date's quarantine on a store without rename: run-keyed prefixes published by one pointer.

On a local disk the quarantine of a date, `quarantine/user_events/date=D/`, is written aside and
renamed into place by the ingest (the layout since the start, unchanged). An object store has no
rename, so there each run writes its own prefix `date=D/run=K/` (K = `paths.run_key(run_id)`, Spark
writes its `_SUCCESS` last) and, once it is complete, `publish_quarantine` PUTs

    date=D/_PUBLISHED.json   {"run": K, "files": [{"name": "run=K/part-....json", "size": bytes}, ...]}

last (one PUT: whole or absent), then deletes the date's other `run=*` prefixes, so at rest the
folder holds exactly the published run and its pointer. A run killed before the PUT leaves a prefix
no pointer names: readers never see it, and the next publish of the date deletes it.

Readers of a date's quarantine call `published_quarantine_files(date_folder)`, which works on both
layouts: the folder's `*.json` files on a local disk, the files the pointer names on a store (an
empty list while nothing is published). Never list `run=*` prefixes yourself: one may be a run
still writing. See docs/decisions.md, "Object storage".
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics_etl.objects import files, forget, write_bytes
from analytics_etl.storage import as_text, remove_tree, root_path

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

POINTER = "_PUBLISHED.json"
RUN_PREFIX = "run="
SUCCESS = "_SUCCESS"
# A file the pointer may name: one file directly under a run's prefix (never `..`, never deeper).
_NAME = re.compile(r"run=[A-Za-z0-9_.-]+/[^/]+")
_RUN_KEY = re.compile(r"[A-Za-z0-9_.-]+")  # paths.run_key's alphabet


class PublishError(ValueError):
    """A run's quarantine cannot be published (incomplete), or a pointer is not one we wrote."""


@dataclass(frozen=True)
class PublishedFile:
    name: str  # relative to the date folder: run=K/part-....json
    size: int


@dataclass(frozen=True)
class Published:
    """What a date's pointer says: the published run and its files."""

    run: str
    files: tuple[PublishedFile, ...]

    def as_json(self) -> dict[str, Any]:
        return {"run": self.run, "files": [{"name": f.name, "size": f.size} for f in self.files]}

    @classmethod
    def parse(cls, text: str, where: str) -> Published:
        """A pointer's text as `publish_quarantine` writes it; PublishError naming `where` for anything
        else (a run key that is not one, a file outside the run's own prefix, a size not a number)."""
        try:
            document = json.loads(text)
            run = document["run"]
            files = tuple(PublishedFile(str(f["name"]), int(f["size"])) for f in document["files"])
        except (ValueError, KeyError, TypeError) as err:
            raise PublishError(f"{where} is not a quarantine pointer: {err!r}") from None
        if not isinstance(run, str) or not _RUN_KEY.fullmatch(run):
            raise PublishError(f"{where} names no valid run key: {run!r}")
        wrong = [
            f.name
            for f in files
            if not _NAME.fullmatch(f.name) or not f.name.startswith(f"{RUN_PREFIX}{run}/")
        ]
        if wrong:
            raise PublishError(f"{where} names files outside run={run}: {wrong}")
        return cls(run, files)

    def with_sizes(self, sizes: dict[str, int]) -> Published:
        return Published(self.run, tuple(PublishedFile(f.name, sizes[f.name]) for f in self.files))


def _folder(date_folder: str | Path | ObjectStoragePath) -> Path | ObjectStoragePath:
    return root_path(date_folder) if isinstance(date_folder, str) else date_folder


def _is_data(name: str) -> bool:
    """Hadoop's convention: names starting with `_` or `.` are markers and checksums, not data."""
    return not name.startswith(("_", "."))


def publish_quarantine(date_folder: str | Path | ObjectStoragePath, run_key: str) -> Published:
    """Publish run `run_key`'s prefix of the date folder as the date's quarantine: write the pointer
    (last, one PUT), then delete the date's other `run=*` prefixes. Raises PublishError when the
    run's prefix is not complete (no `_SUCCESS`). For a date folder on a store."""
    folder = _folder(date_folder)
    if isinstance(folder, Path):
        raise PublishError(
            f"{folder} is on a local disk: its quarantine is renamed into place, not published"
        )
    run_dir = folder / f"{RUN_PREFIX}{run_key}"
    if not (run_dir / SUCCESS).exists():
        raise PublishError(
            f"cannot publish {as_text(run_dir)}: no {SUCCESS}, the run's write is not complete"
        )
    files = tuple(
        PublishedFile(f"{RUN_PREFIX}{run_key}/{entry.name}", entry.stat().st_size)
        for entry in sorted(run_dir.iterdir(), key=lambda p: p.name)
        if _is_data(entry.name) and entry.is_file()
    )
    published = Published(run_key, files)
    write_bytes(folder / POINTER, _document(published))
    for entry in folder.iterdir():
        if entry.name.startswith(RUN_PREFIX) and entry.name != run_dir.name:
            remove_tree(entry)
    log.info("published %s: run %s, %d files", as_text(folder), run_key, len(files))
    return published


def read_pointer(date_folder: str | Path | ObjectStoragePath) -> Published | None:
    """The date's pointer, or None when nothing is published (or the folder is on a local disk).
    Raises PublishError for a pointer that is not one `publish_quarantine` writes."""
    folder = _folder(date_folder)
    if isinstance(folder, Path):
        return None
    pointer = folder / POINTER
    forget(pointer)  # a long-lived process (the api-server) asks the store, not its old listing
    try:
        text = pointer.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return Published.parse(text, as_text(pointer))


def refresh_pointer(date_folder: str | Path | ObjectStoragePath) -> bool:
    """After files of the published run were rewritten (an erasure), the pointer's sizes made true
    again, written last; True when it had to be written. Nothing to do without a pointer."""
    folder = _folder(date_folder)
    published = read_pointer(folder)
    if published is None:
        return False
    present = files(folder / f"{RUN_PREFIX}{published.run}")
    actual = {f.name: present.get(f.name.split("/", 1)[1], -1) for f in published.files}
    missing = [name for name, size in actual.items() if size < 0]
    if missing:
        raise PublishError(f"{as_text(folder / POINTER)} lists files that are gone: {missing}")
    if actual == {f.name: f.size for f in published.files}:
        return False
    write_bytes(folder / POINTER, _document(published.with_sizes(actual)))
    return True


def _document(published: Published) -> bytes:
    return (json.dumps(published.as_json(), indent=2) + "\n").encode()


def published_quarantine_files(
    date_folder: str | Path | ObjectStoragePath,
) -> list[Path | ObjectStoragePath]:
    """The files of a date's quarantine, in name order, on either layout: the JSON-lines files of the
    folder on a local disk; on a store, the files `_PUBLISHED.json` names (none before a publish).

    `date_folder` is `RunPaths.quarantine` (`<etl_data_dir>/quarantine/user_events/date=D`), a path
    or its text (an `s3://bucket/key` URL or a local path). Each file holds one rejected row per line
    (the row, its reason, source file and line number)."""
    folder = _folder(date_folder)
    if isinstance(folder, Path):
        return sorted(f for f in folder.glob("*.json") if f.is_file()) if folder.is_dir() else []
    published = read_pointer(folder)
    return [folder / f.name for f in published.files] if published else []
