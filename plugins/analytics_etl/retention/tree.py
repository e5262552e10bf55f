"""The files under `etl_data_dir`: which directories belong to which run of which date, and their removal.

The layout comes from `RunPaths` (paths.py): a directory is a target only when `RunPaths` of its date
and run key gives back exactly its path, so nothing that merely looks like a partition is touched.
The data docs site is shared by all runs; a run owns there its validation results
(`_results/<suite>/<date>_<run key>/`) and their pages (`validations/<suite>/<date>_<run key>/`),
named by the gate's GX run name (`quality._run_identifier`).

Removal never leaves `etl_data_dir`: a target whose real path (symbolic links resolved) is outside
it is refused, and inside a target links are removed, never followed. A dry run walks the same
files and reports the same counts without removing anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from analytics_etl import objects
from analytics_etl.paths import OUTPUT_TABLES, RunPaths
from analytics_etl.publish import PublishError, read_pointer
from analytics_etl.quality import RESULTS_STORE_DIR
from analytics_etl.retention.policy import Deletion, Plan, Target
from analytics_etl.run_lock import site_lock

log = logging.getLogger(__name__)

DELETED = "deleted"
DRY_RUN = "dry_run"
REFUSED = "refused"

_PROBE = (dt.date(2000, 1, 1), "probe")  # any date and key: only the layout's parents are used
_DATE = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_RUN = re.compile(r"run=([A-Za-z0-9_.-]+)")
_GX_RUN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})_([A-Za-z0-9_.-]+)")
DATA_DOCS_SECTIONS = (RESULTS_STORE_DIR, "validations")  # results store, and GX's pages of them


# -- what is on disk ---------------------------------------------------------------------------------
def scan(data_dir: Path) -> list[Target]:
    """Every directory of a run (or a date's quarantine) under `data_dir`, in a stable order."""
    if objects.on_store(data_dir):
        return _scan_store(data_dir)
    data_dir = Path(data_dir)
    probe = _paths(data_dir, *_PROBE)
    found = list(_runs(data_dir, "staging", probe.staging.parents[1], lambda p: p.staging))
    for table in OUTPUT_TABLES:
        found += _runs(data_dir, "curated", probe.output(table).parents[1], lambda p, t=table: p.output(t))
    found += _runs(data_dir, "validation", probe.validation.parents[1], lambda p: p.validation)
    found += _data_docs(probe.data_docs)
    for entry, date in _dated(probe.quarantine.parent, _DATE):
        if _paths(data_dir, date, _PROBE[1]).quarantine == entry:
            found.append(Target("quarantine", date, None, entry))
    return sorted(found, key=lambda t: (t.date, t.run_key or "", t.kind, str(t.path)))


def _paths(data_dir: Path, date: dt.date, key: str) -> RunPaths:
    return RunPaths(data_dir, data_dir, date, key)


def _subdirs(directory: Path) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    yield from (Path(e.path) for e in entries if e.is_dir())


def _dated(directory: Path, pattern: re.Pattern[str]) -> Iterator[tuple[Path, dt.date]]:
    for entry in _subdirs(directory):
        match = pattern.fullmatch(entry.name)
        if match:
            with contextlib.suppress(ValueError):  # date=2024-02-30 is no partition of ours
                yield entry, dt.date.fromisoformat(match.group(1))


def _runs(data_dir: Path, kind: str, base: Path, layout: Callable[[RunPaths], Path]) -> Iterator[Target]:
    for date_dir, date in _dated(base, _DATE):
        for run_dir in _subdirs(date_dir):
            match = _RUN.fullmatch(run_dir.name)
            if match and layout(_paths(data_dir, date, match.group(1))) == run_dir:
                yield Target(kind, date, match.group(1), run_dir)


def _data_docs(site: Path) -> Iterator[Target]:
    for section in DATA_DOCS_SECTIONS:
        for suite_dir in _subdirs(site / section):
            for run_dir, date in _dated(suite_dir, _GX_RUN_NAME):
                yield Target("data_docs", date, run_dir.name[len("YYYY-MM-DD_") :], run_dir)


# -- on an object store: the same targets, from one listing of the keys ---------------------------------
def _scan_store(root) -> list[Target]:
    """`scan` on a store. A prefix is a target when the layout of its date and run key gives it back;
    a date's quarantine is one target, and each of its `run=K/` prefixes that its `_PUBLISHED.json`
    does not name is one more (a superseded or killed run's rejects: policy.plan decides)."""
    layout: dict[str, tuple[str, dt.date, str | None]] = {}
    runs_in: dict[str, set[str]] = {}  # a date's quarantine prefix -> its `run=K` prefixes
    for rel in objects.files(root):
        found = _store_target(rel)
        if found:
            layout.setdefault(found[0], found[1:])
            parts = rel.split("/")
            if found[1] == "quarantine" and len(parts) > 4 and _RUN.fullmatch(parts[3]):
                runs_in.setdefault(found[0], set()).add(parts[3])
    targets = [Target(kind, date, key, root / prefix) for prefix, (kind, date, key) in layout.items()]
    for prefix, runs in sorted(runs_in.items()):
        targets += _unpublished(root, prefix, layout[prefix][1], runs)
    return sorted(targets, key=lambda t: (t.date, t.run_key or "", t.kind, str(t.path)))


def _store_target(rel: str) -> tuple[str, str, dt.date, str | None] | None:
    """(prefix, kind, date, run key) of the target a key lies in, or None when it lies in none."""
    parts = rel.split("/")
    candidates = [("staging", 3), ("validation", 3), ("curated", 4), ("data_docs", 4), ("quarantine", 3)]
    for kind, depth in candidates:
        if parts[0] != kind or len(parts) <= depth:
            continue
        prefix = "/".join(parts[:depth])
        if kind == "data_docs":
            match = _GX_RUN_NAME.fullmatch(parts[3])
            if match and parts[1] in DATA_DOCS_SECTIONS and parts[2] in OUTPUT_TABLES:
                with contextlib.suppress(ValueError):
                    return prefix, kind, dt.date.fromisoformat(match.group(1)), match.group(2)
            return None
        date = _DATE.fullmatch(parts[depth - 2] if kind != "quarantine" else parts[2])
        key = _RUN.fullmatch(parts[depth - 1]) if kind != "quarantine" else None
        if not date or (kind != "quarantine" and not key):
            return None
        try:
            day = dt.date.fromisoformat(date.group(1))
        except ValueError:  # date=2024-02-30 is no partition of ours
            return None
        run = key.group(1) if key else None
        if _relative_layout(kind, day, run or _PROBE[1], parts) == prefix:
            return prefix, kind, day, run
        return None
    return None


def _relative_layout(kind: str, day: dt.date, key: str, parts: list[str]) -> str:
    paths = _paths(Path(""), day, key)
    if kind == "curated":
        return str(paths.output(parts[1])) if parts[1] in OUTPUT_TABLES else ""
    return str(
        {"staging": paths.staging, "validation": paths.validation, "quarantine": paths.quarantine}[kind]
    )


def _unpublished(root, prefix: str, date: dt.date, runs: set[str]) -> list[Target]:
    """The `run=K/` prefixes of a date's quarantine that its pointer does not name."""
    try:
        pointer = read_pointer(root / prefix)
    except PublishError as err:  # nothing says which run the readers read: every run's rejects stay
        log.error("kept every run of %s: %s", prefix, err)
        return []
    published = f"run={pointer.run}" if pointer else None
    return [
        Target("quarantine", date, run.removeprefix("run="), root / prefix / run)
        for run in sorted(runs)
        if run != published
    ]


# -- removal --------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What became of one planned deletion."""

    deletion: Deletion
    action: str  # DELETED, DRY_RUN (would be deleted) or REFUSED (outside etl_data_dir)
    files: int = 0
    bytes: int = 0
    error: str | None = None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    skipped_dates: list[dt.date] = field(default_factory=list)

    @property
    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == REFUSED]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error and o.action != REFUSED]


def execute(
    plan: Plan,
    data_dir: Path,
    *,
    dry_run: bool,
    still_as_planned: Callable[[dt.date], bool] = lambda date: True,
    record: Callable[[list[Outcome]], None] = lambda outcomes: None,
) -> Report:
    """Carry out (or, in a dry run, measure) the plan, one date at a time.

    Before a date is touched, `still_as_planned(date)` must confirm that its runs have not changed
    since the plan was made (a run of it started or was cleared meanwhile): otherwise the date is
    left for the next retention run. `record` gets each date's outcomes once they are final.
    """
    root = data_dir if objects.on_store(data_dir) else Path(data_dir).resolve()
    report = Report()
    by_date: dict[dt.date, list[Deletion]] = {}
    for deletion in plan.deletions:
        by_date.setdefault(deletion.target.date, []).append(deletion)
    for date, deletions in sorted(by_date.items()):
        if not dry_run and not still_as_planned(date):
            log.warning("the runs of %s changed since the plan was made: left for the next run", date)
            report.skipped_dates.append(date)
            continue
        outcomes = [_apply(deletion, root, dry_run) for deletion in deletions]
        record(outcomes)
        report.outcomes += outcomes
    return report


def escapes(root: Path, path: Path) -> bool:
    """True when the real path of `path` is not strictly inside the real directory `root`."""
    real = path.resolve()
    return real == root or not real.is_relative_to(root)


def _apply(deletion: Deletion, root: Path, dry_run: bool) -> Outcome:
    if objects.on_store(root):
        return _apply_store(deletion, root, dry_run)
    path = deletion.target.path
    if escapes(root, path):
        error = f"{path} resolves to {path.resolve()}, outside {root}: left in place"
        log.error("refused %s", error)
        return Outcome(deletion, REFUSED, error=error)
    outcome = Outcome(deletion, DRY_RUN if dry_run else DELETED)
    # The gate rewrites the shared site under this lock (and GX drops pages whose result is gone).
    lock = site_lock(path.parents[2]) if deletion.target.kind == "data_docs" and not dry_run else None
    with lock or contextlib.nullcontext():
        try:
            _sweep(path, outcome, delete=not dry_run)
        except OSError as err:
            outcome.error = f"{type(err).__name__}: {err}"
            log.error("could not delete all of %s: %s", path, outcome.error)
    if not dry_run and deletion.target.run_key is not None and deletion.target.kind != "data_docs":
        with contextlib.suppress(OSError):  # the date's folder, once its last run is gone
            path.parent.rmdir()
    return outcome


def _apply_store(deletion: Deletion, root, dry_run: bool) -> Outcome:
    """`_apply` on a store: the objects under the target's prefix counted, then deleted (markers last)."""
    from analytics_etl.storage import remove_tree

    path = deletion.target.path
    try:
        rel = objects.relative(path, root)
        if ".." in rel.split("/") or "" in rel.split("/"):
            raise ValueError(f"{path} is not a plain key below {root}")
    except ValueError as err:
        log.error("refused %s", err)
        return Outcome(deletion, REFUSED, error=f"{err}: left in place")
    outcome = Outcome(deletion, DRY_RUN if dry_run else DELETED)
    lock = site_lock(root / "data_docs") if deletion.target.kind == "data_docs" and not dry_run else None
    with lock or contextlib.nullcontext():
        try:
            listing = objects.files(path)
            outcome.files, outcome.bytes = len(listing), sum(listing.values())
            if not dry_run:
                remove_tree(path)
        except OSError as err:
            outcome.error = f"{type(err).__name__}: {err}"
            log.error("could not delete all of %s: %s", path, outcome.error)
    return outcome


def _sweep(path: Path, tally: Outcome, *, delete: bool) -> None:
    """Count (and remove) every file under `path`, bottom up, never following a link."""
    if path.is_symlink() or not path.is_dir():
        _entry(path, tally, delete)
        return
    for dirpath, dirnames, filenames in os.walk(path, topdown=False, onerror=_walk_error):
        for name in filenames:
            _entry(Path(dirpath, name), tally, delete)
        for name in dirnames:
            sub = Path(dirpath, name)
            if sub.is_symlink():
                _entry(sub, tally, delete)
            elif delete:
                _rmdir(sub)
    if delete:
        _rmdir(path)


def _entry(path: Path, tally: Outcome, delete: bool) -> None:
    """Remove one entry; count it only when it is a regular file (a link is removed, not counted)."""
    try:
        status = path.lstat()
        if delete:
            path.unlink()
    except FileNotFoundError:  # removed meanwhile (GX cleaning its site): nothing to count
        return
    if stat.S_ISREG(status.st_mode):
        tally.files += 1
        tally.bytes += status.st_size


def _rmdir(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.rmdir()


def _walk_error(err: OSError) -> None:
    if not isinstance(err, FileNotFoundError):
        raise err
