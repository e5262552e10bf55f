"""Alerts through Airflow's notifiers: a failed run, and the nightly run not finished by `etl_deadline`.

  message    what a mail says (templates/ beside it), pure and tested on its own
  delivery   the SMTP provider's notifier over `smtp_default` to `etl_alert_to`; the log otherwise
  callbacks  the DAG-level failure callback and the DeadlineAlert's callback
  deadline   the custom deadline reference `etl_deadline` on D+1, for the scheduled run of yesterday only

`deadline_alert()` and `on_run_failed` are what the DAG wires in; docs/alerts.md says why each piece
runs where it does.
"""

from __future__ import annotations

import datetime as dt

from analytics_etl.alerts.callbacks import on_deadline_missed, on_run_failed, remember_error
from analytics_etl.alerts.deadline import EtlDayDeadline

__all__ = ["EtlDayDeadline", "deadline_alert", "on_run_failed", "remember_error"]


def deadline_alert():
    """The DAG's `deadline`: `etl_deadline` on D+1, then one mail from the triggerer.

    None under `airflow dags test`, which never evaluates deadlines, and which in Airflow 3.3.2 fails
    marking a *successful* run of a DAG that has one (`DagRun.update_state` looks the unsaved alert
    up by id: "'dict' object has no attribute 'hex'"). The demo and the end-to-end tests run that way.
    """
    import sys

    from airflow.sdk import AsyncCallback, DeadlineAlert

    if sys.argv[1:3] == ["dags", "test"]:
        return None
    return DeadlineAlert(
        reference=EtlDayDeadline(),
        interval=dt.timedelta(0),
        callback=AsyncCallback(on_deadline_missed),
        name="etl_deadline",
    )
