"""What every DAG of the platform shares: owner, retries and the failure callback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPARK_JOBS = PROJECT_ROOT / "spark_jobs"


def _record_failure(context: Any) -> None:
    from analytics_etl.tasks import record_failure

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
