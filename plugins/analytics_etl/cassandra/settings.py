"""Settings of the Cassandra sink: the Airflow connection and variables, parsed and validated.

Everything here is read when the task runs, never when a DAG file is parsed. A bad value fails the
task with a message naming the variable (or the connection field) and what it must be.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from analytics_etl.settings import CASSANDRA_CONN_ID

log = logging.getLogger(__name__)

DEFAULT_KEYSPACE = "analytics"

# Airflow variables read when the task runs (AIRFLOW_VAR_<NAME upper-cased> works too).
VAR_REPLICATION = "etl_cassandra_replication"
VAR_CONSISTENCY = "etl_cassandra_consistency"
VAR_CONCURRENCY = "etl_cassandra_concurrency"
VAR_BATCH_SIZE = "etl_cassandra_batch_size"
VAR_MAX_RETRIES = "etl_cassandra_max_retries"
VAR_REQUEST_TIMEOUT = "etl_cassandra_request_timeout"

DEFAULT_REPLICATION: dict[str, Any] = {"class": "SimpleStrategy", "replication_factor": 1}
DEFAULT_CONSISTENCY = "LOCAL_QUORUM"
DEFAULT_CONCURRENCY = 100  # the driver's own default for execute_concurrent
DEFAULT_BATCH_SIZE = 5_000
DEFAULT_MAX_RETRIES = 5
DEFAULT_REQUEST_TIMEOUT = 30

MAX_CONCURRENCY = 2_048
MAX_BATCH_SIZE = 100_000
MAX_RETRIES = 20
MAX_REQUEST_TIMEOUT = 600

# The sink writes and reads, so levels only valid for one of them (ANY) or for lightweight
# transactions (SERIAL, LOCAL_SERIAL) are refused.
CONSISTENCY_LEVELS = ("ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE")

STRATEGY_PREFIX = "org.apache.cassandra.locator."
_STRATEGIES = {"SimpleStrategy", "NetworkTopologyStrategy"}
_DC_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_KEYSPACE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")


@dataclass(frozen=True)
class CassandraSettings:
    """Validated load settings; build them with `parse_settings` / `read_settings`."""

    replication: Mapping[str, str]
    consistency: str
    concurrency: int = DEFAULT_CONCURRENCY
    batch_size: int = DEFAULT_BATCH_SIZE
    max_retries: int = DEFAULT_MAX_RETRIES
    request_timeout: int = DEFAULT_REQUEST_TIMEOUT  # seconds the driver waits for one request


def parse_replication(raw: Any) -> dict[str, str]:
    """A replication map from a JSON string or a mapping; returns it with class short name and str values.

    `SimpleStrategy` needs exactly `replication_factor`; `NetworkTopologyStrategy` needs one or more
    data-centre names with their factor (Cassandra 4's `replication_factor` default is accepted too).
    """
    where = f"variable {VAR_REPLICATION}"
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError as err:
            raise ValueError(f"{where} must be a JSON object, got {raw!r}: {err}") from None
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a JSON object like {json.dumps(DEFAULT_REPLICATION)}, got {raw!r}")
    options = dict(raw)
    strategy = str(options.pop("class", "")).removeprefix(STRATEGY_PREFIX)
    if strategy not in _STRATEGIES:
        raise ValueError(f"{where}: 'class' must be one of {sorted(_STRATEGIES)}, got {raw.get('class')!r}")
    if strategy == "SimpleStrategy" and set(options) != {"replication_factor"}:
        raise ValueError(
            f"{where}: SimpleStrategy takes exactly 'replication_factor', got keys {sorted(options)}"
        )
    if strategy == "NetworkTopologyStrategy" and not options:
        raise ValueError(
            f"{where}: NetworkTopologyStrategy needs at least one data centre, e.g. {{'dc1': 3}}"
        )
    replication = {"class": strategy}
    for name, factor in options.items():
        if not _DC_NAME.fullmatch(str(name)):
            raise ValueError(f"{where}: invalid data centre name {name!r}")
        replication[str(name)] = str(_positive_int(f"{where} [{name!r}]", factor, maximum=100))
    return replication


def render_replication(replication: Mapping[str, str]) -> str:
    """The CQL map literal of a replication map returned by `parse_replication`."""
    items = ", ".join(f"'{key}': '{value}'" for key, value in replication.items())
    return "{" + items + "}"


def parse_consistency(raw: Any) -> str:
    """A consistency level name, case-insensitive (`local_quorum` -> `LOCAL_QUORUM`)."""
    name = str(raw).strip().upper()
    if name not in CONSISTENCY_LEVELS:
        raise ValueError(
            f"variable {VAR_CONSISTENCY} must be one of {', '.join(CONSISTENCY_LEVELS)}, got {raw!r}"
        )
    return name


def _positive_int(what: str, raw: Any, *, maximum: int) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ValueError(f"{what} must be a whole number between 1 and {maximum}, got {raw!r}")
    try:
        value = int(str(raw).strip()) if isinstance(raw, str) else int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a whole number between 1 and {maximum}, got {raw!r}") from None
    if not 1 <= value <= maximum:
        raise ValueError(f"{what} must be between 1 and {maximum}, got {value}")
    return value


def parse_settings(
    replication: Any = None,
    consistency: Any = None,
    concurrency: Any = None,
    batch_size: Any = None,
    max_retries: Any = None,
    request_timeout: Any = None,
) -> CassandraSettings:
    """Validate raw values (None or "" means the default); raises ValueError naming the variable."""

    def given(value: Any, default: Any) -> Any:
        return default if value is None or value == "" else value

    return CassandraSettings(
        replication=parse_replication(given(replication, DEFAULT_REPLICATION)),
        consistency=parse_consistency(given(consistency, DEFAULT_CONSISTENCY)),
        concurrency=_positive_int(
            f"variable {VAR_CONCURRENCY}", given(concurrency, DEFAULT_CONCURRENCY), maximum=MAX_CONCURRENCY
        ),
        batch_size=_positive_int(
            f"variable {VAR_BATCH_SIZE}", given(batch_size, DEFAULT_BATCH_SIZE), maximum=MAX_BATCH_SIZE
        ),
        max_retries=_bounded_retries(given(max_retries, DEFAULT_MAX_RETRIES)),
        request_timeout=_positive_int(
            f"variable {VAR_REQUEST_TIMEOUT}",
            given(request_timeout, DEFAULT_REQUEST_TIMEOUT),
            maximum=MAX_REQUEST_TIMEOUT,
        ),
    )


def _bounded_retries(raw: Any) -> int:
    if str(raw).strip() == "0":
        return 0
    return _positive_int(f"variable {VAR_MAX_RETRIES}", raw, maximum=MAX_RETRIES)


def read_settings(get: Callable[[str], Any] | None = None) -> CassandraSettings:
    """The settings from the Airflow variables, read now (call it when the task runs)."""
    if get is None:
        from airflow.sdk import Variable

        def get(key: str) -> Any:
            return Variable.get(key, default=None)

    return parse_settings(
        replication=get(VAR_REPLICATION),
        consistency=get(VAR_CONSISTENCY),
        concurrency=get(VAR_CONCURRENCY),
        batch_size=get(VAR_BATCH_SIZE),
        max_retries=get(VAR_MAX_RETRIES),
        request_timeout=get(VAR_REQUEST_TIMEOUT),
    )


def keyspace_name(schema: str | None) -> str:
    """The keyspace: the connection's `schema` field, `analytics` when empty; validated, lower-cased.

    Unquoted CQL identifiers are case-insensitive, so the name is lower-cased as Cassandra would.
    """
    if schema is None or not schema.strip():
        return DEFAULT_KEYSPACE
    name = schema.strip()
    if not _KEYSPACE_NAME.fullmatch(name):
        raise ValueError(
            f"invalid keyspace {schema!r} in the schema field of connection {CASSANDRA_CONN_ID!r}: "
            "a letter followed by at most 47 letters, digits or underscores"
        )
    return name.lower()


def cassandra_configured(conn_id: str = CASSANDRA_CONN_ID) -> bool:
    """Whether the Airflow connection exists; when not, the DAG skips the Cassandra load (logged here)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("Airflow connection %r is not configured: the Cassandra load is skipped", conn_id)
        return False
    return True
