"""The one gate between a request and the filesystem: nothing outside `etl_data_dir` is ever served.

A request's path arrives percent-decoded once (`%2F` is already `/`); it is never decoded again, so
`%252F` stays the literal text `%2F`, which names no file. What is left is refused when it is
absolute, holds an empty, `.`, `..` or hidden component, a backslash or a NUL; what passes is
resolved through every symlink and must still lie inside the root, and be a regular file.

On an object store (`etl_data_dir` an `s3://` URL) the same text checks apply, and a key is served
when it lies strictly below the root's prefix, in the root's bucket, and is an object (not a prefix);
a path a record holds must name the root's bucket and a key below its prefix, `..` nowhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from analytics_etl import objects


class Refused(LookupError):
    """The path is not one this app serves (the caller answers 404, naming nothing)."""


def served_file(root: Path, relative: str) -> Path:
    """The real path of the file `relative` below `root`; raises Refused for anything else."""
    if not relative or relative.startswith("/") or "\\" in relative or "\x00" in relative:
        raise Refused(relative)
    if any(part == "" or part.startswith(".") for part in relative.split("/")):
        raise Refused(relative)
    if objects.on_store(root):
        return _object(root, inside(root, root / relative), relative)
    target = inside(root, root / relative)
    if not target.is_file():
        raise Refused(relative)
    return target


def inside(root: Path, path: str | Path) -> Path:
    """`path` with every symlink resolved, if it exists and lies inside `root` (also resolved).

    Used for the paths a run record holds too: a record is data, and data does not choose what the
    api-server reads.
    """
    if objects.on_store(root):
        return _below(root, _on_root_store(root, path))
    try:
        real_root = Path(root).resolve(strict=True)
        target = Path(path).resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # missing, a symlink loop
        raise Refused(str(path)) from exc
    if not target.is_relative_to(real_root):
        raise Refused(str(path))
    return target


def _on_root_store(root: Any, path: str | Any) -> Any:
    """A record's path (an `s3://` / `s3a://` URL, or a path on the store) as a path of the root's store;
    Refused when it names another store, bucket or scheme."""
    if objects.on_store(path):
        if path.bucket != root.bucket or getattr(path, "conn_id", None) != getattr(root, "conn_id", None):
            raise Refused(str(path))
        return path
    text = str(path)
    parts = urlsplit(text)
    # `s3://<conn id>@bucket/key` is how Airflow writes an ObjectStoragePath: only the root's conn id.
    if parts.scheme.lower() not in ("s3", "s3a") or parts.hostname != root.bucket or parts.password:
        raise Refused(text)
    if parts.username is not None and parts.username != getattr(root, "conn_id", None):
        raise Refused(text)
    if parts.port or parts.query or parts.fragment or "\x00" in text or "\\" in text:
        raise Refused(text)
    key = parts.path.lstrip("/")
    base = objects.key_of(root).partition("/")[2]
    if not key.startswith(f"{base}/" if base else ""):
        raise Refused(text)
    return root / key[len(base) + 1 :] if base else root / key


def _below(root: Any, target: Any) -> Any:
    """`target` when its key lies strictly below the prefix `root`, with no `.`, `..` or empty part, and
    something (an object or a prefix) is there."""
    try:
        rel = objects.relative(target, root)
    except ValueError as exc:
        raise Refused(str(target)) from exc
    if any(part in ("", ".", "..") for part in rel.split("/")):
        raise Refused(rel)
    objects.forget(target)  # what the store holds now, not what this api-server saw before
    try:
        if not target.fs.exists(target.path):
            raise Refused(rel)
    except OSError as exc:  # the store refused or is unreachable: nothing is read
        raise Refused(rel) from exc
    return target


def _object(root: Any, target: Any, relative: str) -> Any:
    """`target` (already checked by `_below`) when it is an object, not a prefix."""
    try:
        if not target.fs.isfile(target.path):
            raise Refused(relative)
    except OSError as exc:
        raise Refused(relative) from exc
    return target
