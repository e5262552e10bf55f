"""`etl_runs` read (never written) and `retention_log` written, in `analytics_postgres`."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from analytics_etl.objects import relative
from analytics_etl.retention.policy import EtlRun
from analytics_etl.retention.tree import Outcome
from analytics_etl.sql import read_sql


def runs_of_dates(conn: Any, dates: Iterable[dt.date]) -> list[EtlRun]:
    """The recorded runs of `dates`; `in_progress` is left False for the caller to decide."""
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("retention/etl_runs_of_dates.sql"), {"dates": sorted(set(dates))})
        return [
            EtlRun(run_id=run_id, date=date, dag_id=dag_id, status=status, started_at=started, ended_at=ended)
            for run_id, date, dag_id, status, started, ended in cur.fetchall()
        ]


def fingerprint(runs: Iterable[EtlRun]) -> set[tuple[str, str, dt.datetime]]:
    """What must not change between the plan and the deletion of a date's files."""
    return {(r.run_id, r.status, r.started_at) for r in runs}


def clear_planned(conn: Any, retention_run_id: str) -> None:
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("retention/clear_planned.sql"), {"retention_run_id": retention_run_id})


def log_rows(retention_run_id: str, outcomes: Sequence[Outcome], data_dir: Any) -> list[dict[str, Any]]:
    """One row per action, run (or date, for the quarantine) and kind: the outcomes added up."""
    groups: dict[tuple, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        target = o.deletion.target
        groups[(o.action, o.deletion.reason, target.date, target.run_key, target.kind)].append(o)
    rows = []
    for (action, reason, date, key, kind), group in groups.items():
        run = group[0].deletion.run
        errors = [o.error for o in group if o.error]
        rows.append(
            {
                "retention_run_id": retention_run_id,
                "action": action,
                "reason": reason,
                "date": date,
                "run_key": key,
                "run_id": run.run_id if run else None,
                "run_status": run.status if run else None,
                "kind": kind,
                "files": sum(o.files for o in group),
                "bytes": sum(o.bytes for o in group),
                "paths": [relative(o.deletion.target.path, data_dir) for o in group],
                "error": "; ".join(errors) or None,
            }
        )
    return rows


def insert_log(conn: Any, rows: Sequence[dict[str, Any]]) -> None:
    """The rows of one date, in one transaction."""
    if not rows:
        return
    with conn, conn.cursor() as cur:
        cur.executemany(read_sql("retention/insert_log.sql"), rows)
