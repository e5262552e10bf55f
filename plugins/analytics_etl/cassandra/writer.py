"""I/O with the driver: the cluster, prepared statements, concurrent writes, paged reads, retries.

The driver does what it does well, configured once in an `ExecutionProfile`: the consistency level,
the request timeout, the load-balancing policy, and immediate retries of a request that timed out or
found replicas unavailable (`IdempotentRetryPolicy`: bounded, and writes only because every statement
of the sink is idempotent). `ExponentialReconnectionPolicy` brings a node back into use when it
returns. `execute_concurrent_with_args` keeps `concurrency` requests in flight, one Parquet batch
at a time.

What the driver gives up on is sorted here:

- transient errors (timeouts, unavailable replicas, no host, a dropped connection, an overloaded or
  bootstrapping node): only the failed statements are run again, after an exponential backoff, at
  most `max_retries` rounds; then `SinkUnavailable` names the hosts and what was written so far;
- `InvalidRequest` on a row: Cassandra refuses that row and always will: `SinkRefusedRow` at once;
- anything else is raised as it is, at once.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from cassandra import (
    ConsistencyLevel,
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    Unavailable,
    UnresolvableContactPoints,
    WriteTimeout,
)
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.connection import ConnectionException
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    RetryPolicy,
    TokenAwarePolicy,
)
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage
from cassandra.query import tuple_factory

from analytics_etl.cassandra.errors import SinkUnavailable
from analytics_etl.cassandra.schema import statement
from analytics_etl.cassandra.settings import CassandraSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = tuple[Any, ...]
Refused = Callable[[Params, str], Exception]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    WriteTimeout,
    ReadTimeout,
    Unavailable,
    OperationTimedOut,
    NoHostAvailable,
    ConnectionException,
    OverloadedErrorMessage,
    IsBootstrappingErrorMessage,
)

DRIVER_RETRIES = 2  # immediate retries by the driver, per request, before the sink's backoff rounds
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
RECONNECT_BASE_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 60.0


class IdempotentRetryPolicy(RetryPolicy):
    """The driver's retry policy, bounded to `max_retries` per request, retrying idempotent writes too.

    The driver's default never retries a write that timed out (it cannot know it is safe) and retries
    request errors without bound; every statement of this sink is an upsert or a delete of a fixed
    key, marked `is_idempotent`, so running it twice is safe.
    """

    def __init__(self, max_retries: int = DRIVER_RETRIES) -> None:
        self.max_retries = max_retries

    def _again(self, retry_num: int, decision: int, consistency: Any) -> tuple[int, Any]:
        return (decision, consistency) if retry_num < self.max_retries else (self.RETHROW, None)

    def on_read_timeout(
        self, query, consistency, required_responses, received_responses, data_retrieved, retry_num
    ):
        return self._again(retry_num, self.RETRY, consistency)

    def on_write_timeout(
        self, query, consistency, write_type, required_responses, received_responses, retry_num
    ):
        if not getattr(query, "is_idempotent", False):
            return self.RETHROW, None
        return self._again(retry_num, self.RETRY, consistency)

    def on_unavailable(self, query, consistency, required_replicas, alive_replicas, retry_num):
        return self._again(retry_num, self.RETRY_NEXT_HOST, None)

    def on_request_error(self, query, consistency, error, retry_num):
        return self._again(retry_num, self.RETRY_NEXT_HOST, None)


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff before retry round `attempt` (0-based), capped."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)


def execution_profile(settings: CassandraSettings, extras: Mapping[str, Any]) -> ExecutionProfile:
    """The profile every statement of the sink runs with."""
    return ExecutionProfile(
        load_balancing_policy=load_balancing_policy(extras),
        retry_policy=IdempotentRetryPolicy(),
        consistency_level=ConsistencyLevel.name_to_value[settings.consistency],
        request_timeout=float(settings.request_timeout),
        row_factory=tuple_factory,
    )


def load_balancing_policy(extras: Mapping[str, Any]) -> Any:
    """The policy the connection's extras name (as the Cassandra provider reads them), else token-aware."""
    if "load_balancing_policy" not in extras:
        return TokenAwarePolicy(DCAwareRoundRobinPolicy())
    from airflow.providers.apache.cassandra.hooks.cassandra import CassandraHook

    return CassandraHook.get_lb_policy(
        str(extras["load_balancing_policy"]), extras.get("load_balancing_policy_args", {})
    )


def cluster_for(conn: Any, settings: CassandraSettings) -> Cluster:
    """A driver `Cluster` for an Airflow connection of type `cassandra` (nothing is connected yet).

    Reads the same fields as the provider's `CassandraHook` (hosts, port, login, the extras
    `load_balancing_policy[_args]`, `ssl_options`, `protocol_version`, `cql_version`), but configures
    the driver through an execution profile, which the hook's legacy parameters rule out.
    """
    extras = conn.extra_dejson
    options: dict[str, Any] = {}
    if conn.host:
        options["contact_points"] = [host.strip() for host in conn.host.split(",") if host.strip()]
    if conn.port:
        options["port"] = int(conn.port)
    if conn.login:
        options["auth_provider"] = PlainTextAuthProvider(username=conn.login, password=conn.password)
    for name in ("ssl_options", "protocol_version", "cql_version"):
        if extras.get(name):
            options[name] = extras[name]
    try:
        return Cluster(
            execution_profiles={EXEC_PROFILE_DEFAULT: execution_profile(settings, extras)},
            reconnection_policy=ExponentialReconnectionPolicy(RECONNECT_BASE_SECONDS, RECONNECT_MAX_SECONDS),
            **options,
        )
    except UnresolvableContactPoints as err:  # DNS: maybe a blip, maybe a typo in the connection
        hosts = options.get("contact_points", ["127.0.0.1"])
        raise SinkUnavailable(hosts, {}, None, f"none of the hosts resolves to an address: {err}") from err


def open_session(
    conn: Any, settings: CassandraSettings, *, sleep: Callable[[float], None] = time.sleep
) -> tuple[Cluster, Any]:
    """A connected (cluster, session), without a keyspace (it may not exist yet: every statement
    names it). A cluster that cannot connect shuts itself down, so each attempt builds a new one;
    after `max_retries` failed attempts, `SinkUnavailable` names the hosts."""
    for attempt in range(settings.max_retries + 1):
        cluster = cluster_for(conn, settings)
        try:
            return cluster, cluster.connect()
        except TRANSIENT_ERRORS as err:
            cluster.shutdown()
            error = err
        if attempt < settings.max_retries:
            delay = backoff_seconds(attempt)
            log.warning(
                "cannot connect to Cassandra (%s); retry %d in %.1fs",
                describe_error(error),
                attempt + 1,
                delay,
            )
            sleep(delay)
    hosts = error_hosts(error) or [str(host) for host in cluster.contact_points]
    raise SinkUnavailable(hosts, {}, settings.max_retries, describe_error(error))


def error_hosts(error: BaseException) -> list[str]:
    """The hosts a driver error names, if any."""
    if isinstance(error, NoHostAvailable):
        return [str(host) for host in error.errors]
    host = (
        getattr(error, "last_host", None) or getattr(error, "endpoint", None) or getattr(error, "host", None)
    )
    return [str(host)] if host else []


def cluster_hosts(cluster: Any) -> list[str]:
    """The hosts the driver knows, with their state, or the contact points before it knew any."""
    try:
        hosts = list(cluster.metadata.all_hosts())
    except Exception:  # a message helper: never hide the error being described
        hosts = []
    if hosts:
        return [f"{host.endpoint} ({'up' if host.is_up else 'down'})" for host in hosts]
    return [f"{point}:{cluster.port}" for point in getattr(cluster, "contact_points", None) or []]


_SERVER_MESSAGE = re.compile(r'message="(.*)"', re.DOTALL)


def server_message(error: BaseException) -> str:
    """What the server said, without the driver's `Error from server: code=...` wrapping."""
    match = _SERVER_MESSAGE.search(str(error))
    return match.group(1) if match else str(error)


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class Writer:
    """Runs the sink's prepared statements on one session; counts what it wrote (for the error)."""

    def __init__(
        self,
        session: Any,
        settings: CassandraSettings,
        keyspace: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.session = session
        self.settings = settings
        self.keyspace = keyspace
        self.progress: dict[str, int] = {}
        self._sleep = sleep
        self._prepared: dict[str, Any] = {}

    def prepared(self, name: str) -> Any:
        if name not in self._prepared:
            stmt = self.session.prepare(statement(name, self.keyspace))
            stmt.is_idempotent = True  # upserts and deletes of fixed keys: safe to retry
            self._prepared[name] = stmt
        return self._prepared[name]

    def write(
        self, name: str, params: Sequence[Params], *, label: str | None = None, refused: Refused | None = None
    ) -> None:
        """Run statement `name` once per parameter tuple, `concurrency` at a time.

        Only the statements failing with a transient error run again, after a backoff; `label` names
        what `progress` counts (rows of a table); `refused(params, message)` builds the error for a
        row Cassandra refuses.
        """
        pending = list(params)
        for attempt in range(self.settings.max_retries + 1):
            failed = self._run(self.prepared(name), pending, refused)
            if label:
                self.progress[label] = self.progress.get(label, 0) + len(pending) - len(failed)
            if not failed:
                return
            error = failed[0][1]
            if attempt < self.settings.max_retries:
                self._wait(attempt, len(failed), name, error)
            pending = [p for p, _ in failed]
        raise self.unavailable(error, self.settings.max_retries)

    def _run(self, stmt: Any, params: list[Params], refused: Refused | None) -> list[tuple[Params, Any]]:
        """One concurrent round; returns the transient failures, raises the first other one."""
        if not params:
            return []
        outcomes = execute_concurrent_with_args(
            self.session,
            stmt,
            params,
            concurrency=self.settings.concurrency,
            raise_on_first_error=False,
            # A list, in order: a batch bounds it already, and the generator would wake this
            # thread (and take the GIL from the driver's I/O thread) once per result.
            results_generator=False,
        )
        failed: list[tuple[Params, Any]] = []
        fatal: BaseException | None = None
        for p, (ok, outcome) in zip(params, outcomes, strict=True):
            if ok:
                continue
            if isinstance(outcome, TRANSIENT_ERRORS):
                failed.append((p, outcome))
            elif fatal is None:  # let the round finish: nothing stays in flight behind the error
                is_refusal = refused is not None and isinstance(outcome, InvalidRequest)
                fatal = refused(p, server_message(outcome)) if is_refusal else outcome
        if fatal is not None:
            raise fatal
        return failed

    def _wait(self, attempt: int, count: int, name: str, error: BaseException) -> None:
        """Sleep before retry round `attempt + 1`."""
        delay = backoff_seconds(attempt)
        log.warning(
            "%d statements %s failed (%s); retry %d/%d in %.1fs",
            count,
            name,
            describe_error(error),
            attempt + 1,
            self.settings.max_retries,
            delay,
        )
        self._sleep(delay)

    def read(
        self, name: str, params: Params, consume: Callable[[Iterator[Params]], T], *, fetch_size: int
    ) -> T:
        """`consume` the rows of a query (paged by the driver, `fetch_size` rows per page).

        A transient error restarts the whole read, after a backoff, at most `max_retries` times.
        """
        for attempt in range(self.settings.max_retries + 1):
            bound = self.prepared(name).bind(params)
            bound.fetch_size = fetch_size
            try:
                return consume(iter(self.session.execute(bound)))
            except TRANSIENT_ERRORS as err:
                error = err
            if attempt < self.settings.max_retries:
                self._wait(attempt, 1, name, error)
        raise self.unavailable(error, self.settings.max_retries)

    def has_table(self, table: str) -> bool:
        """Whether the keyspace has `table`, as the driver's schema metadata says."""
        keyspace = self.session.cluster.metadata.keyspaces.get(self.keyspace)
        return keyspace is not None and table in keyspace.tables

    def unavailable(self, error: BaseException, retries: int | None) -> SinkUnavailable:
        hosts = error_hosts(error) or cluster_hosts(self.session.cluster)
        return SinkUnavailable(hosts, self.progress, retries, describe_error(error))
