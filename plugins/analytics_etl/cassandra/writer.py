"""I/O with the driver: prepared statements run with bounded concurrency and bounded retries."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from analytics_etl.cassandra.manifest import keys_table
from analytics_etl.cassandra.schema import statement
from analytics_etl.cassandra.settings import CassandraSettings

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0


def retryable_errors() -> tuple[type[BaseException], ...]:
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


class Writer:
    """Runs statements with bounded concurrency, bounded retries and one consistency level."""

    def __init__(self, session: Any, settings: CassandraSettings, keyspace: str) -> None:
        self.session = session
        self.settings = settings
        self.keyspace = keyspace
        self._prepared: dict[str, Any] = {}
        self._retryable = retryable_errors()

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
