"""The one gate between a request and the filesystem: nothing outside `etl_data_dir` is ever served.

A request's path arrives percent-decoded once (`%2F` is already `/`); it is never decoded again, so
`%252F` stays the literal text `%2F`, which names no file. What is left is refused when it is
absolute, holds an empty, `.`, `..` or hidden component, a backslash or a NUL; what passes is
resolved through every symlink and must still lie inside the root, and be a regular file.
"""

from __future__ import annotations

from pathlib import Path


class Refused(LookupError):
    """The path is not one this app serves (the caller answers 404, naming nothing)."""


def served_file(root: Path, relative: str) -> Path:
    """The real path of the file `relative` below `root`; raises Refused for anything else."""
    if not relative or relative.startswith("/") or "\\" in relative or "\x00" in relative:
        raise Refused(relative)
    if any(part == "" or part.startswith(".") for part in relative.split("/")):
        raise Refused(relative)
    target = inside(root, root / relative)
    if not target.is_file():
        raise Refused(relative)
    return target


def inside(root: Path, path: str | Path) -> Path:
    """`path` with every symlink resolved, if it exists and lies inside `root` (also resolved).

    Used for the paths a run record holds too: a record is data, and data does not choose what the
    api-server reads.
    """
    try:
        real_root = Path(root).resolve(strict=True)
        target = Path(path).resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # missing, a symlink loop
        raise Refused(str(path)) from exc
    if not target.is_relative_to(real_root):
        raise Refused(str(path))
    return target
