"""A run marked failed by hand (the UI's "Mark as failed", or PATCH on the REST API's dag run).

Airflow calls no DAG-level failure callback then: the API server sets the run and its running tasks
failed and kills those, so neither `on_run_failed` (no mail) nor the tasks' `record_failure` (the
record in `etl_runs` stays 'running' and the history shows the run going on forever) get a chance.
What Airflow does call, in the API server, is the listener hook `on_dag_run_failed` with a message
saying the state was set by hand. This listener (registered by the plugin) ends the record and mails
once, like any failed run. A run that fails by itself reaches the same hook from the scheduler with
another message: it is left to the DAG's callbacks, so it is never mailed twice.

The hook runs inside the API server's PATCH request. The record is ended there (one UPDATE, so the
history shows the run failed as soon as the click returns); the mail is sent from a daemon thread,
so an SMTP server taking its time (the connection's `timeout`, times its `retry_limit`) never holds
up "Mark as failed". A mail still being sent when the API server stops is lost.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from airflow.listeners import hookimpl

from analytics_etl import settings
from analytics_etl.alerts.callbacks import base_url, describe_day
from analytics_etl.alerts.delivery import deliver
from analytics_etl.alerts.message import FAILED, Alert, run_url

log = logging.getLogger(__name__)

# What `patch_dag_run_state` (airflow.api_fastapi.core_api.services.public.dag_run) passes; the
# stack test of this listener fails if an Airflow upgrade changes it.
MARKED_BY_HAND = "Dag Run's state was manually set"
# The DAGs whose failures are mailed (they carry `on_run_failed`).
MAILED_DAGS = ("daily_analytics_etl", "analytics_retention")
ERROR = "marked failed by hand (UI or REST API); the tasks still running were stopped"


def _end_record(run_id: str) -> list[str]:
    """The run's `etl_runs` records still 'running', failed; the days they were for."""
    from analytics_etl.db import connect
    from analytics_etl.run_record import mark_failed_by_hand

    conn = connect(settings.ANALYTICS_CONN_ID)
    try:
        return mark_failed_by_hand(conn, run_id, ERROR)
    finally:
        conn.close()


def marked_failed_alert(dag_run: Any, days: list[str]) -> Alert:
    dag_id, run_id = dag_run.dag_id, dag_run.run_id
    return Alert(
        kind=FAILED,
        dag_id=dag_id,
        run_id=run_id,
        day=", ".join(days) if days else describe_day(dag_run),
        url=run_url(base_url(), dag_id, run_id),
        error=ERROR,
    )


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    if dag_run.dag_id not in MAILED_DAGS or not str(msg).startswith(MARKED_BY_HAND):
        return
    days: list[str] = []
    if dag_run.dag_id == "daily_analytics_etl":
        try:
            days = _end_record(dag_run.run_id)
        except Exception:  # the mail must go out even when the record cannot be written
            log.exception("could not record run %s as failed in etl_runs", dag_run.run_id)
    log.warning("run %s of %s was marked failed by hand", dag_run.run_id, dag_run.dag_id)
    alert = marked_failed_alert(dag_run, days)  # built here: the run is the request's ORM object
    threading.Thread(target=deliver, args=(alert,), name="etl-alert-mail", daemon=True).start()
