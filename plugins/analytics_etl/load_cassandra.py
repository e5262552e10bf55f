"""The Cassandra sink: writes day D's three curated outputs to the keyspace of contract 4.2.

A load of D leaves in Cassandra exactly the rows of the latest run of D (contract 5, Idempotence):

1. the schema is created if missing (`CREATE ... IF NOT EXISTS` from `cql/`), then schema agreement
   is awaited;
2. each output is streamed from its Parquet directory in bounded batches; every batch first records
   its keys in the table's load manifest, then upserts its rows (prepared statements, bounded
   concurrency, bounded retries with backoff, the configured consistency level);
3. the keys an earlier load of the same partition wrote (the day's `page_view_stats` partition, or the
   manifest of the day / week) are read back, the ones the new output lacks are deleted from the
   table and then from the manifest.

Readers never see an empty day: new rows are upserted before any stale one is deleted. A load killed
at any point leaves every row it may have written listed in a manifest, so the next run of the date
cleans up after it. See docs/cassandra.md for the reasoning and the limits.

Pure functions (settings parsing, statement rendering, row conversion, stale-key computation,
batching, retries) are separate from the I/O so they are unit-tested without a cluster.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pyarrow as pa
import pyarrow.dataset as ds

from analytics_etl.settings import CASSANDRA_CONN_ID

if TYPE_CHECKING:
    from analytics_etl.paths import RunPaths

log = logging.getLogger(__name__)

CQL_DIR = Path(__file__).resolve().parents[2] / "cql"

DEFAULT_KEYSPACE = "analytics"

# Airflow variables read when the task runs (AIRFLOW_VAR_<NAME upper-cased> works too).
VAR_REPLICATION = "etl_cassandra_replication"
VAR_CONSISTENCY = "etl_cassandra_consistency"
VAR_CONCURRENCY = "etl_cassandra_concurrency"
VAR_BATCH_SIZE = "etl_cassandra_batch_size"
VAR_MAX_RETRIES = "etl_cassandra_max_retries"

DEFAULT_REPLICATION: dict[str, Any] = {"class": "SimpleStrategy", "replication_factor": 1}
DEFAULT_CONSISTENCY = "LOCAL_QUORUM"
DEFAULT_CONCURRENCY = 64
DEFAULT_BATCH_SIZE = 5_000
DEFAULT_MAX_RETRIES = 5

MAX_CONCURRENCY = 2_048
MAX_BATCH_SIZE = 100_000
MAX_RETRIES = 20
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
SCHEMA_AGREEMENT_WAIT_SECONDS = 60
DDL_TIMEOUT_SECONDS = 60.0

# The sink writes and reads, so levels only valid for one of them (ANY) or for lightweight
# transactions (SERIAL, LOCAL_SERIAL) are refused.
CONSISTENCY_LEVELS = ("ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE")

_STRATEGIES = {"SimpleStrategy", "NetworkTopologyStrategy"}
_STRATEGY_PREFIX = "org.apache.cassandra.locator."
_DC_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_KEYSPACE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
_PLACEHOLDER = re.compile(r"\{(keyspace|replication)\}")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


# -- settings ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CassandraSettings:
    """Validated load settings; build them with `parse_settings` / `read_settings`."""

    replication: Mapping[str, str]
    consistency: str
    concurrency: int = DEFAULT_CONCURRENCY
    batch_size: int = DEFAULT_BATCH_SIZE
    max_retries: int = DEFAULT_MAX_RETRIES


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
    strategy = str(options.pop("class", "")).removeprefix(_STRATEGY_PREFIX)
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


# -- statements ---------------------------------------------------------------------------------------
@cache
def read_cql(name: str) -> str:
    """The statement of `cql/<name>.cql`, without its comment lines and final semicolon."""
    path = CQL_DIR / f"{name}.cql"
    if not path.is_file():
        raise FileNotFoundError(f"CQL statement file {path} does not exist")
    lines = [
        line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("--")
    ]
    return "\n".join(lines).strip().rstrip(";").strip()


def render(text: str, keyspace: str, replication: Mapping[str, str] | None = None) -> str:
    """Fill the `{keyspace}` (and `{replication}`) placeholders; values are never rendered, always bound."""
    keyspace = keyspace_name(keyspace)

    def fill(match: re.Match[str]) -> str:
        if match.group(1) == "keyspace":
            return keyspace
        if replication is None:
            raise ValueError("statement needs a replication map")
        return render_replication(replication)

    return _PLACEHOLDER.sub(fill, text)


def statement(name: str, keyspace: str) -> str:
    return render(read_cql(name), keyspace)


# Objects of the schema, in creation order: (object name in the metadata, statement file).
SCHEMA = (
    ("page_view_stats", "page_view_stats_create"),
    ("user_engagement", "user_engagement_create"),
    ("learning_progress", "learning_progress_create"),
    ("user_engagement_keys", "user_engagement_keys_create"),
    ("learning_progress_keys", "learning_progress_keys_create"),
)


def schema_statements(keyspace: str, replication: Mapping[str, str]) -> list[tuple[str, str]]:
    """(object, CQL) to create the keyspace and its tables, keyspace first."""
    statements = [(keyspace_name(keyspace), render(read_cql("keyspace_create"), keyspace, replication))]
    statements += [(table, statement(name, keyspace)) for table, name in SCHEMA]
    return statements


def replication_matches(existing: str | Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    """Whether an existing keyspace's replication (`export_for_schema()` text or a map) is `wanted`."""
    if isinstance(existing, str):
        try:
            existing = ast.literal_eval(existing)
        except (ValueError, SyntaxError):
            return False
    if not isinstance(existing, Mapping):
        return False
    normal = {str(k): str(v) for k, v in existing.items()}
    normal["class"] = normal.get("class", "").removeprefix(_STRATEGY_PREFIX)
    return normal == dict(wanted)


# -- rows ----------------------------------------------------------------------------------------------
def to_uuid(value: Any, column: str) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, bytes) and len(value) == 16:
        return UUID(bytes=value)
    try:
        return UUID(str(value))
    except ValueError:
        raise ValueError(f"column {column}: {value!r} is not a UUID") from None


def to_date(value: Any, column: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError(f"column {column}: expected a date, got the timestamp {value!r}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"column {column}: {value!r} is not a date")


def to_int(value: Any, column: str, *, bits: int = 32) -> int:
    low, high = _INT32 if bits == 32 else _INT64
    if isinstance(value, bool) or not isinstance(value, int):
        if not (isinstance(value, float) and value.is_integer()):
            raise ValueError(f"column {column}: {value!r} is not an integer")
        value = int(value)
    if not low <= value <= high:
        raise ValueError(f"column {column}: {value} does not fit a {bits}-bit Cassandra integer")
    return value


def to_double(value: Any, column: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"column {column}: {value!r} is not a number")
    number = float(value)
    if math.isnan(number):
        raise ValueError(f"column {column}: NaN is not a value")
    return number


def to_text(value: Any, column: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"column {column}: {value!r} is not a string")
    return value


def _required(row: Mapping[str, Any], column: str) -> Any:
    value = row.get(column)
    if value is None:
        raise ValueError(f"column {column} is null (it is part of the key or required)")
    return value


def _check_partition(value: dt.date, expected: dt.date, column: str) -> dt.date:
    if value != expected:
        raise ValueError(f"column {column} is {value}, but this load only writes {column} = {expected}")
    return value


def convert_page_view_stats(row: Mapping[str, Any], partition: dt.date) -> tuple[Any, ...]:
    """(date, hour, page, view_count) of one output row; `partition` is day D."""
    return (
        _check_partition(to_date(_required(row, "date"), "date"), partition, "date"),
        to_int(_required(row, "hour"), "hour"),
        to_text(_required(row, "page"), "page"),
        to_int(_required(row, "view_count"), "view_count", bits=64),
    )


def convert_user_engagement(row: Mapping[str, Any], partition: dt.date) -> tuple[Any, ...]:
    """(user_id, date, total_events, unique_pages, session_count, total_time_minutes, engagement_score)."""
    return (
        to_uuid(_required(row, "user_id"), "user_id"),
        _check_partition(to_date(_required(row, "date"), "date"), partition, "date"),
        to_int(_required(row, "total_events"), "total_events", bits=64),
        to_int(_required(row, "unique_pages"), "unique_pages"),
        to_int(_required(row, "session_count"), "session_count"),
        to_int(_required(row, "total_time_minutes"), "total_time_minutes"),
        to_double(_required(row, "engagement_score"), "engagement_score"),
    )


def convert_learning_progress(row: Mapping[str, Any], partition: dt.date) -> tuple[Any, ...]:
    """(user_id, subject, week_start, lessons_completed, time_spent_minutes, average_score or None)."""
    score = row.get("average_score")
    return (
        to_uuid(_required(row, "user_id"), "user_id"),
        to_text(_required(row, "subject"), "subject"),
        _check_partition(to_date(_required(row, "week_start"), "week_start"), partition, "week_start"),
        to_int(_required(row, "lessons_completed"), "lessons_completed"),
        to_int(_required(row, "time_spent_minutes"), "time_spent_minutes"),
        None if score is None else to_double(score, "average_score"),
    )


def week_start(date: dt.date) -> dt.date:
    """The Monday of `date`'s ISO week."""
    return date - dt.timedelta(days=date.weekday())


@dataclass(frozen=True)
class Sink:
    """How one output table is loaded. Every key statement binds (partition, *key)."""

    table: str
    columns: tuple[str, ...]  # Parquet columns, in the insert statement's order
    key_positions: tuple[int, ...]  # where the key within the partition sits in a converted row
    key_columns: tuple[str, ...]
    convert: Callable[[Mapping[str, Any], dt.date], tuple[Any, ...]]
    partition_of: Callable[[dt.date], dt.date]
    select_keys: str  # statement listing the keys earlier loads of the partition wrote
    manifest_insert: str | None = None
    manifest_delete: str | None = None

    @property
    def insert(self) -> str:
        return f"{self.table}_insert"

    @property
    def delete(self) -> str:
        return f"{self.table}_delete"

    def key(self, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(row[i] for i in self.key_positions)


def _same_day(date: dt.date) -> dt.date:
    return date


SINKS = (
    Sink(
        table="page_view_stats",
        columns=("date", "hour", "page", "view_count"),
        key_positions=(1, 2),
        key_columns=("hour", "page"),
        convert=convert_page_view_stats,
        partition_of=_same_day,
        select_keys="page_view_stats_select_keys",
    ),
    Sink(
        table="user_engagement",
        columns=(
            "user_id",
            "date",
            "total_events",
            "unique_pages",
            "session_count",
            "total_time_minutes",
            "engagement_score",
        ),
        key_positions=(0,),
        key_columns=("user_id",),
        convert=convert_user_engagement,
        partition_of=_same_day,
        select_keys="user_engagement_keys_select",
        manifest_insert="user_engagement_keys_insert",
        manifest_delete="user_engagement_keys_delete",
    ),
    Sink(
        table="learning_progress",
        columns=(
            "user_id",
            "subject",
            "week_start",
            "lessons_completed",
            "time_spent_minutes",
            "average_score",
        ),
        key_positions=(0, 1),
        key_columns=("user_id", "subject"),
        convert=convert_learning_progress,
        partition_of=week_start,
        select_keys="learning_progress_keys_select",
        manifest_insert="learning_progress_keys_insert",
        manifest_delete="learning_progress_keys_delete",
    ),
)


# -- stale keys ------------------------------------------------------------------------------------------
def _key_type(column: str) -> pa.DataType:
    return pa.int64() if column == "hour" else pa.string()


def keys_table(key_columns: Sequence[str], keys: Iterable[Sequence[Any]]) -> pa.Table:
    """Keys as a compact Arrow table (UUIDs as their canonical string) for `stale_keys`."""
    columns: list[list[Any]] = [[] for _ in key_columns]
    for key in keys:
        for values, part in zip(columns, key, strict=True):
            values.append(str(part) if isinstance(part, UUID) else part)
    return pa.table(
        {
            name: pa.array(values, type=_key_type(name))
            for name, values in zip(key_columns, columns, strict=True)
        }
    )


def stale_keys(previous: pa.Table, current: pa.Table) -> pa.Table:
    """The keys of `previous` that are not in `current` (a left anti join on every column)."""
    if previous.num_rows == 0 or current.num_rows == 0:
        return previous
    return previous.join(current, keys=list(previous.column_names), join_type="left anti")


def key_tuples(table: pa.Table, batch_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of a keys table as bound values (user_id back to UUID), `batch_size` at a time."""
    for batch in table.to_batches(max_chunksize=batch_size):
        columns = [
            [UUID(v) for v in batch.column(i).to_pylist()]
            if name == "user_id"
            else batch.column(i).to_pylist()
            for i, name in enumerate(batch.schema.names)
        ]
        yield list(zip(*columns, strict=True))


# -- Parquet -----------------------------------------------------------------------------------------------
def iter_batches(directory: Path, columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
    """The rows of a Parquet directory (as Spark writes it) in record batches of at most `batch_size` rows.

    Only a few batches are held at a time (no read-ahead beyond one fragment); files starting with
    `_` or `.` (`_SUCCESS`, checksums) are ignored.
    """
    if not directory.is_dir():
        raise FileNotFoundError(f"Parquet output directory {directory} does not exist")
    dataset = ds.dataset(str(directory), format="parquet")
    if not dataset.files:
        log.warning("%s holds no Parquet file: loading it as an empty output", directory)
        return
    missing = sorted(set(columns) - set(dataset.schema.names))
    if missing:
        raise ValueError(f"{directory} lacks the columns {missing}")
    scan = dataset.to_batches(
        columns=list(columns), batch_size=batch_size, batch_readahead=1, fragment_readahead=1
    )
    for batch in scan:
        for start in range(0, batch.num_rows, batch_size):  # guard: never more than batch_size rows
            yield batch.slice(start, batch_size)


def count_output_rows(paths: RunPaths) -> dict[str, int]:
    """Rows of each of the run's Cassandra outputs, from the Parquet footers (nothing is read).

    What a load would write: logged and recorded when the load is skipped for want of a connection.
    """
    counts = {}
    for sink in SINKS:
        directory = paths.output(sink.table)
        if not directory.is_dir():
            raise FileNotFoundError(f"output {sink.table} of the run is missing: {directory}")
        counts[sink.table] = ds.dataset(str(directory), format="parquet").count_rows()
    return counts


# -- retries -------------------------------------------------------------------------------------------------
def _retryable_errors() -> tuple[type[BaseException], ...]:
    from cassandra import OperationTimedOut, ReadTimeout, Unavailable, WriteTimeout
    from cassandra.cluster import NoHostAvailable
    from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage

    return (
        WriteTimeout,
        ReadTimeout,
        Unavailable,
        OperationTimedOut,
        NoHostAvailable,
        OverloadedErrorMessage,
        IsBootstrappingErrorMessage,
    )


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff before retry `attempt` (0-based), capped."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)


Outcome = tuple[bool, Any]  # (success, result or exception), like cassandra.concurrent.ExecutionResult


def run_with_retries(
    run: Callable[[list[tuple[Any, ...]]], Sequence[Outcome]],
    params: list[tuple[Any, ...]],
    *,
    max_retries: int,
    retryable: tuple[type[BaseException], ...],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Run `params` through `run` and run again only the failed ones, up to `max_retries` times.

    Every statement the sink runs is idempotent (upserts and deletes of fixed keys), so retrying a
    write that timed out is safe. A failure that is not `retryable` is raised at once.
    """
    pending = params
    for attempt in range(max_retries + 1):
        outcomes = run(pending)
        failed = [(p, result) for p, (ok, result) in zip(pending, outcomes, strict=True) if not ok]
        if not failed:
            return
        for _, error in failed:
            if not isinstance(error, retryable):
                raise error
        if attempt == max_retries:
            raise RuntimeError(
                f"{len(failed)} of {len(params)} Cassandra statements still failed after {max_retries} retries"
            ) from failed[0][1]
        delay = backoff_seconds(attempt)
        log.warning(
            "%d Cassandra statements failed (%s); retry %d/%d in %.1fs",
            len(failed),
            type(failed[0][1]).__name__,
            attempt + 1,
            max_retries,
            delay,
        )
        sleep(delay)
        pending = [p for p, _ in failed]


# -- I/O --------------------------------------------------------------------------------------------------------
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


class Writer:
    """Runs statements with bounded concurrency, bounded retries and one consistency level."""

    def __init__(self, session: Any, settings: CassandraSettings, keyspace: str) -> None:
        self.session = session
        self.settings = settings
        self.keyspace = keyspace
        self._prepared: dict[str, Any] = {}
        self._retryable = _retryable_errors()

    def prepared(self, name: str) -> Any:
        if name not in self._prepared:
            from cassandra import ConsistencyLevel

            stmt = self.session.prepare(statement(name, self.keyspace))
            stmt.consistency_level = ConsistencyLevel.name_to_value[self.settings.consistency]
            stmt.is_idempotent = True  # upserts and deletes of fixed keys: safe to retry
            self._prepared[name] = stmt
        return self._prepared[name]

    def execute_many(self, name: str, params: list[tuple[Any, ...]]) -> None:
        from cassandra.concurrent import execute_concurrent_with_args

        if not params:
            return
        stmt = self.prepared(name)

        def run(pending: list[tuple[Any, ...]]) -> Sequence[Outcome]:
            return execute_concurrent_with_args(
                self.session, stmt, pending, concurrency=self.settings.concurrency, raise_on_first_error=False
            )

        run_with_retries(run, params, max_retries=self.settings.max_retries, retryable=self._retryable)

    def read_keys(self, name: str, partition: dt.date, key_columns: Sequence[str]) -> pa.Table:
        """Every key of one partition (paged by the driver, `batch_size` rows per page)."""
        stmt = self.prepared(name).bind((partition,))
        stmt.fetch_size = self.settings.batch_size
        for attempt in range(self.settings.max_retries + 1):
            try:
                return keys_table(key_columns, (tuple(row) for row in self.session.execute(stmt)))
            except self._retryable as error:
                if attempt == self.settings.max_retries:
                    raise
                log.warning("reading keys with %s failed (%s); retrying", name, error)
                time.sleep(backoff_seconds(attempt))
        raise AssertionError("unreachable")


def ensure_schema(session: Any, keyspace: str, replication: Mapping[str, str]) -> None:
    """Create the keyspace and tables that do not exist yet, and wait for schema agreement."""
    cluster = session.cluster
    for name, cql in schema_statements(keyspace, replication):
        if _schema_object_exists(cluster.metadata, keyspace, name):
            continue
        log.info("creating %s", name if name == keyspace else f"{keyspace}.{name}")
        result = session.execute(cql, timeout=DDL_TIMEOUT_SECONDS)
        if not result.response_future.is_schema_agreed:
            _wait_for_schema_agreement(cluster)
    _wait_for_schema_agreement(cluster)
    _warn_on_replication_drift(cluster.metadata, keyspace, replication)


def _warn_on_replication_drift(metadata: Any, keyspace: str, replication: Mapping[str, str]) -> None:
    ks = metadata.keyspaces.get(keyspace)
    if ks is None:
        raise RuntimeError(f"keyspace {keyspace} is missing from the cluster metadata after its creation")
    existing = ks.replication_strategy.export_for_schema()
    if not replication_matches(existing, replication):
        log.warning(
            "keyspace %s has replication %s, variable %s asks for %s: change it with ALTER KEYSPACE "
            "and a repair (never done automatically)",
            keyspace,
            existing,
            VAR_REPLICATION,
            render_replication(replication),
        )


def _schema_object_exists(metadata: Any, keyspace: str, name: str) -> bool:
    ks = metadata.keyspaces.get(keyspace)
    return ks is not None and (name == keyspace or name in ks.tables)


def _wait_for_schema_agreement(cluster: Any) -> None:
    if not cluster.control_connection.wait_for_schema_agreement(wait_time=SCHEMA_AGREEMENT_WAIT_SECONDS):
        raise RuntimeError(
            f"Cassandra nodes did not agree on the schema within {SCHEMA_AGREEMENT_WAIT_SECONDS}s "
            "(is a node down or unreachable?)"
        )


def load_sink(writer: Writer, sink: Sink, directory: Path, date: dt.date) -> tuple[int, int]:
    """Load one output for day `date`; returns (rows written, stale rows deleted)."""
    partition = sink.partition_of(date)
    batch_size = writer.settings.batch_size
    written = 0
    key_chunks: list[pa.Table] = []
    for batch in iter_batches(directory, sink.columns, batch_size):
        rows = [sink.convert(row, partition) for row in batch.to_pylist()]
        keys = [sink.key(row) for row in rows]
        if sink.manifest_insert:  # record the keys before the rows: a killed load leaves none unlisted
            writer.execute_many(sink.manifest_insert, [(partition, *key) for key in keys])
        writer.execute_many(sink.insert, rows)
        key_chunks.append(keys_table(sink.key_columns, keys))
        written += len(rows)
    current = pa.concat_tables(key_chunks) if key_chunks else keys_table(sink.key_columns, [])
    previous = writer.read_keys(sink.select_keys, partition, sink.key_columns)
    stale = stale_keys(previous, current)
    for keys in key_tuples(stale, batch_size):
        params = [(partition, *key) for key in keys]
        writer.execute_many(sink.delete, params)
        if sink.manifest_delete:  # only once the rows are gone
            writer.execute_many(sink.manifest_delete, params)
    log.info("%s %s: %d rows written, %d stale rows deleted", sink.table, partition, written, stale.num_rows)
    return written, stale.num_rows


def load_outputs(
    session: Any, keyspace: str, paths: RunPaths, date: dt.date, settings: CassandraSettings
) -> dict[str, int]:
    """Load the three outputs of a run into an existing schema; see `load_day`."""
    writer = Writer(session, settings, keyspace_name(keyspace))
    counts: dict[str, int] = {}
    for sink in SINKS:
        written, deleted = load_sink(writer, sink, paths.output(sink.table), date)
        counts[sink.table] = written
        counts[f"{sink.table}_deleted"] = deleted
    return counts


def load_day(
    paths: RunPaths,
    date: dt.date,
    *,
    conn_id: str = CASSANDRA_CONN_ID,
    settings: CassandraSettings | None = None,
) -> dict[str, int]:
    """Replace day `date` in Cassandra with the run's validated outputs.

    Returns rows written per table (`page_view_stats`, `user_engagement`, `learning_progress`) and
    stale rows deleted (`<table>_deleted`). Settings come from the Airflow variables when not given.
    """
    if paths.date != date:
        raise ValueError(f"the run's paths are for {paths.date}, not {date}")
    for sink in SINKS:
        if not paths.output(sink.table).is_dir():
            raise FileNotFoundError(f"output {sink.table} of the run is missing: {paths.output(sink.table)}")
    settings = settings or read_settings()

    from airflow.providers.apache.cassandra.hooks.cassandra import CassandraHook

    hook = CassandraHook(cassandra_conn_id=conn_id)
    keyspace = keyspace_name(hook.keyspace)
    # The hook's session would `USE` the connection's keyspace, which does not exist before the first
    # load: connect without one; every statement names its keyspace.
    hook.keyspace = None
    try:
        session = hook.get_conn()
        ensure_schema(session, keyspace, settings.replication)
        return load_outputs(session, keyspace, paths, date, settings)
    finally:
        hook.shutdown_cluster()
