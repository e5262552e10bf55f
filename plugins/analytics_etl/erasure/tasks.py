"""Task bodies of `erase_user_data` (dags/erase_user_data.py): light imports, the work in the modules.

The run's `erasure_log` row is created 'running' before anything is touched, and each step adds
its removals to it as it makes them, so an erasure stopped anywhere (a file it cannot read, a lost
Cassandra, a kill) has a trace of everything it removed; running the erasure again finishes the job
and its own row accounts for the rest. The steps run one after the other: the files first (a file
the erasure cannot read fails it before any sink is touched), then `daily_user_stats` (the user's
e-mail, redacted from validation artefacts, is read from it by the files step; it never travels
through XCom), then Cassandra.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from analytics_etl import settings
from analytics_etl.erasure.request import InvalidUserId, parse_user_id

log = logging.getLogger(__name__)

CASSANDRA_KEYS = ("cassandra.user_engagement", "cassandra.learning_progress")


def _analytics() -> Any:
    from analytics_etl.db import connect

    return connect(settings.ANALYTICS_CONN_ID, application_name="erase_user_data")


def _log(conn: Any, run_id: str | None = None) -> Any:
    from analytics_etl.erasure.postgres import ErasureLog

    return ErasureLog(conn, run_id or get_current_context()["run_id"])


def validate_request() -> str:
    """The requested user id, canonical; a bad one fails the run naming it, before anything is touched."""
    params = get_current_context()["params"]
    try:
        return parse_user_id(params.get("user_id"))
    except InvalidUserId as err:
        raise AirflowFailException(str(err)) from None


def start_erasure_log(user_id: str) -> None:
    """The run's row, 'running' with every count at zero: from here on, a trace exists."""
    from analytics_etl.erasure.files import KEYS
    from analytics_etl.load_postgres import migrate

    conn = _analytics()
    try:
        migrate(conn)
        _log(conn).start(user_id, ["daily_user_stats", *CASSANDRA_KEYS, *(f"files.{k}" for k in KEYS)])
    finally:
        conn.close()


def erase_files(user_id: str) -> dict[str, Any]:
    from analytics_etl.erasure.files import Unreadable
    from analytics_etl.erasure.files import erase_files as rewrite
    from analytics_etl.erasure.postgres import user_emails
    from analytics_etl.run_lock import RunBusy

    conn = _analytics()
    try:
        emails = user_emails(conn, user_id)
        book = _log(conn)

        def record(rows: dict[str, int], rewritten: list[str], removed: list[str]) -> None:
            book.add({f"files.{k}": n for k, n in rows.items()}, rewritten, removed)

        try:
            done = rewrite(
                settings.dirs().data_dir,
                user_id,
                emails,
                record=record,
                lock_timeout=settings.erasure_lock_timeout_seconds(),
            )
        except Unreadable as err:
            raise AirflowFailException(
                f"{err}: left as it was; mend or remove it, then erase again"
            ) from None
        except RunBusy as err:  # the job may well end: a retry waits again
            raise AirflowException(str(err)) from None
    finally:
        conn.close()
    log.info(
        "files: %s rows removed, %d files rewritten, %d removed unread",
        done.rows_removed,
        len(done.rewritten),
        len(done.removed),
    )
    return {"rows_removed": done.rows_removed, "rewritten": len(done.rewritten), "removed": len(done.removed)}


def erase_postgres(user_id: str) -> dict[str, int]:
    from analytics_etl.erasure.postgres import erase_daily_user_stats

    conn = _analytics()
    try:
        rows = erase_daily_user_stats(conn, user_id, _log(conn))
    finally:
        conn.close()
    log.info("daily_user_stats: %d rows of %s removed", rows, user_id)
    return {"daily_user_stats": rows}


def erase_cassandra(user_id: str) -> dict[str, Any]:
    from analytics_etl.cassandra.errors import SinkRefusedRow
    from analytics_etl.cassandra.settings import cassandra_configured

    conn = _analytics()
    try:
        book = _log(conn)
        if not cassandra_configured():
            log.warning("no %s connection: nothing to erase in Cassandra", settings.CASSANDRA_CONN_ID)
            note = {"cassandra": f"not configured (no {settings.CASSANDRA_CONN_ID} connection)"}
            book.add(note)
            return note
        from analytics_etl.erasure.cassandra import erase_user_in_cluster

        try:
            return erase_user_in_cluster(settings.CASSANDRA_CONN_ID, user_id, record=book.add)
        except SinkRefusedRow as err:
            raise AirflowFailException(f"Cassandra refused a statement: {err}") from None
    finally:
        conn.close()


def finish_erasure_log() -> dict[str, Any]:
    conn = _analytics()
    try:
        _log(conn).finish("done")
    finally:
        conn.close()
    return {"status": "done"}


def record_failure(context: Any) -> None:
    """on_failure_callback: the run's row ends 'failed' with the task and error (what it removed stays)."""
    from analytics_etl.alerts import remember_error

    remember_error(context)
    error = context.get("exception")
    try:
        conn = _analytics()
        try:
            _log(conn, context["run_id"]).finish(
                "failed", failed_task=context["ti"].task_id, error=f"{type(error).__name__}: {error}"
            )
        finally:
            conn.close()
    except Exception:  # a callback must never mask the original failure
        log.exception("could not record the failure of erasure %s", context.get("run_id"))
