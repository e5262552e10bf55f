"""The platform's own files without one user: every file under `etl_data_dir`, each rewritten atomically
(a temporary file renamed over it), or removed when no reader would ever read it.

- Parquet (staging, curated, anywhere): the rows whose `user_id` (or the extract's `id`) is the
  user, or whose text columns mention the id (the ingest's `raw` line), are dropped;
- the quarantine (JSON lines, gzipped or not) and any gzipped text: the lines that mention the id go;
- other text (validation results, data docs, reports): the id and e-mail are replaced by REDACTED;
- any other file that holds the id fails the erasure naming it: nothing is left behind unsaid.

What a killed job leaves is removed without being parsed: Spark's uncommitted attempts
(`_temporary`), a run's ingest scratch once no job writes that run, and files written aside under a
temporary name (`*.tmp`, `.*.erasing`). A run a job is writing right now is waited for through its
writer lock (run_lock.py), never skipped. A file that cannot be read fails the erasure naming it.
Nothing outside `etl_data_dir` is opened: symbolic links are neither followed nor counted.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import re
import shutil
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from analytics_etl import objects
from analytics_etl.paths import RunPaths
from analytics_etl.publish import POINTER, refresh_pointer
from analytics_etl.run_lock import no_writer, site_lock

REDACTED = "[erased]"
USER_COLUMNS = ("user_id", "id")  # `id`: the staging extract of source `users`
ROW_AREAS = ("staging", "curated", "quarantine")  # rows removed: files.<area>
VALIDATION_AREAS = ("validation", "data_docs")  # redactions: files.validation_redacted
# Every count the erasure_log row carries, zeros included.
KEYS = (*ROW_AREAS, "validation_redacted", "other", "removed_unread")
UNCOMMITTED_DIR = "_temporary"  # Hadoop's output committer: attempts not committed (yet, or ever)
ASIDE_SUFFIXES = (".tmp", ".erasing")  # written aside, renamed when whole: never read under this name
TEXT_SUFFIXES = (".json", ".jsonl", ".html", ".csv", ".txt", ".md", ".log", ".js", ".css", ".xml")
LINE_AREAS = ("quarantine",)  # JSON lines: a line that mentions the user goes
_DATE = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_RUN = re.compile(r"run=([A-Za-z0-9_.-]+)")
_GX_RUN = re.compile(r"(\d{4}-\d{2}-\d{2})_([A-Za-z0-9_.-]+)")


class Unreadable(ValueError):
    """A file the erasure cannot read or rewrite: deterministic, it names the file."""


Record = Callable[[dict[str, int], list[str], list[str]], None]


@dataclass
class FileErasure:
    rows_removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KEYS, 0))
    rewritten: list[str] = field(default_factory=list)  # relative to etl_data_dir
    removed: list[str] = field(default_factory=list)  # removed without being read, relative
    record: Record = lambda rows, rewritten, removed: None  # called as each change is made

    def add(self, key: str, rel: str, removed: int) -> None:
        if removed:
            self.rows_removed[key] += removed
            self.rewritten.append(rel)
            self.record({key: removed}, [rel], [])

    def drop(self, rels: list[str]) -> None:
        if rels:
            self.rows_removed["removed_unread"] += len(rels)
            self.removed += rels
            self.record({"removed_unread": len(rels)}, [], rels)


# -- units: the files of one run, of one date's quarantine, and the rest --------------------------------
@dataclass(frozen=True)
class Unit:
    """Files handled under one set of locks: `stagings` are the runs whose writers must be absent."""

    roots: tuple[Path, ...]
    stagings: tuple[Path, ...]
    scratch: Path | None = None  # the run's ingest scratch: a leftover once no job writes the run
    site_lock: bool = False


def units(root: Path) -> list[Unit]:
    """Every run's folders, every date's quarantine, then the rest of `root` (shared site included)."""
    runs: dict[tuple[str, str], list[Path]] = {}
    for pattern in ("staging/date=*/run=*", "curated/*/date=*/run=*", "validation/date=*/run=*"):
        for folder in root.glob(pattern):
            date, key = _DATE.fullmatch(folder.parent.name), _RUN.fullmatch(folder.name)
            if date and key and not folder.is_symlink():
                runs.setdefault((date.group(1), key.group(1)), []).append(folder)
    for folder in root.glob("data_docs/*/*/*"):
        match = _GX_RUN.fullmatch(folder.name)
        if match and folder.is_dir() and not folder.is_symlink():
            runs.setdefault((match.group(1), match.group(2)), []).append(folder)
    found = []
    for (date, key), folders in sorted(runs.items()):
        paths = RunPaths(root, root, _date(date), key)
        docs = any(f.is_relative_to(paths.data_docs) for f in folders)
        found.append(Unit(tuple(sorted(folders)), (paths.staging,), paths.ingest_scratch, docs))
    for folder in sorted(root.glob("quarantine/*/date=*")):
        date = _DATE.fullmatch(folder.name)
        if date and not folder.is_symlink():
            stagings = tuple(sorted(root.glob(f"staging/date={date.group(1)}/run=*")))
            found.append(Unit((folder,), stagings))
    return [*found, Unit((root,), (), None, True)]


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def erase_files(
    data_dir: str | Path,
    user_id: str,
    emails: Sequence[str] = (),
    *,
    record: Record | None = None,
    lock_timeout: float = 1800,
) -> FileErasure:
    """Every platform file under `data_dir` without the user; see the module doc. `record` gets each
    change as it is made, so a failure later leaves a trace of what was done."""
    from analytics_etl.storage import root_path

    root = root_path(data_dir)
    done = FileErasure(record=record or FileErasure.record)
    if objects.on_store(root):
        _erase_store(root, user_id, emails, done, lock_timeout)
        return done
    if root.is_symlink() or not root.is_dir():
        return done
    found = units(root)
    claimed = {r for unit in found[:-1] for r in unit.roots}
    for unit in found:
        with ExitStack() as held:
            held.enter_context(no_writer(unit.stagings, lock_timeout))
            if unit.site_lock and (root / "data_docs").is_dir():
                held.enter_context(site_lock(root / "data_docs"))
            for top in unit.roots:
                _erase_tree(root, top, unit, claimed - {top}, user_id, emails, done)
    return done


# -- on an object store: the same units, from a listing of keys --------------------------------------------
def _store_unit(rel: str) -> tuple[str, str, str]:
    """('run', date, key), ('quarantine', date, '') or ('rest', '', '') for one key under the root,
    as `units` groups the local folders."""
    parts = rel.split("/")
    where = {"staging": 1, "validation": 1, "curated": 2}.get(parts[0])
    if where and len(parts) > where + 2:
        date, key = _DATE.fullmatch(parts[where]), _RUN.fullmatch(parts[where + 1])
        if date and key and _valid(date.group(1)):
            return "run", date.group(1), key.group(1)
    if parts[0] == "data_docs" and len(parts) > 4:
        match = _GX_RUN.fullmatch(parts[3])
        if match and _valid(match.group(1)):
            return "run", match.group(1), match.group(2)
    if parts[0] == "quarantine" and len(parts) > 3:
        date = _DATE.fullmatch(parts[2])
        if date and _valid(date.group(1)):
            return "quarantine", date.group(1), ""
    return "rest", "", ""


def _valid(text: str) -> bool:
    try:
        _date(text)
    except ValueError:
        return False
    return True


def _run_prefixes(date: str, key: str, seen: Collection[str]) -> list[str]:
    """Every prefix a run of the layout may write (those not listed yet included: a writer may have
    ended since the listing), with those the listing showed."""
    from analytics_etl.paths import OUTPUT_TABLES
    from analytics_etl.quality import RESULTS_STORE_DIR

    layout = RunPaths(Path(""), Path(""), _date(date), key)
    prefixes = {str(layout.staging), str(layout.validation), *(str(layout.output(t)) for t in OUTPUT_TABLES)}
    for section in (RESULTS_STORE_DIR, "validations"):
        prefixes |= {f"{layout.data_docs}/{section}/{suite}/{date}_{key}" for suite in OUTPUT_TABLES}
    return sorted(prefixes | set(seen))


def _unit_prefix(rel: str, kind: str) -> str:
    """The run's (or date's) folder a key lies in; the key itself for the rest."""
    if kind == "rest":
        return rel
    parts = rel.split("/")
    depth = {"staging": 3, "validation": 3, "curated": 4, "data_docs": 4, "quarantine": 3}[parts[0]]
    return "/".join(parts[:depth])


def _store_units(root) -> tuple[dict[tuple[str, str, str], set[str]], dict[str, set[str]]]:
    """The units of the keys under `root` (each with the prefixes it was seen in), and the run keys of
    each date (its staging's runs and, on the store, its quarantine's `run=` prefixes)."""
    groups: dict[tuple[str, str, str], set[str]] = {}
    runs_of_date: dict[str, set[str]] = {}
    for rel in objects.files(root):
        kind, date, key = unit = _store_unit(rel)
        groups.setdefault(unit, set()).add(_unit_prefix(rel, kind))
        parts = rel.split("/")
        if kind == "quarantine" and len(parts) > 4 and _RUN.fullmatch(parts[3]):
            key = parts[3].removeprefix("run=")
        if key:
            runs_of_date.setdefault(date, set()).add(key)
    return groups, runs_of_date


def _erase_store(root, user_id: str, emails: Sequence[str], done: FileErasure, lock_timeout: float) -> None:
    """`erase_files` on a store: the units of `units`, each listed again once its locks are held."""
    groups, runs_of_date = _store_units(root)
    order = {"run": 0, "quarantine": 1, "rest": 2}
    for (kind, date, key), seen in sorted(groups.items(), key=lambda item: (order[item[0][0]], item[0])):
        if kind == "run":
            layout = RunPaths(Path(""), Path(""), _date(date), key)
            stagings, scratch = [root / str(layout.staging)], f"{layout.ingest_scratch}/"
            prefixes = _run_prefixes(date, key, seen)
        elif kind == "quarantine":
            stagings = [root / f"staging/date={date}/run={k}" for k in sorted(runs_of_date.get(date, ()))]
            scratch, prefixes = None, sorted(seen)
        else:
            stagings, scratch, prefixes = [], None, sorted(seen)
        with ExitStack() as held:
            held.enter_context(no_writer(stagings, lock_timeout))
            if kind != "quarantine" and any(p.startswith("data_docs/") for p in prefixes):
                held.enter_context(site_lock(root / "data_docs"))
            for prefix in prefixes:
                _erase_prefix(root, prefix, scratch, user_id, emails, done)
            if kind == "quarantine":
                for prefix in prefixes:  # the pointer, written last, tells the new sizes
                    refresh_pointer(root / prefix)


def _erase_prefix(root, prefix: str, scratch: str | None, user_id: str, emails, done: FileErasure) -> None:
    listing = objects.files(root / prefix)
    leftovers = []
    for sub in sorted(listing):
        rel = f"{prefix}/{sub}" if sub else prefix
        name = rel.rsplit("/", 1)[-1]
        if UNCOMMITTED_DIR in rel.split("/")[:-1] or (scratch and rel.startswith(scratch)):
            leftovers.append(rel)
        elif name.endswith(ASIDE_SUFFIXES):
            leftovers.append(rel)
        elif name.endswith(".crc") or (name == POINTER and rel.startswith("quarantine/")):
            continue  # a checksum, or the publish pointer (rewritten after the date's files)
        else:
            _erase_file(root, root / rel, rel, user_id, emails, done)
    if leftovers:
        objects.delete(root, leftovers)
        done.drop(leftovers)


def _erase_tree(root, top, unit, prune, user_id, emails, done: FileErasure) -> None:
    for kind, path in _walk(top, prune, unit.scratch):
        rel = str(path.relative_to(root))
        if kind == "leftover":
            done.drop(_remove(root, path))
        else:
            _erase_file(root, path, rel, user_id, emails, done)


def _walk(top: Path, prune: Collection[Path], scratch: Path | None) -> Iterator[tuple[str, Path]]:
    """("leftover", path) for what a killed writer left, ("file", path) for every other regular file."""
    if top.is_symlink() or not top.is_dir():
        return
    for folder, dirs, names in os.walk(top):  # os.walk does not follow links by default
        kept = []
        for name in sorted(dirs):
            path = Path(folder) / name
            if path in prune or path.is_symlink():
                continue
            if name == UNCOMMITTED_DIR or path == scratch:
                yield "leftover", path
            else:
                kept.append(name)
        dirs[:] = kept
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            if name.endswith(ASIDE_SUFFIXES):
                yield "leftover", path
            elif not name.endswith(".crc"):  # a checksum: dropped with its file when that is rewritten
                yield "file", path


def _remove(root: Path, path: Path) -> list[str]:
    """Remove a file or a tree (links inside removed, not followed); the files, relative to `root`."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return [str(path.relative_to(root))]
    files = [
        str((Path(folder) / name).relative_to(root))
        for folder, _, names in os.walk(path)
        for name in names
        if not (Path(folder) / name).is_symlink()
    ]
    shutil.rmtree(path)
    return sorted(files)


def _erase_file(root, path: Path, rel: str, user_id: str, emails: Sequence[str], done: FileErasure) -> None:
    area = rel.split("/")[0] if "/" in rel else "other"
    row_key = area if area in ROW_AREAS else "other"
    try:
        if path.name.endswith(".parquet"):
            done.add(row_key, rel, rewrite_parquet(path, {user_id}))
        elif path.name.endswith(".gz"):
            done.add(row_key, rel, rewrite_gzip_lines(path, {user_id}))
        elif area in LINE_AREAS and path.name.endswith(TEXT_SUFFIXES):
            done.add(row_key, rel, rewrite_lines(path, {user_id}))
        elif path.name.endswith(TEXT_SUFFIXES):
            key = "validation_redacted" if area in VALIDATION_AREAS else "other"
            done.add(key, rel, redact(path, [user_id, *emails]))
        elif _mentions_bytes(path, user_id):
            raise Unreadable(f"{path} holds user {user_id} in a format the erasure cannot rewrite")
    except Unreadable:
        raise
    except Exception as err:  # pyarrow's ArrowInvalid (an empty or truncated file), a bad gzip, ...
        raise Unreadable(f"cannot read {path}: {type(err).__name__}: {err}") from err


def _mentions_bytes(path: Path, user_id: str) -> bool:
    data = path.read_bytes()
    return user_id.encode() in data or user_id.upper().encode() in data


def _replace(path: Path, data: bytes) -> None:
    """`path` replaced by `data` whole. Locally: written next to it, then renamed over it, and Hadoop's
    stale checksum dropped. On a store: one PUT of the key (no rename there, none needed: a reader
    gets the old object or the new one)."""
    if objects.on_store(path):
        objects.write_bytes(path, data)
        return
    tmp = path.with_name(f".{path.name}.erasing")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    path.with_name(f".{path.name}.crc").unlink(missing_ok=True)


def _theirs(table, user_ids: Collection[str]):
    """Rows whose user column is one of the users, or whose text columns mention one (any case)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pa.array([False] * table.num_rows, pa.bool_())
    # One RE2 pass per text column, however many users (the replay passes every erased one).
    mentions = "|".join(re.escape(user) for user in sorted(user_ids))
    for name in table.column_names:
        column = table.column(name)
        if name in USER_COLUMNS:
            ids = pc.utf8_lower(pc.utf8_trim_whitespace(column.cast("string")))
            hits = pc.is_in(ids, value_set=pa.array(sorted(user_ids), pa.string()))
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            hits = pc.match_substring_regex(column, mentions, ignore_case=True)
        else:
            continue
        mask = pc.or_(mask, pc.fill_null(hits, False))  # a NULL value mentions nobody
    return mask


def rewrite_parquet(path: Path, user_ids: Collection[str]) -> int:
    """Rows of the users dropped from one Parquet file; returns how many (0: the file is untouched)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not user_ids:
        return 0
    import pyarrow as pa

    table = pq.read_table(pa.BufferReader(path.read_bytes()) if objects.on_store(path) else path)
    theirs = _theirs(table, user_ids)
    removed = pc.sum(theirs).as_py() or 0
    if removed:
        sink = pa.BufferOutputStream()
        pq.write_table(table.filter(pc.invert(theirs)), sink)
        _replace(path, sink.getvalue().to_pybytes())
    return removed


def _kept_lines(lines: list[str], user_ids: Collection[str]) -> list[str]:
    if not user_ids:
        return lines
    mentions = re.compile("|".join(re.escape(u) for u in sorted(user_ids)), re.IGNORECASE)
    return [line for line in lines if not mentions.search(line)]


def rewrite_lines(path: Path, user_ids: Collection[str]) -> int:
    """JSON lines that mention one of the users (in any case) dropped; returns how many."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = _kept_lines(lines, user_ids)
    removed = len(lines) - len(kept)
    if removed:
        _replace(path, "".join(kept).encode("utf-8"))
    return removed


def rewrite_gzip_lines(path: Path, user_ids: Collection[str]) -> int:
    """`rewrite_lines` of a gzipped text file, written back gzipped."""
    with gzip.open(io.BytesIO(path.read_bytes()), "rt", encoding="utf-8", errors="surrogateescape") as source:
        lines = source.readlines()
    kept = _kept_lines(lines, user_ids)
    removed = len(lines) - len(kept)
    if removed:
        _replace(path, gzip.compress("".join(kept).encode("utf-8", errors="surrogateescape")))
    return removed


def redact(path: Path, needles: Sequence[str]) -> int:
    """Occurrences of `needles` (case-insensitive) replaced by REDACTED; returns how many."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    pattern = re.compile("|".join(re.escape(n) for n in needles if n), re.IGNORECASE)
    new, count = pattern.subn(REDACTED, text)
    if count:
        _replace(path, new.encode("utf-8", errors="surrogateescape"))
    return count
