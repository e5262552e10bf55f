"""The callbacks Airflow calls: one mail per failed run, one per run past its deadline.

- `remember_error` runs in the failing task's own process (task-level `on_failure_callback`, with
  the run record's): it keeps the exception's text as an XCom of that task, because the DAG-level
  callback only gets the task instance, not the exception.
- `on_run_failed` is the DAG-level `on_failure_callback`: Airflow calls it once per failed run (in
  the DAG processor; in-process under `airflow dags test`), with the task whose failure ended it.
  Task-level callbacks fire once per failed task, so mailing from there would send several.
- `on_deadline_missed` is the `DeadlineAlert`'s callback, awaited on the triggerer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from analytics_etl.alerts.delivery import deliver
from analytics_etl.alerts.message import FAILED, LATE, Alert, run_url
from analytics_etl.dates import InvalidRunDate, resolve_run_date

log = logging.getLogger(__name__)

ERROR_XCOM_KEY = "alert_error"
RESOLVE_TASK_ID = "resolve_run"  # analytics_etl.tasks.RESOLVE_TASK_ID, without importing the tasks


def base_url() -> str:
    from airflow.sdk.configuration import conf

    return conf.get("api", "base_url", fallback=None) or "http://localhost:8080/"


def _get(obj: Any, name: str) -> Any:
    """A field of a DagRun object, or of its JSON form (what the triggerer gets)."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _moment(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def describe_day(dag_run: Any) -> str:
    """The day D a run processes, by the rules of `resolve_run`; what was asked, and why it was refused,
    when it is not one."""
    if dag_run is None:
        return "unknown"
    requested = (_get(dag_run, "conf") or {}).get("date")
    try:
        day = resolve_run_date(
            requested,
            _moment(_get(dag_run, "data_interval_start")),
            _moment(_get(dag_run, "run_after")),
            _get(dag_run, "run_type"),
            _get(dag_run, "partition_key"),
        )
    except InvalidRunDate as refused:  # not a calendar date, or not the run's own day
        return f"{requested!r} (refused: {refused})" if requested else "unknown"
    return day.isoformat()


def remember_error(context: Any) -> None:
    """Task-level on_failure_callback: keep the error's text for the run's alert."""
    error = context.get("exception")
    if error is None:
        return
    try:
        context["ti"].xcom_push(key=ERROR_XCOM_KEY, value=f"{type(error).__name__}: {error}")
    except Exception:  # a callback must never mask the original failure
        log.exception("could not keep the error of %s for the alert", context["ti"].task_id)


def _pull_from_database(ti: Any, task_id: str, key: str) -> Any:
    """The XCom read straight from the metadata database: where the callback runs without a
    supervisor to ask (in line under `airflow dags test`), the process has the database itself."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == ti.dag_id,
                XComModel.run_id == ti.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
                XComModel.map_index == -1,
            )
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def _pull(ti: Any, task_id: str, key: str = "return_value") -> Any:
    try:
        return ti.xcom_pull(task_ids=task_id, key=key)
    except ImportError:  # no SUPERVISOR_COMMS: not in a DAG processor or worker
        pass
    except Exception:
        log.exception("could not read XCom %s of %s", key, task_id)
        return None
    try:
        return _pull_from_database(ti, task_id, key)
    except Exception:
        log.exception("could not read XCom %s of %s", key, task_id)
        return None


def failure_alert(context: Any) -> Alert:
    """The alert of a failed run, from the DAG-level failure callback's context."""
    ti = context.get("ti")
    dag_run = context.get("dag_run")
    dag_id = context["dag"].dag_id
    run_id = context.get("run_id") or _get(dag_run, "run_id")
    day, task_id, error = describe_day(dag_run), None, None
    if ti is not None:
        task_id = ti.task_id
        resolved = _pull(ti, RESOLVE_TASK_ID)
        if isinstance(resolved, dict) and resolved.get("date"):
            day = resolved["date"]
        error = _pull(ti, task_id, ERROR_XCOM_KEY)
    if error is None and context.get("reason") not in (None, "task_failure"):
        error = f"the run ended: {context['reason']}"
    base = base_url()
    return Alert(
        kind=FAILED,
        dag_id=dag_id,
        run_id=run_id,
        day=day,
        url=run_url(base, dag_id, run_id),
        failed_task=task_id,
        error=error,
        task_url=run_url(base, dag_id, run_id, task_id) if task_id else None,
    )


def on_run_failed(context: Any) -> None:
    """DAG-level on_failure_callback: one mail per failed run."""
    try:
        alert = failure_alert(context)
    except Exception:
        log.exception("could not build the alert of failed run %s", context.get("run_id"))
        alert = Alert(
            kind=FAILED,
            dag_id=getattr(context.get("dag"), "dag_id", "unknown"),
            run_id=str(context.get("run_id")),
            day="unknown",
            url=base_url(),
            error="the alert's details could not be read: see the DAG processor log",
        )
    deliver(alert)


def late_alert(context: dict, now: dt.datetime | None = None) -> Alert | None:
    """The alert of a missed deadline; None when the run failed already (its failure was mailed)."""
    dag_run = context["dag_run"]
    state = str(dag_run.get("state"))
    dag_id, run_id = dag_run["dag_id"], dag_run["dag_run_id"]
    if state in ("failed", "success"):
        log.info("deadline of %s passed after the run ended %s: nothing to add", run_id, state)
        return None
    deadline = _moment((context.get("deadline") or {}).get("deadline_time"))
    if str(dag_run.get("run_type")) != "scheduled":
        # EtlDayDeadline gives no other run a deadline; one created before that rule (a manual
        # rerun or backfill of an old day, late by construction) is not mailed either.
        log.info("%s run %s is not the nightly run: no late mail", dag_run.get("run_type"), run_id)
        return None
    now = now or dt.datetime.now(dt.UTC)
    return Alert(
        kind=LATE,
        dag_id=dag_id,
        run_id=run_id,
        day=describe_day(dag_run),
        url=run_url(base_url(), dag_id, run_id),
        deadline=deadline,
        late_by=(now - deadline) if deadline else None,
        state=state,
    )


def _deadline_missed(context: dict) -> None:
    alert = late_alert(context)
    if alert is not None:
        deliver(alert)


async def on_deadline_missed(context: dict, **kwargs: Any) -> None:
    """DeadlineAlert callback, awaited on the triggerer.

    The lookups (variable, connection) and the SMTP exchange are blocking calls: they run in a
    thread so that the triggerer's event loop, which also serves every deferred sensor, never stalls.
    """
    await asyncio.to_thread(_deadline_missed, context)
