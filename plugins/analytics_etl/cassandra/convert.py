"""Row conversion: one row of a curated Parquet output -> the values bound to an insert statement.

Every converter checks what Cassandra would refuse (a key that is null, a value outside `int`/`bigint`,
NaN, key text over 65,535 bytes, a row of another partition) and raises ValueError naming the column,
so a bad row fails the load before anything of it is sent.

`key_array` converts a whole key column at once to the form the stale-key bookkeeping compares
(UUIDs as their canonical text, hours as int64): vectorised when every value is already in that form,
value by value through the same converters otherwise.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc

# Cassandra stores the length of a key component in 16 bits: longer text in a key is refused.
MAX_KEY_BYTES = 65_535
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


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


def to_key_text(value: Any, column: str) -> str:
    """Text that is part of a primary key: at most 65,535 bytes in UTF-8."""
    text = to_text(value, column)
    if len(text) * 4 > MAX_KEY_BYTES and len(text.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(
            f"column {column}: {len(text.encode('utf-8'))} bytes, longer than the {MAX_KEY_BYTES} "
            "bytes Cassandra allows in a key"
        )
    return text


def required(row: Mapping[str, Any], column: str) -> Any:
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
        _check_partition(to_date(required(row, "date"), "date"), partition, "date"),
        to_int(required(row, "hour"), "hour"),
        to_key_text(required(row, "page"), "page"),
        to_int(required(row, "view_count"), "view_count", bits=64),
    )


def convert_user_engagement(row: Mapping[str, Any], partition: dt.date) -> tuple[Any, ...]:
    """(user_id, date, total_events, unique_pages, session_count, total_time_minutes, engagement_score)."""
    return (
        to_uuid(required(row, "user_id"), "user_id"),
        _check_partition(to_date(required(row, "date"), "date"), partition, "date"),
        to_int(required(row, "total_events"), "total_events", bits=64),
        to_int(required(row, "unique_pages"), "unique_pages"),
        to_int(required(row, "session_count"), "session_count"),
        to_int(required(row, "total_time_minutes"), "total_time_minutes"),
        to_double(required(row, "engagement_score"), "engagement_score"),
    )


def convert_learning_progress(row: Mapping[str, Any], partition: dt.date) -> tuple[Any, ...]:
    """(user_id, subject, week_start, lessons_completed, time_spent_minutes, average_score or None)."""
    score = row.get("average_score")
    return (
        to_uuid(required(row, "user_id"), "user_id"),
        to_key_text(required(row, "subject"), "subject"),
        _check_partition(to_date(required(row, "week_start"), "week_start"), partition, "week_start"),
        to_int(required(row, "lessons_completed"), "lessons_completed"),
        to_int(required(row, "time_spent_minutes"), "time_spent_minutes"),
        None if score is None else to_double(score, "average_score"),
    )


def week_start(date: dt.date) -> dt.date:
    """The Monday of `date`'s ISO week."""
    return date - dt.timedelta(days=date.weekday())


# -- key columns, for the stale-key bookkeeping ---------------------------------------------------------
KEY_TYPES: dict[str, pa.DataType] = {
    "user_id": pa.string(),
    "subject": pa.string(),
    "hour": pa.int64(),
    "page": pa.string(),
}
_CANONICAL_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class BadKey(ValueError):
    """A key value Cassandra would refuse; `column` and `value` say which."""

    def __init__(self, column: str, value: Any, reason: str) -> None:
        self.column = column
        self.value = value
        super().__init__(reason)


def _key_uuid(value: Any, column: str) -> str:
    return str(to_uuid(value, column))


_KEY_CONVERTERS: dict[str, Callable[[Any, str], Any]] = {
    "user_id": _key_uuid,
    "subject": to_key_text,
    "hour": to_int,
    "page": to_key_text,
}


def _all(mask: pa.Array) -> bool:
    return bool(pc.all(mask, min_count=0).as_py())


def _already_keys(values: pa.Array, column: str) -> bool:
    """Whether every value is already what the converter would return (the common, fast case)."""
    if values.null_count:
        return False
    if column == "user_id":
        return pa.types.is_string(values.type) and _all(pc.match_substring_regex(values, _CANONICAL_UUID))
    if column == "hour":
        low, high = _INT32
        return pa.types.is_integer(values.type) and _all(
            pc.and_(pc.greater_equal(values, low), pc.less_equal(values, high))
        )
    return pa.types.is_string(values.type) and _all(pc.less_equal(pc.binary_length(values), MAX_KEY_BYTES))


def key_array(values: pa.Array | pa.ChunkedArray, column: str) -> pa.Array:
    """A key column of an output in the form the bookkeeping compares; raises `BadKey` for a value
    Cassandra would refuse (null, not a UUID, text over 65,535 bytes, an hour outside `int`)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if _already_keys(values, column):
        return values.cast(KEY_TYPES[column])
    convert = _KEY_CONVERTERS[column]
    converted = []
    for value in values.to_pylist():
        if value is None:
            raise BadKey(column, value, f"column {column} is null (it is part of the key)")
        try:
            converted.append(convert(value, column))
        except ValueError as err:
            raise BadKey(column, value, str(err)) from None
    return pa.array(converted, KEY_TYPES[column])
