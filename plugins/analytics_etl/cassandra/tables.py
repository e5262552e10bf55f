"""The three tables the sink loads (contract 4.2): columns, keys, partition of a load, statements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analytics_etl.cassandra.convert import (
    convert_learning_progress,
    convert_page_view_stats,
    convert_user_engagement,
    week_start,
)
from analytics_etl.cassandra.errors import SinkRefusedRow


@dataclass(frozen=True)
class Sink:
    """How one output table is loaded. Every key statement binds (partition, *key)."""

    table: str
    columns: tuple[str, ...]  # Parquet columns, in the insert statement's order
    primary_key: tuple[str, ...]  # the table's primary key columns (for messages)
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
        primary_key=("user_id", "date"),
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
        primary_key=("user_id", "subject", "week_start"),
        key_positions=(0, 1),
        key_columns=("user_id", "subject"),
        convert=convert_learning_progress,
        partition_of=week_start,
        select_keys="learning_progress_keys_select",
        manifest_insert="learning_progress_keys_insert",
        manifest_delete="learning_progress_keys_delete",
    ),
)
