"""The three tables the sink loads (contract 4.2): columns, keys, the partition a load of D replaces,
and the names of their statements in `cql/`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analytics_etl.cassandra.convert import (
    BadKey,
    convert_learning_progress,
    convert_page_view_stats,
    convert_user_engagement,
    key_array,
    week_start,
)
from analytics_etl.cassandra.errors import SinkRefusedRow


@dataclass(frozen=True)
class Sink:
    """How one output table is loaded. Every key statement binds (partition, *key)."""

    table: str
    columns: tuple[str, ...]  # Parquet columns, in the insert statement's order
    primary_key: tuple[str, ...]  # the table's primary key (named in errors)
    key_columns: tuple[str, ...]  # the key of a row within the partition a load replaces
    convert: Callable[[Mapping[str, Any], dt.date], tuple[Any, ...]]
    partition_of: Callable[[dt.date], dt.date]  # the partition a load of day D replaces
    keys_in_partition: bool  # True: a SELECT of the partition lists its keys; False: key_manifest
    legacy_manifest: str | None = None  # the per-key manifest table of earlier versions, migrated away

    @property
    def insert(self) -> str:
        return f"{self.table}_insert"

    @property
    def delete(self) -> str:
        return f"{self.table}_delete"

    @property
    def select_keys(self) -> str:
        return f"{self.table}_select_keys"

    def rows(self, records: Sequence[Mapping[str, Any]], partition: dt.date) -> list[tuple[Any, ...]]:
        """Output rows converted to bound values; a row Cassandra would refuse raises `SinkRefusedRow`."""
        converted = []
        for record in records:
            try:
                converted.append(self.convert(record, partition))
            except ValueError as err:
                key = {column: record.get(column) for column in self.primary_key}
                raise SinkRefusedRow(self.table, key, str(err)) from None
        return converted

    def keys_of(self, batch: pa.RecordBatch) -> pa.Table:
        """The keys (`key_columns`) of a batch of output rows, as the bookkeeping compares them."""
        try:
            return pa.table({column: key_array(batch.column(column), column) for column in self.key_columns})
        except BadKey as err:
            raise SinkRefusedRow(self.table, {err.column: err.value}, str(err)) from None

    def refused(self, params: Sequence[Any], reason: str) -> SinkRefusedRow:
        """The error for a row (bound values of the insert) that Cassandra refused with `reason`."""
        return SinkRefusedRow(
            self.table, {c: params[self.columns.index(c)] for c in self.primary_key}, reason
        )


def _same_day(date: dt.date) -> dt.date:
    return date


SINKS = (
    Sink(
        table="page_view_stats",
        columns=("date", "hour", "page", "view_count"),
        primary_key=("date", "hour", "page"),
        key_columns=("hour", "page"),
        convert=convert_page_view_stats,
        partition_of=_same_day,
        keys_in_partition=True,
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
        primary_key=("user_id", "date"),
        key_columns=("user_id",),
        convert=convert_user_engagement,
        partition_of=_same_day,
        keys_in_partition=False,
        legacy_manifest="user_engagement_keys",
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
        primary_key=("user_id", "subject", "week_start"),
        key_columns=("user_id", "subject"),
        convert=convert_learning_progress,
        partition_of=week_start,
        keys_in_partition=False,
        legacy_manifest="learning_progress_keys",
    ),
)
