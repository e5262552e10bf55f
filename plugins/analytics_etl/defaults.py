"""What every DAG of the platform shares: owner, retries and the task failure callback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPARK_JOBS = PROJECT_ROOT / "spark_jobs"


def _record_failure(context: Any) -> None:
    """Each failed task: its run record says failed, and its error is kept for the run's one alert
    (sent by the DAG-level callback, `analytics_etl.alerts.on_run_failed`)."""
    from analytics_etl.alerts import remember_error
    from analytics_etl.tasks import record_failure

    remember_error(context)
    record_failure(context)


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-platform",
    # Transient faults (a database restart, a lost executor) are retried; deterministic ones (a bad
    # date, a failed validation, too many rejected rows) raise AirflowFailException and are not.
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "on_failure_callback": _record_failure,
}
