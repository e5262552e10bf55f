"""The `etl_runs` table: one row per run of a date, written as the run goes and when it ends.

Each call commits on its own: the record must survive the failure of the task that writes it, and
a failed run is recorded by the failure callback with the task and error that ended it.
"""

from __future__ import annotations

import json
from typing import Any

from analytics_etl.sql import read_sql


class RunRecord:
    """Writes the record of run `run_id` processing `date` through a psycopg2 connection."""

    def __init__(self, conn: Any, run_id: str, date: str) -> None:
        self.conn = conn
        self.key = {"run_id": run_id, "date": date}

    def _execute(self, statement: str, **params: Any) -> None:
        with self.conn, self.conn.cursor() as cur:
            cur.execute(read_sql(f"analytics/etl_runs/{statement}.sql"), {**self.key, **params})

    def start(self, dag_id: str) -> None:
        self._execute("start", dag_id=dag_id)

    def ingest(self, report: dict[str, Any]) -> None:
        self._execute(
            "ingest",
            rows_read=report["rows_read"],
            rows_kept=report["rows_kept"],
            rows_rejected=report["rows_rejected"],
            rejected_by_reason=json.dumps(report["rejected"]),
            orphan_user=report["orphan_user"],
        )

    def validation(self, success: bool, result_path: str | None, data_docs: str | None) -> None:
        self._execute("validation", success=success, result_path=result_path, data_docs=data_docs)

    def written(self, sink: str, rows: int | dict[str, int]) -> None:
        self._execute("written", written=json.dumps({sink: rows}))

    def cassandra_status(self, status: str) -> None:
        self._execute("cassandra_status", status=status)

    def finish(self, status: str, failed_task: str | None = None, error: str | None = None) -> None:
        self._execute("finish", status=status, failed_task=failed_task, error=(error or "")[:4000] or None)


def running_others(conn: Any, run_id: str, date: str) -> list[tuple[str, str]]:
    """(run id, dag id) of the other runs of `date` whose record says 'running'."""
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("analytics/etl_runs/running_others.sql"), {"run_id": run_id, "date": date})
        return [(other, dag_id) for other, dag_id in cur.fetchall()]


def mark_abandoned(conn: Any, run_id: str, date: str, error: str) -> bool:
    """The record of a run Airflow no longer runs, failed; False when it ended meanwhile."""
    with conn, conn.cursor() as cur:
        cur.execute(
            read_sql("analytics/etl_runs/abandoned.sql"), {"run_id": run_id, "date": date, "error": error}
        )
        return cur.rowcount > 0


def fetch_runs(conn: Any, date: str) -> list[dict[str, Any]]:
    """Every recorded run of `date`, newest first (for reports and tests)."""
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("analytics/etl_runs/fetch.sql"), {"date": date})
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def mark_failed_by_hand(conn: Any, run_id: str, error: str) -> list[str]:
    """The records of run `run_id` still 'running', failed with `error`; the days they were for."""
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("analytics/etl_runs/marked_failed.sql"), {"run_id": run_id, "error": error})
        return [day.isoformat() for (day,) in cur.fetchall()]
