"""Where the figures are gathered: each task keeps its timing, and the run's end pushes everything.

- `with_timings(default_args)` adds task-level callbacks to the daily DAG's tasks: each task's last
  try keeps its start, end, try number and state as XCom `etl_timing` (Airflow clears a task's XComs
  when it is tried again, so what is left is the last try's). Nothing else of Airflow gives a callback
  the times of a run's tasks without database access.
- `publish_run_metrics` is a DAG-level callback, on success and on failure: it runs once, when the run
  has ended (in the DAG processor; in line under `airflow dags test`), reads the run's `etl_runs` row,
  the XComs and the gate's result, pushes one group and prunes the gateway's old ones. It never
  raises: metrics must never fail or delay the run's alert.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from analytics_etl.metrics.exposition import render
from analytics_etl.metrics.figures import SPARK_TASK, RunFigures, run_families
from analytics_etl.metrics.push import keep_days, publish

log = logging.getLogger(__name__)

TIMING_XCOM = "etl_timing"
SPARK_SECONDS_XCOM = "spark_application_seconds"
LATENCY_XCOM = "cassandra_write_latency"
RESOLVE_TASK_ID = "resolve_run"
CASSANDRA_TASK = "load_cassandra"


def _remember(context: Any, state: str) -> None:
    ti = context["ti"]
    try:
        end = ti.end_date or dt.datetime.now(dt.UTC)
        timing = {"start": ti.start_date.isoformat() if ti.start_date else None, "end": end.isoformat(),
                  "try_number": ti.try_number, "state": state}  # fmt: skip
        ti.xcom_push(key=TIMING_XCOM, value=timing)
    except Exception:  # a callback must never mask the task's outcome
        log.exception("could not keep the timing of %s", ti.task_id)


def timing_on_success(context: Any) -> None:
    _remember(context, "success")


def timing_on_failure(context: Any) -> None:
    _remember(context, "failed")


def timing_on_skipped(context: Any) -> None:
    _remember(context, "skipped")


def with_timings(default_args: dict[str, Any]) -> dict[str, Any]:
    """`default_args` whose tasks also keep their timing: the failure callbacks become a list."""
    failure = default_args.get("on_failure_callback")
    failures = failure if isinstance(failure, list) else [failure] if failure else []
    return {**default_args, "on_success_callback": timing_on_success, "on_skipped_callback": timing_on_skipped,
            "on_failure_callback": [*failures, timing_on_failure]}  # fmt: skip


def keep_xcom(key: str, value: Any) -> None:
    """An XCom of the running task, for the run-end push; a failure to keep it is only logged."""
    try:
        from airflow.sdk import get_current_context

        get_current_context()["ti"].xcom_push(key=key, value=value)
    except Exception:
        log.exception("could not keep XCom %s for the run's metrics", key)


def publish_run_metrics(context: Any) -> None:
    """DAG-level callback: push the ended run's figures (or log them without a gateway)."""
    try:
        _publish(context)
    except Exception:
        log.warning("the run's metrics were not published", exc_info=True)


def _publish(context: Any) -> None:
    from analytics_etl.alerts.callbacks import _pull  # reads XComs wherever a DAG callback runs

    ti = context.get("ti")
    run = _pull(ti, RESOLVE_TASK_ID) if ti is not None else None
    if not isinstance(run, dict) or not run.get("date"):
        log.info("run %s has no resolved date: no metrics to publish", context.get("run_id"))
        return
    record = read_record(run["run_id"], run["date"])
    if record is None:
        log.info("run %s of %s has no etl_runs record: no metrics to publish", run["run_id"], run["date"])
        return
    run_type = getattr(context.get("dag_run"), "run_type", None)
    figures = RunFigures(
        record=record,
        run_type=str(getattr(run_type, "value", run_type) or "unknown"),
        timings={t: v for t in context["dag"].task_ids if isinstance(v := _pull(ti, t, TIMING_XCOM), dict)},
        spark_seconds=_pull(ti, SPARK_TASK, SPARK_SECONDS_XCOM),
        latency=_pull(ti, CASSANDRA_TASK, LATENCY_XCOM),
        expectations=expectation_counts(record.get("validation_result")),
        **_settings(),
    )
    publish(render(run_families(figures)), run["date"], keep_days())


def read_record(run_id: str, date: str) -> dict[str, Any] | None:
    """The run's `etl_runs` row with the date's freshness columns (sql/metrics/run_figures.sql)."""
    from analytics_etl import settings
    from analytics_etl.db import connect
    from analytics_etl.sql import read_sql

    conn = connect(settings.ANALYTICS_CONN_ID)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(read_sql("metrics/run_figures.sql"), {"run_id": run_id, "date": date})
            row = cur.fetchone()
            return None if row is None else dict(zip([c.name for c in cur.description], row, strict=True))
    finally:
        conn.close()


def expectation_counts(result_path: str | None) -> tuple[int, int] | None:
    """(evaluated, failed) expectations over the suites of the gate's result document (each validation
    result's `statistics`); None without one. The document may be on the store (`s3://` text)."""
    from analytics_etl.storage import root_path

    result = root_path(result_path) if result_path else None
    if result is None or not result.is_file():
        return None
    document = json.loads(result.read_text(encoding="utf-8"))
    stats = [v.get("statistics") or {} for v in document.get("validation_results") or []]
    if not stats:
        return None
    return (sum(int(s.get("evaluated_expectations", 0)) for s in stats),
            sum(int(s.get("unsuccessful_expectations", 0)) for s in stats))  # fmt: skip


def _settings() -> dict[str, Any]:
    """The reject ratio limit and the deadline as the run's rules see them; a bad value is logged."""
    from analytics_etl import settings
    from analytics_etl.ingest import REASONS

    found: dict[str, Any] = {"reasons": tuple(REASONS)}
    try:
        found["max_reject_ratio"] = settings.max_reject_ratio()
    except ValueError:
        log.warning("etl_max_reject_ratio does not parse: etl_reject_ratio_limit not published")
    try:
        deadline = settings.parse_deadline(
            str(settings.variable(settings.VAR_DEADLINE, settings.DEFAULT_DEADLINE))
        )
        found["deadline_seconds"] = deadline.hour * 3600 + deadline.minute * 60 + deadline.second
    except ValueError:
        log.warning("etl_deadline does not parse: etl_deadline_seconds not published")
    return found
