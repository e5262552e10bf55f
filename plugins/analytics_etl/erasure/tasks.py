"""Task bodies of `erase_user_data` (dags/erase_user_data.py): light imports, the work in the modules.

The order matters once: the files are rewritten before the Postgres rows go, because the user's
e-mail (redacted from validation artefacts) is read from `daily_user_stats`; it never travels
through XCom. Every task is idempotent, so a retry or a second request finds nothing left.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException

from analytics_etl import settings
from analytics_etl.erasure.request import InvalidUserId, parse_user_id

log = logging.getLogger(__name__)


def _analytics() -> Any:
    from analytics_etl.db import connect

    return connect(settings.ANALYTICS_CONN_ID)


def validate_request() -> str:
    """The requested user id, canonical; a bad one fails the run naming it, before anything is touched."""
    params = get_current_context()["params"]
    try:
        return parse_user_id(params.get("user_id"))
    except InvalidUserId as err:
        raise AirflowFailException(str(err)) from None


def erase_files(user_id: str) -> dict[str, Any]:
    from analytics_etl.erasure.files import erase_files as rewrite
    from analytics_etl.erasure.postgres import user_emails
    from analytics_etl.load_postgres import migrate

    conn = _analytics()
    try:
        migrate(conn)
        emails = user_emails(conn, user_id)
    finally:
        conn.close()
    done = rewrite(settings.dirs().data_dir, user_id, emails)
    log.info("files: %s rows removed, %d files rewritten", done.rows_removed, len(done.rewritten))
    return {"rows_removed": done.rows_removed, "rewritten": done.rewritten}


def erase_postgres(user_id: str) -> dict[str, int]:
    from analytics_etl.erasure.postgres import erase_daily_user_stats

    conn = _analytics()
    try:
        rows = erase_daily_user_stats(conn, user_id)
    finally:
        conn.close()
    log.info("daily_user_stats: %d rows of %s removed", rows, user_id)
    return {"daily_user_stats": rows}


def erase_cassandra(user_id: str) -> dict[str, Any]:
    from analytics_etl.cassandra.errors import SinkRefusedRow
    from analytics_etl.cassandra.settings import cassandra_configured

    if not cassandra_configured():
        log.warning("no %s connection: nothing to erase in Cassandra", settings.CASSANDRA_CONN_ID)
        return {"cassandra": f"not configured (no {settings.CASSANDRA_CONN_ID} connection)"}
    from analytics_etl.erasure.cassandra import erase_user_in_cluster

    try:
        return erase_user_in_cluster(settings.CASSANDRA_CONN_ID, user_id)
    except SinkRefusedRow as err:
        raise AirflowFailException(f"Cassandra refused a statement: {err}") from None


def write_erasure_log(user_id: str, postgres: dict, cassandra: dict, files: dict) -> dict[str, Any]:
    from analytics_etl.erasure.postgres import write_log

    rows_removed = {**postgres, **cassandra, **{f"files.{k}": v for k, v in files["rows_removed"].items()}}
    conn = _analytics()
    try:
        write_log(conn, get_current_context()["run_id"], user_id, rows_removed, files["rewritten"])
    finally:
        conn.close()
    log.info("erasure of %s: %s; %d files rewritten", user_id, rows_removed, len(files["rewritten"]))
    return rows_removed
