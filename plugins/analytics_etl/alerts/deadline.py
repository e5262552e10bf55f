"""The deadline of a run: `etl_deadline` (UTC, default 06:00) on the day after the day it processes.

Airflow's built-in references cannot express it: runs are partitioned by day and have no logical date
(a manual run has the trigger time at best), and `VariableInterval` reads a number of seconds, while
`etl_deadline` is a time of day. So this is a custom deadline reference (registered by
`plugins/analytics_etl_plugin.py`, as Airflow requires): Airflow evaluates it once, where the run
is created (scheduler, API server or `airflow dags test`), so the variable is read then, never at
parse time, and a change applies to the runs created after it. See docs/alerts.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk.definitions.deadline import BaseDeadlineReference

from analytics_etl import settings
from analytics_etl.dates import InvalidRunDate, resolve_run_date

log = logging.getLogger(__name__)


def promised(run_type: Any, day: dt.date, today: dt.date) -> bool:
    """Whether a run carries the deadline: the scheduled run of yesterday only (contract section 6).
    A manual run or rerun, a backfill, or a scheduled run created days late (the scheduler was down)
    is not the nightly promise: were it given a deadline, an old day would be late from its first
    second (a "late" mail seconds after the trigger, a red "Missed" badge in the UI)."""
    return str(getattr(run_type, "value", run_type)) == "scheduled" and day >= today - dt.timedelta(days=1)


def deadline_for(day: dt.date, time_of_day: dt.time) -> dt.datetime:
    """`time_of_day` UTC on D+1."""
    return dt.datetime.combine(day + dt.timedelta(days=1), time_of_day, tzinfo=dt.UTC)


def _variable(key: str, session: Any) -> str | None:
    """A variable through the secrets backends in their order (environment, then any custom one,
    then the metadata database), the database read in the caller's session: Airflow evaluates the
    reference inside the session that creates the run, and `Variable.get` would open and close the
    same scoped session, detaching the new run."""
    from airflow.configuration import ensure_secrets_loaded
    from airflow.secrets.metastore import MetastoreBackend

    for backend in ensure_secrets_loaded():
        if isinstance(backend, MetastoreBackend):
            value = backend.get_variable(key, session=session)
        else:
            value = backend.get_variable(key)
        if value is not None:
            return value
    return None


def deadline_time_of_day(session: Any) -> dt.time:
    """`etl_deadline`, or the default when it is unset or unreadable (logged): a typo in a variable
    must not leave the night without a deadline, nor stop runs from being created."""
    raw = _variable(settings.VAR_DEADLINE, session)
    try:
        return settings.parse_deadline(settings.DEFAULT_DEADLINE if raw is None else str(raw))
    except ValueError as err:
        log.error("%s; using the default %s", err, settings.DEFAULT_DEADLINE)
        return settings.parse_deadline(settings.DEFAULT_DEADLINE)


class EtlDayDeadline(BaseDeadlineReference):
    """`etl_deadline` on D+1, D being the day the run processes (the `date` conf, else the schedule's day).

    Only the scheduled run of yesterday gets one (`promised`): returning None here is how Airflow is
    told to create no deadline for a run. A run without a valid date gets none either: it fails at
    `resolve_run`, and that failure alerts.
    """

    required_kwargs = {"dag_id", "run_id"}

    def _evaluate_with(self, *, session: Any, **kwargs: Any) -> dt.datetime | None:
        from airflow.models import DagRun
        from sqlalchemy import select

        try:
            run = session.scalars(
                select(DagRun).where(DagRun.dag_id == kwargs["dag_id"], DagRun.run_id == kwargs["run_id"])
            ).one_or_none()
            if run is None:
                return None
            requested = (run.conf or {}).get("date")
            day = resolve_run_date(
                requested, run.data_interval_start, run.run_after, run.run_type, run.partition_key
            )
            if not promised(run.run_type, day, dt.datetime.now(dt.UTC).date()):
                log.info(
                    "run %s (%s, day %s) is not the nightly run: no deadline", run.run_id, run.run_type, day
                )
                return None
            return deadline_for(day, deadline_time_of_day(session))
        except InvalidRunDate:
            return None
        except Exception:  # an error here would stop the run from being created at all
            log.exception("no deadline for run %s: it could not be computed", kwargs.get("run_id"))
            return None
