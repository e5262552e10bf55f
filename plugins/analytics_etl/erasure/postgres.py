"""The user's rows in `analytics_postgres`, and the `erasure_log` row of the request."""

from __future__ import annotations

import json
from typing import Any

from analytics_etl.sql import read_sql


def user_emails(conn: Any, user_id: str) -> list[str]:
    """What the platform stored as the user's e-mail: redacted from validation artefacts as well."""
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("erasure/user_identifiers.sql"), {"user_id": user_id})
        return [email for (email,) in cur.fetchall() if email]


def erase_daily_user_stats(conn: Any, user_id: str) -> int:
    """Deletes every day of the user in one transaction; returns the rows removed."""
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("erasure/delete_daily_user_stats.sql"), {"user_id": user_id})
        return cur.rowcount


def write_log(conn: Any, run_id: str, user_id: str, rows_removed: dict, files_rewritten: list[str]) -> None:
    with conn, conn.cursor() as cur:
        cur.execute(
            read_sql("erasure/upsert_erasure_log.sql"),
            {
                "run_id": run_id,
                "user_id": user_id,
                "rows_removed": json.dumps(rows_removed, sort_keys=True),
                "files_rewritten": json.dumps(sorted(files_rewritten)),
            },
        )
