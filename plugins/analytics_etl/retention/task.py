"""The task of DAG `analytics_retention`: scan, plan, delete (or measure), record, rebuild the data docs index.

The tree is scanned *before* `etl_runs` is read: a run writes its record before its first file, so
every run folder seen has its record in the later read, and a folder without one is not a run that
has just started. A record still `running` counts as in progress unless Airflow says its DAG run is
neither queued nor running (a killed run whose failure was never recorded); when Airflow cannot be
asked, it counts as in progress.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from analytics_etl import settings
from analytics_etl.retention import policy, store, tree
from analytics_etl.tasks import ACTIVE_DAG_RUN_STATES

log = logging.getLogger(__name__)


def apply_retention(**context: Any) -> dict[str, Any]:
    """Delete (or, with the `dry_run` Param, only report) what the retention policy selects."""
    from airflow.sdk.exceptions import AirflowFailException

    dry_run = context["params"].get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise AirflowFailException(f"Param dry_run must be true or false, got {dry_run!r}")
    dag_run = context["dag_run"]
    reference_day = (dag_run.run_after or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    try:
        days = settings.retention_days()
    except ValueError as err:
        raise AirflowFailException(str(err)) from None
    from analytics_etl.objects import on_store
    from analytics_etl.storage import root_path

    data_dir = root_path(settings.required_variable(settings.VAR_DATA_DIR))

    targets = tree.scan(data_dir)
    conn = _analytics()
    try:
        runs = [
            _with_activity(run, context["ti"]) for run in store.runs_of_dates(conn, {t.date for t in targets})
        ]
        plan = policy.plan(targets, runs, reference_day, days)
        _log_plan(plan, dry_run)
        store.clear_planned(conn, dag_run.run_id)
        report = tree.execute(
            plan,
            data_dir,
            dry_run=dry_run,
            still_as_planned=_unchanged_since(conn, runs),
            record=lambda outcomes: _record(conn, dag_run.run_id, outcomes, data_dir),
        )
    finally:
        conn.close()
    if not dry_run and on_store(data_dir):
        log.warning(
            "the data docs index on the store is not rebuilt by retention yet: the removed runs' "
            "results and pages are gone, but the index may list them until the next gate rebuilds it"
        )
    elif not dry_run:
        from analytics_etl.retention.data_docs import rebuild_index

        rebuild_index(data_dir)
    summary = _summary(plan, report, dry_run)
    log.info("retention %s: %s", "dry run" if dry_run else "done", summary)
    if report.refused:
        paths = ", ".join(str(o.deletion.target.path) for o in report.refused)
        raise AirflowFailException(f"refused to delete outside {data_dir} (symbolic links): {paths}")
    if report.failed:
        errors = "; ".join(f"{o.deletion.target.path}: {o.error}" for o in report.failed)
        raise RuntimeError(f"some files could not be deleted (the next try goes on): {errors}")
    return summary


def _analytics() -> Any:
    from analytics_etl.db import connect

    return connect(settings.ANALYTICS_CONN_ID, application_name="analytics_retention")


def _with_activity(run: policy.EtlRun, ti: Any) -> policy.EtlRun:
    if run.status != "running":
        return run
    try:
        active = ti.get_dr_count(dag_id=run.dag_id, run_ids=[run.run_id], states=ACTIVE_DAG_RUN_STATES) > 0
    except Exception:  # Airflow could not be asked: the run may well be going on
        log.exception("could not ask Airflow whether %s of %s is running: kept", run.run_id, run.dag_id)
        active = True
    if not active:
        log.warning(
            "etl_runs says %s of %s is running, but its DAG run is not: its files are handled as a "
            "failed run's",
            run.run_id,
            run.date,
        )
    return dataclasses.replace(run, in_progress=active)


def _unchanged_since(conn: Any, runs: list[policy.EtlRun]) -> Any:
    planned: dict[dt.date, list[policy.EtlRun]] = defaultdict(list)
    for run in runs:
        planned[run.date].append(run)

    def unchanged(date: dt.date) -> bool:
        return store.fingerprint(store.runs_of_dates(conn, [date])) == store.fingerprint(planned[date])

    return unchanged


def _record(conn: Any, retention_run_id: str, outcomes: list[tree.Outcome], data_dir: Path) -> None:
    rows = store.log_rows(retention_run_id, outcomes, data_dir)
    for row in rows:
        log.info(
            "%s %s %s run=%s (%s, %s): %d files, %s%s",
            row["action"],
            row["date"],
            row["kind"],
            row["run_key"] or "-",
            row["reason"],
            row["run_status"] or "no etl_runs record",
            row["files"],
            human_bytes(row["bytes"]),
            f"; error: {row['error']}" if row["error"] else "",
        )
    store.insert_log(conn, rows)


def _log_plan(plan: policy.Plan, dry_run: bool) -> None:
    log.info(
        "retention as of %s: %d days, dates before %s expire; %d directories to delete%s",
        plan.reference_day,
        plan.retention_days,
        plan.oldest_kept_date,
        len(plan.deletions),
        " (dry run: nothing is deleted)" if dry_run else "",
    )
    for kept in plan.kept:
        log.info("kept %s run=%s: %s", kept.date, kept.run_key or "- (quarantine)", kept.why)


def _summary(plan: policy.Plan, report: tree.Report, dry_run: bool) -> dict[str, Any]:
    totals: dict[str, dict[str, int]] = {}
    for outcome in report.outcomes:
        if outcome.action == tree.REFUSED:
            continue
        kind = totals.setdefault(outcome.deletion.target.kind, {"files": 0, "bytes": 0})
        kind["files"] += outcome.files
        kind["bytes"] += outcome.bytes
    return {
        "dry_run": dry_run,
        "reference_day": plan.reference_day.isoformat(),
        "oldest_kept_date": plan.oldest_kept_date.isoformat(),
        "files": sum(k["files"] for k in totals.values()),
        "bytes": sum(k["bytes"] for k in totals.values()),
        "by_kind": totals,
        "refused": [str(o.deletion.target.path) for o in report.refused],
        "skipped_dates": [d.isoformat() for d in report.skipped_dates],
    }


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
