"""The user's rows in `analytics_postgres`, and the `erasure_log` row of the request.

The row is written as the erasure goes (migration 004): created 'running' with every count at zero
before anything is touched, each removal added when it is made (its own committed transaction), and
ended 'done' or 'failed'. Whatever stops an erasure, the row says what it had removed so far.
"""

from __future__ import annotations

import json
from typing import Any

from analytics_etl.sql import read_sql


def user_emails(conn: Any, user_id: str) -> list[str]:
    """What the platform stored as the user's e-mail: redacted from validation artefacts as well."""
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("erasure/user_identifiers.sql"), {"user_id": user_id})
        return [email for (email,) in cur.fetchall() if email]


def erase_daily_user_stats(conn: Any, user_id: str, log: ErasureLog | None = None) -> int:
    """Deletes every day of the user in one transaction, the log's count in the same one."""
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("erasure/delete_daily_user_stats.sql"), {"user_id": user_id})
        rows = cur.rowcount
        if log is not None:
            log.add_in(cur, {"daily_user_stats": rows})
        return rows


class ErasureLog:
    """The `erasure_log` row of one run of `erase_user_data`."""

    def __init__(self, conn: Any, run_id: str) -> None:
        self.conn = conn
        self.run_id = run_id

    def start(self, user_id: str, keys: list[str]) -> None:
        zeros = json.dumps(dict.fromkeys(sorted(keys), 0))
        with self.conn, self.conn.cursor() as cur:
            cur.execute(
                read_sql("erasure/start_erasure_log.sql"),
                {"run_id": self.run_id, "user_id": user_id, "zeros": zeros},
            )

    def add_in(self, cur: Any, rows: dict[str, Any], rewritten=(), removed=()) -> None:
        cur.execute(
            read_sql("erasure/add_to_erasure_log.sql"),
            {
                "run_id": self.run_id,
                "rows_removed": json.dumps(rows, sort_keys=True),
                "files_rewritten": json.dumps(sorted(rewritten)),
                "files_removed": json.dumps(sorted(removed)),
            },
        )

    def add(self, rows: dict[str, Any], rewritten=(), removed=()) -> None:
        """One change, committed at once."""
        with self.conn, self.conn.cursor() as cur:
            self.add_in(cur, rows, rewritten, removed)

    def finish(self, status: str, failed_task: str | None = None, error: str | None = None) -> None:
        with self.conn, self.conn.cursor() as cur:
            cur.execute(
                read_sql("erasure/finish_erasure_log.sql"),
                {
                    "run_id": self.run_id,
                    "status": status,
                    "failed_task": failed_task,
                    "error": (error or "")[:4000] or None,
                },
            )
