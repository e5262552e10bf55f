"""Which files retention deletes: a pure decision over what is on disk and what `etl_runs` says.

A date is *expired* when it is more than `etl_retention_days` days before the reference day (the
retention run's day): every file of it goes, the quarantine included. Inside the window a run's
files go only when the run is *superseded*: a later run of the same date exists and the run is
neither the latest successful one (the sinks hold its result) nor the latest one (a failed latest
run keeps its validation result and rejects: they say why the date's last attempt failed).

Whatever the date, nothing of a run in progress is deleted, nor the quarantine of a date with a run
in progress (that run replaces it). A run folder with no `etl_runs` record is kept inside the window
(a run writes its record before any file, so it is not a run that has just started; but nothing says
it was superseded either) and deleted once its date has expired.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analytics_etl.paths import run_key

KINDS = ("staging", "curated", "validation", "data_docs", "quarantine")
EXPIRED = "expired"
SUPERSEDED = "superseded"


@dataclass(frozen=True)
class EtlRun:
    """One `etl_runs` record. `in_progress`: its status is `running` and Airflow does not say that
    its DAG run has ended (the caller decides; a record left `running` by a killed run is not)."""

    run_id: str
    date: dt.date
    status: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    dag_id: str = "daily_analytics_etl"
    in_progress: bool = False

    @property
    def key(self) -> str:
        return run_key(self.run_id)


@dataclass(frozen=True)
class Target:
    """One directory retention may delete: files of one kind of one run of a date (or, for the
    quarantine, of the date)."""

    kind: str
    date: dt.date
    run_key: str | None
    path: Path


@dataclass(frozen=True)
class Deletion:
    target: Target
    reason: str
    run: EtlRun | None  # the run's record, when it has one


@dataclass(frozen=True)
class Kept:
    date: dt.date
    run_key: str | None  # None: the date's quarantine
    why: str


@dataclass
class Plan:
    reference_day: dt.date
    retention_days: int
    deletions: list[Deletion] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)

    @property
    def oldest_kept_date(self) -> dt.date:
        return self.reference_day - dt.timedelta(days=self.retention_days)

    def dates(self) -> list[dt.date]:
        return sorted({d.target.date for d in self.deletions})


def plan(
    targets: Iterable[Target], runs: Sequence[EtlRun], reference_day: dt.date, retention_days: int
) -> Plan:
    """What to delete among `targets`, knowing the `runs` recorded for their dates."""
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, got {retention_days}")
    result = Plan(reference_day, retention_days)
    runs_of_date: dict[dt.date, list[EtlRun]] = defaultdict(list)
    for run in runs:
        runs_of_date[run.date].append(run)
    groups: dict[tuple[dt.date, str | None], list[Target]] = defaultdict(list)
    unpublished: list[Target] = []
    for target in targets:
        if target.kind == "quarantine" and target.run_key is not None:
            unpublished.append(target)  # on a store: a run's rejects that no pointer names
        else:
            groups[(target.date, target.run_key)].append(target)
    for (date, key), group in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        expired = date < result.oldest_kept_date
        recorded = runs_of_date.get(date, [])
        if key is None:
            reason, why, record = _quarantine(expired, recorded), _quarantine_kept_why(expired), None
        else:
            mine = [r for r in recorded if r.key == key]
            reason, why = _run(expired, mine, recorded)
            record = max(mine, key=_started, default=None)
        if reason:
            result.deletions += [Deletion(t, reason, record) for t in sorted(group, key=_target_order)]
        else:
            result.kept.append(Kept(date, key, why))
    _plan_unpublished(result, unpublished, runs_of_date)
    return result


def _plan_unpublished(
    result: Plan, targets: Sequence[Target], runs_of_date: dict[dt.date, list[EtlRun]]
) -> None:
    """The unpublished `run=K/` prefixes of quarantines on a store, added to `result`."""
    covered = {d.target.date for d in result.deletions if d.target.kind == "quarantine"}
    for target in sorted(targets, key=lambda t: (t.date, t.run_key or "")):
        if target.date in covered:  # the date's whole quarantine goes (expired)
            continue
        mine = [r for r in runs_of_date.get(target.date, []) if r.key == target.run_key]
        reason, why = _unpublished(mine, runs_of_date.get(target.date, []))
        if reason:
            result.deletions.append(Deletion(target, reason, max(mine, key=_started)))
        else:
            result.kept.append(Kept(target.date, target.run_key, f"its unpublished rejects: {why}"))
    result.deletions.sort(key=lambda d: (d.target.date, d.target.run_key or "", _target_order(d.target)))


def _unpublished(mine: Sequence[EtlRun], recorded: Sequence[EtlRun]) -> tuple[str | None, str]:
    """(SUPERSEDED, '') for the rejects of a run that the date's pointer does not name, once a later run
    of the date has ended (the run was killed, failed or was superseded before or after publishing);
    otherwise (None, why they stay). The published run's rejects are never a target."""
    if not mine:
        return None, "no etl_runs record: not known to be superseded"
    if any(r.in_progress for r in mine):
        return None, "in progress"
    started = max(mine, key=_started)
    if any(r.key != started.key and not r.in_progress and _started(r) > _started(started) for r in recorded):
        return SUPERSEDED, ""
    return None, "no later run of the date has ended"


def _quarantine(expired: bool, recorded: Sequence[EtlRun]) -> str | None:
    if expired and not any(r.in_progress for r in recorded):
        return EXPIRED
    return None


def _quarantine_kept_why(expired: bool) -> str:
    return "a run of the date is in progress" if expired else "the date is inside the window"


def _run(expired: bool, mine: Sequence[EtlRun], recorded: Sequence[EtlRun]) -> tuple[str | None, str]:
    """(reason to delete, or None and why the run is kept) for one run folder of a date."""
    if any(r.in_progress for r in mine):
        return None, "in progress"
    if expired:
        return EXPIRED, ""
    if not mine:
        return None, "no etl_runs record: not known to be superseded"
    keepers = _keepers(recorded)
    if mine[0].key in keepers:
        return None, keepers[mine[0].key]
    return SUPERSEDED, ""


def _keepers(recorded: Sequence[EtlRun]) -> dict[str, str]:
    """Run keys never superseded: the latest successful run and the latest run of the date."""
    keepers: dict[str, str] = {}
    latest = max(recorded, key=_started)
    keepers[latest.key] = f"latest run ({latest.status})"
    successes = [r for r in recorded if r.status == "success"]
    if successes:
        best = max(successes, key=lambda r: (r.ended_at or r.started_at, r.started_at, r.run_id))
        keepers[best.key] = "latest successful run"
    return keepers


def _started(run: EtlRun) -> tuple[dt.datetime, str]:
    return run.started_at, run.run_id


def _target_order(target: Target) -> tuple[int, str]:
    return KINDS.index(target.kind), str(target.path)
