"""Names of the Airflow connections and variables the platform reads, and their defaults.

Deployment-specific values never live in code: they come from these connections and variables, so
`AIRFLOW_CONN_*` and `AIRFLOW_VAR_*` environment variables configure a deployment. Values are read
when a task runs, never when the DAG file is parsed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

SOURCE_CONN_ID = "source_postgres"
ANALYTICS_CONN_ID = "analytics_postgres"
CASSANDRA_CONN_ID = "cassandra_default"
SPARK_CONN_ID = "spark_default"

VAR_DROP_DIR = "etl_drop_dir"
VAR_DATA_DIR = "etl_data_dir"
VAR_MAX_REJECT_RATIO = "etl_max_reject_ratio"
DEFAULT_MAX_REJECT_RATIO = 0.05


def variable(key: str, default: Any = None) -> Any:
    """The Airflow variable `key` as set, or `default`: the one read of settings every module uses, so
    that tests can set them all in one place."""
    from airflow.sdk import Variable

    return Variable.get(key, default=default)


def required_variable(key: str) -> str:
    value = variable(key)
    if value in (None, ""):
        raise RuntimeError(
            f"Airflow variable {key!r} is not set (set it in the UI or as AIRFLOW_VAR_{key.upper()})"
        )
    return str(value)


def max_reject_ratio() -> float:
    raw = variable(VAR_MAX_REJECT_RATIO, DEFAULT_MAX_REJECT_RATIO)
    try:
        ratio = float(raw)
    except (TypeError, ValueError):
        raise ValueError(
            f"variable {VAR_MAX_REJECT_RATIO} must be a number between 0 and 1, got {raw!r}"
        ) from None
    if not 0 <= ratio <= 1:
        raise ValueError(f"variable {VAR_MAX_REJECT_RATIO} must be between 0 and 1, got {ratio}")
    return ratio


@dataclass(frozen=True)
class Dirs:
    data_dir: str
    drop_dir: str


def dirs() -> Dirs:
    return Dirs(data_dir=required_variable(VAR_DATA_DIR), drop_dir=required_variable(VAR_DROP_DIR))


VAR_DROP_TIMEOUT = "etl_drop_timeout_seconds"
VAR_DROP_POKE = "etl_drop_poke_seconds"


def _positive_seconds(key: str, default: float) -> float:
    raw = variable(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"variable {key} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"variable {key} must be positive, got {value}")
    return value


def drop_timeout_seconds() -> float:
    return _positive_seconds(VAR_DROP_TIMEOUT, 6 * 3600)


def drop_poke_seconds() -> float:
    return _positive_seconds(VAR_DROP_POKE, 300)


# How long an erasure waits for a job writing a run's files before it fails naming the folder
# (docs/lifecycle.md, "Erasure"): longer than a day's Spark job, shorter than a retry's patience.
VAR_ERASURE_LOCK_TIMEOUT = "etl_erasure_lock_timeout_seconds"


def erasure_lock_timeout_seconds() -> float:
    return _positive_seconds(VAR_ERASURE_LOCK_TIMEOUT, 1800)


# Alerts (docs/alerts.md): the SMTP provider's connection, the recipients, and the time of D+1 by
# which the run for D must have finished.
SMTP_CONN_ID = "smtp_default"
VAR_ALERT_TO = "etl_alert_to"
VAR_DEADLINE = "etl_deadline"
DEFAULT_DEADLINE = "06:00"


def alert_recipients() -> list[str]:
    """The addresses of `etl_alert_to` (comma-separated); empty when the variable is not set."""
    raw = variable(VAR_ALERT_TO, "") or ""
    return [address.strip() for address in str(raw).split(",") if address.strip()]


def parse_deadline(value: str) -> dt.time:
    """`HH:MM` (or `HH:MM:SS`), a UTC time of day."""
    try:
        if not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value.strip()):
            raise ValueError
        return dt.time.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise ValueError(f"variable {VAR_DEADLINE} must be a UTC time HH:MM, got {value!r}") from None


# Retention (docs/lifecycle.md): platform files of dates older than this many days are deleted.
VAR_RETENTION_DAYS = "etl_retention_days"
DEFAULT_RETENTION_DAYS = 30


def retention_days() -> int:
    """`etl_retention_days`, a whole number of days of at least 1 (default 30)."""
    return whole_days(VAR_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)


# Metrics (docs/monitoring.md): the Pushgateway's groups pushed longer ago than this are deleted. The
# default is the monitoring page's window, which draws the dates the gateway holds.
VAR_METRICS_KEEP_DAYS = "etl_metrics_keep_days"
DEFAULT_METRICS_KEEP_DAYS = 90


def metrics_keep_days() -> int:
    """`etl_metrics_keep_days`, a whole number of days of at least 1 (default 90)."""
    return whole_days(VAR_METRICS_KEEP_DAYS, DEFAULT_METRICS_KEEP_DAYS)


def whole_days(key: str, default: int) -> int:
    """The variable `key` as a whole number of days of at least 1; ValueError naming it and its value."""
    raw = variable(key, default)
    try:
        days = int(str(raw).strip())
    except ValueError:
        days = 0
    if days < 1:
        raise ValueError(f"{key} must be a whole number of days of at least 1, got {raw!r}")
    return days


# Spark's JIT by drop size (docs/performance.md, ninth round): a day whose drop is smaller than this
# many MB (gzip files by their uncompressed size) runs its Spark application with the quick compiler
# only (C1); 0 turns it off. On the benchmark's mix C1 wins at 1M events (191 MB), is level at 1.3M
# (249 MB) and loses at 2M (381 MB).
VAR_QUICK_JIT_BELOW_MB = "etl_spark_quick_jit_below_mb"
DEFAULT_QUICK_JIT_BELOW_MB = 224


def quick_jit_below_bytes() -> int:
    raw = variable(VAR_QUICK_JIT_BELOW_MB, DEFAULT_QUICK_JIT_BELOW_MB)
    try:
        mb = float(str(raw).strip())
    except ValueError:
        raise ValueError(f"variable {VAR_QUICK_JIT_BELOW_MB} must be a number of MB, got {raw!r}") from None
    if mb < 0:
        raise ValueError(f"variable {VAR_QUICK_JIT_BELOW_MB} must not be negative, got {mb}")
    return int(mb * 1024 * 1024)


# Class-data sharing for the Spark driver (docs/performance.md): a folder where the task keeps an
# archive of the classes a Spark application loads, written by the first run and mapped by later
# ones (about 5 s less start-up). Empty or unset: off.
VAR_SPARK_CDS_DIR = "etl_spark_cds_dir"


def spark_cds_dir() -> str | None:
    raw = variable(VAR_SPARK_CDS_DIR, "") or ""
    return str(raw).strip() or None
