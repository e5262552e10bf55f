"""The platform's own files without one user, each rewritten atomically (a temporary file renamed over it).

- staging and curated Parquet (every date and run): the rows whose `user_id` (or the extract's `id`)
  is the user are dropped;
- the quarantine (JSON lines): the rejected rows that mention the user's id are dropped;
- validation results and data docs (JSON, HTML): the user's id and e-mail are redacted where a
  failed expectation listed them as unexpected values.

The producers' drop folders are not the platform's and are left alone (docs/lifecycle.md). Nothing
outside `etl_data_dir` is ever opened: symbolic links are not followed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REDACTED = "[erased]"
USER_COLUMNS = ("user_id", "id")  # `id`: the staging extract of source `users`
# Transient, owned by a running Spark job (a killed one's stays until retention removes it).
SKIPPED_DIRS = {"ingest_scratch"}


@dataclass
class FileErasure:
    rows_removed: dict[str, int] = field(default_factory=dict)  # per area: staging, curated, quarantine
    rewritten: list[str] = field(default_factory=list)  # relative to etl_data_dir

    def add(self, area: str, root: Path, path: Path, removed: int) -> None:
        if removed:
            self.rows_removed[area] = self.rows_removed.get(area, 0) + removed
            self.rewritten.append(str(path.relative_to(root)))


def _files(root: Path, area: str, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Regular files under `root/area` with one of `suffixes`, never through a symbolic link."""
    base = root / area
    if base.is_symlink() or not base.is_dir():
        return
    for folder, dirs, names in os.walk(base):  # os.walk does not follow links by default
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            if name.endswith(suffixes) and not name.startswith(".") and not path.is_symlink():
                yield path


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    """Write the new content next to `path`, then rename it over `path`; drop Hadoop's stale checksum."""
    tmp = path.with_name(f".{path.name}.erasing")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    path.with_name(f".{path.name}.crc").unlink(missing_ok=True)


def rewrite_parquet(path: Path, user_ids: Collection[str]) -> int:
    """Rows of the users dropped from one Parquet file; returns how many (0: the file is untouched)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    column = next((c for c in USER_COLUMNS if c in names), None)
    if column is None or not user_ids:
        return 0
    table = pq.read_table(path)
    ids = pc.utf8_lower(pc.utf8_trim_whitespace(table.column(column).cast("string")))
    theirs = pc.fill_null(pc.is_in(ids, value_set=pa.array(sorted(user_ids), pa.string())), False)
    removed = pc.sum(theirs).as_py() or 0
    if removed:
        _replace(path, lambda tmp: pq.write_table(table.filter(pc.invert(theirs)), tmp))
    return removed


def rewrite_lines(path: Path, user_ids: Collection[str]) -> int:
    """JSON lines that mention one of the users (in any case) dropped; returns how many."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not any(u in line.lower() for u in user_ids)]
    removed = len(lines) - len(kept)
    if removed:
        _replace(path, lambda tmp: tmp.write_text("".join(kept), encoding="utf-8"))
    return removed


def redact(path: Path, needles: Sequence[str]) -> int:
    """Occurrences of `needles` (case-insensitive) replaced by REDACTED; returns how many."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    pattern = re.compile("|".join(re.escape(n) for n in needles if n), re.IGNORECASE)
    new, count = pattern.subn(REDACTED, text)
    if count:
        _replace(path, lambda tmp: tmp.write_text(new, encoding="utf-8", errors="surrogateescape"))
    return count


def erase_files(data_dir: str | Path, user_id: str, emails: Sequence[str] = ()) -> FileErasure:
    """Every platform file under `data_dir` without the user; see the module doc."""
    root = Path(data_dir)
    done = FileErasure()
    for area in ("staging", "curated"):
        for path in _files(root, area, (".parquet",)):
            done.add(area, root, path, rewrite_parquet(path, {user_id}))
    for path in _files(root, "quarantine", (".json",)):
        done.add("quarantine", root, path, rewrite_lines(path, {user_id}))
    for area in ("validation", "data_docs"):
        for path in _files(root, area, (".json", ".html")):
            done.add("validation_redacted", root, path, redact(path, [user_id, *emails]))
    return done
