"""The housekeeping side of a root on an object store: listing, relative keys and whole-object writes,
for retention, erasure and the UI (`storage.root_path` gives the root).

A store has no folders and no rename: a "folder" is a key prefix, listed in one paginated request
per 1,000 keys; an object is replaced by one PUT of its new content (readers see the old object or
the new one, never a part), so everything here builds the new content in memory first and writes it
once. The local S3Proxy also lists a marker object `folder/` per folder: listings keep files only.

On the store, a date's quarantine is `quarantine/user_events/date=D/run=K/...` for each run K that
wrote one, and `date=D/_PUBLISHED.json` names the published run and its files with their sizes:
publish.py owns that pointer (its format, reading it, making its sizes true after an erasure).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analytics_etl.storage import OBJECT_SCHEMES


def on_store(path: Any) -> bool:
    """True for an `ObjectStoragePath` on S3, False for a local `pathlib.Path`."""
    return getattr(path, "protocol", None) in OBJECT_SCHEMES


def key_of(path: Any) -> str:
    """`bucket/key` of a path on the store, without a trailing slash (fsspec's name of it)."""
    return str(path.path).rstrip("/")


def relative(path: Any, root: Any) -> str:
    """The key of `path` relative to `root`; ValueError when it is not strictly below `root`."""
    if not on_store(path):
        return str(Path(path).relative_to(root))
    base, key = key_of(root), key_of(path)
    if not key.startswith(base + "/") or path.bucket != root.bucket:
        raise ValueError(f"{path} is not below {root}")
    return key[len(base) + 1 :]


def forget(path: Any) -> None:
    """Drop what this process's s3fs remembers of the store's listings (Airflow keeps one filesystem per
    connection for the life of a process): the next call asks the store. Without it, a long-lived
    process (the api-server) would answer from an old listing, and read an object rewritten since
    with the old ETag, which the store refuses (s3fs reads with If-Match)."""
    path.fs.invalidate_cache()


def files(top: Any) -> dict[str, int]:
    """Every object under the prefix `top` (or `top` itself when it is an object), relative to `top`
    ('' for `top` itself), with its size; markers and 'directories' left out. Read fresh from the
    store (`forget`)."""
    fs, base = top.fs, key_of(top)
    forget(top)
    found = fs.find(base, withdirs=False, detail=True)
    out = {}
    for name, info in found.items():
        if info.get("type") != "file" or name.endswith("/"):
            continue
        name = name.rstrip("/")
        if name == base:
            out[""] = int(info["size"])
        elif name.startswith(base + "/"):
            out[name[len(base) + 1 :]] = int(info["size"])
    return out


def write_bytes(path: Any, data: bytes) -> None:
    """The object at `path` replaced by `data` at once (one PUT, or one completed multipart upload)."""
    with path.open("wb") as sink:
        sink.write(data)


def delete(top: Any, rels: list[str]) -> None:
    """Delete the objects `rels` (relative to `top`) in batches of the store's multi-object delete."""
    if rels:
        top.fs.rm([f"{key_of(top)}/{rel}" if rel else key_of(top) for rel in rels])
        top.fs.invalidate_cache(key_of(top))
