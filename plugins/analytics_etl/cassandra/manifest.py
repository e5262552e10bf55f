"""Stale-key bookkeeping: which keys an earlier load of a partition wrote that the new output lacks.

Keys are held as compact Arrow tables (UUIDs as their canonical string) and compared with one hash
join, so the comparison costs memory proportional to the keys, not Python objects per key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

import pyarrow as pa


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
