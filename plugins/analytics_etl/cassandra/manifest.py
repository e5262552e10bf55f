"""Stale-key bookkeeping: which keys earlier loads of a partition wrote that the new output lacks.

A load of day D must leave exactly the new output's rows in D's partition of each table, so it has to
know every key an earlier load of D may have written, including a load killed half-way. It does so
without a write per key (docs/cassandra.md, "How a day is replaced"):

- `page_view_stats` is partitioned by date: the partition lists its own keys (`PartitionKeys`, one
  paged SELECT).
- `user_engagement` (per day) and `learning_progress` (per ISO week) are partitioned by user: their
  keys of a day cannot be listed, so a manifest holds the key SET of each day / week in table
  `key_manifest`, as a few compressed chunks (`KeyManifest`). Its protocol:

  1. read every chunk of the partition: `old`, the keys any earlier load may have written;
  2. `cover(new)`: before any row is written, append a generation holding `new - old` (nothing when
     the output brings no new key), so the manifest lists `old | new`: a load killed from here on
     left nothing unlisted;
  3. (the rows are upserted, then the keys `old - new` are deleted from the table;)
  4. `settle(new)`: once the stale rows are gone, write `new` as one fresh generation and delete the
     older ones (skipped when the manifest already is exactly `new` in one generation).

  Chunks are never overwritten, only added and then dropped by generation, so at every moment the
  manifest is a superset of the keys the table holds for the partition: a superset only costs a
  delete of a key that is not there, a subset would leave a stale row forever.

Keys are Arrow tables (UUIDs as canonical text) compared with one hash join; a chunk is an Arrow IPC
stream compressed with zstd, of at most `CHUNK_KEYS` keys and `MAX_CHUNK_BYTES` bytes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import pyarrow as pa

from analytics_etl.cassandra.convert import KEY_TYPES

if TYPE_CHECKING:
    from analytics_etl.cassandra.tables import Sink

log = logging.getLogger(__name__)

CHUNK_KEYS = 20_000  # keys per manifest row: about 0.4 MB of compressed UUIDs
MAX_CHUNK_BYTES = 1 << 20  # a chunk over 1 MiB (long subjects) is split in halves
MANIFEST_FETCH_SIZE = 8  # manifest rows per page: pages of a few MB at most
COMPRESSION = "zstd"


# -- key sets -------------------------------------------------------------------------------------------
def key_schema(key_columns: Sequence[str]) -> pa.Schema:
    return pa.schema([(name, KEY_TYPES[name]) for name in key_columns])


def keys_table(key_columns: Sequence[str], keys: Iterable[Sequence[Any]]) -> pa.Table:
    """Keys (tuples, UUIDs as `uuid.UUID` or text) as a compact Arrow table for `stale_keys`."""
    columns: list[list[Any]] = [[] for _ in key_columns]
    for key in keys:
        for values, part in zip(columns, key, strict=True):
            values.append(str(part) if isinstance(part, UUID) else part)
    return pa.table(
        [pa.array(values, KEY_TYPES[name]) for name, values in zip(key_columns, columns, strict=True)],
        schema=key_schema(key_columns),
    )


def distinct(keys: pa.Table) -> pa.Table:
    """Each key once."""
    names = keys.column_names
    return keys.group_by(names, use_threads=False).aggregate([]).select(names)


def union(tables: Sequence[pa.Table], key_columns: Sequence[str]) -> pa.Table:
    """The distinct keys of all `tables`."""
    if not tables:
        return key_schema(key_columns).empty_table()
    return distinct(pa.concat_tables(tables))


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


# -- manifest chunks ------------------------------------------------------------------------------------
def _encode(keys: pa.Table) -> bytes:
    out = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=COMPRESSION)
    with pa.ipc.new_stream(out, keys.schema, options=options) as stream:
        stream.write_table(keys)
    return out.getvalue().to_pybytes()


def encode_chunks(
    keys: pa.Table, *, chunk_keys: int | None = None, max_bytes: int | None = None
) -> list[bytes]:
    """A key set as manifest chunks: sorted, at most `chunk_keys` keys and `max_bytes` bytes each
    (`CHUNK_KEYS`, `MAX_CHUNK_BYTES` by default; a single key larger than that stays alone)."""
    chunk_keys = chunk_keys or CHUNK_KEYS
    max_bytes = max_bytes or MAX_CHUNK_BYTES
    keys = keys.sort_by([(name, "ascending") for name in keys.column_names])
    pending = [keys.slice(start, chunk_keys) for start in range(0, keys.num_rows, chunk_keys)]
    chunks = []
    while pending:
        part = pending.pop(0)
        blob = _encode(part)
        if len(blob) > max_bytes and part.num_rows > 1:
            half = part.num_rows // 2
            pending[:0] = [part.slice(0, half), part.slice(half)]
        else:
            chunks.append(blob)
    return chunks


def decode_chunk(blob: bytes, key_columns: Sequence[str]) -> pa.Table:
    """The keys of one manifest chunk; raises ValueError when it does not hold `key_columns`."""
    keys = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
    if keys.schema != key_schema(key_columns):
        raise ValueError(
            f"a key_manifest chunk holds {keys.schema}, expected the columns {list(key_columns)}"
        )
    return keys


# -- the two kinds of bookkeeping -------------------------------------------------------------------------
class Store(Protocol):
    """What the bookkeeping needs from the writer (`writer.Writer` is the real one)."""

    settings: Any

    def write(self, name: str, params: Sequence[tuple[Any, ...]], **kwargs: Any) -> None: ...

    def read(self, name: str, params: tuple[Any, ...], consume: Any, *, fetch_size: int) -> Any: ...

    def has_table(self, table: str) -> bool: ...


class PartitionKeys:
    """`page_view_stats`: the partition (date = D) lists its own keys, nothing else to keep."""

    def __init__(self, store: Store, sink: Sink, partition: dt.date) -> None:
        self.store, self.sink, self.partition = store, sink, partition

    def read(self) -> pa.Table:
        columns = self.sink.key_columns
        return self.store.read(
            self.sink.select_keys,
            (self.partition,),
            lambda rows: keys_table(columns, rows),
            fetch_size=self.store.settings.batch_size,
        )

    def cover(self, new: pa.Table) -> None:
        """Nothing to do: a row written is listed by being written."""

    def settle(self, new: pa.Table, stale: int) -> None:
        """Nothing to do: a row deleted is unlisted by being deleted."""


class KeyManifest:
    """The key set of one partition (day or week) of a table partitioned by user; see the module doc."""

    SELECT, INSERT, DELETE_OLDER = "key_manifest_select", "key_manifest_insert", "key_manifest_delete_older"

    def __init__(self, store: Store, sink: Sink, partition: dt.date) -> None:
        self.store, self.sink, self.partition = store, sink, partition
        self.generations: set[int] = set()
        self.stored = key_schema(sink.key_columns).empty_table()
        self.legacy = False

    @property
    def _where(self) -> tuple[str, dt.date]:
        return (self.sink.table, self.partition)

    def read(self) -> pa.Table:
        """Every key listed for the partition, by any generation (and by the per-key manifest of the
        sink's earlier versions, while it still exists): the keys earlier loads may have written."""
        columns = self.sink.key_columns

        def decode(rows: Iterable[tuple[int, int, bytes]]) -> list[tuple[int, pa.Table]]:
            return [(generation, decode_chunk(blob, columns)) for generation, _, blob in rows]

        chunks = self.store.read(self.SELECT, self._where, decode, fetch_size=MANIFEST_FETCH_SIZE)
        self.generations = {generation for generation, _ in chunks}
        tables = [keys for _, keys in chunks]
        legacy = self.sink.legacy_manifest
        if legacy and self.store.has_table(legacy):
            self.legacy = True
            tables.append(
                self.store.read(
                    f"legacy_{legacy}_select",
                    (self.partition,),
                    lambda rows: keys_table(columns, rows),
                    fetch_size=self.store.settings.batch_size,
                )
            )
        self.stored = union(tables, columns)
        return self.stored

    def cover(self, new: pa.Table) -> None:
        """Before the rows are written: list the keys of `new` the manifest lacks, in a new generation."""
        missing = stale_keys(new, self.stored)
        if missing.num_rows:
            self._write_generation(missing)
            self.stored = union([self.stored, missing], self.sink.key_columns)

    def settle(self, new: pa.Table, stale: int) -> None:
        """Once the `stale` rows are deleted: the manifest becomes exactly `new`, in one generation."""
        if stale == 0 and len(self.generations) <= 1 and not self.legacy:
            return  # it already lists exactly `new`, in at most one generation
        generation = self._write_generation(new)
        self.store.write(self.DELETE_OLDER, [(*self._where, generation)])
        self.generations = {generation}
        if self.legacy:
            self.store.write(f"legacy_{self.sink.legacy_manifest}_drop", [(self.partition,)])
            self.legacy = False
        self.stored = new

    def _write_generation(self, keys: pa.Table) -> int:
        generation = max(self.generations, default=0) + 1
        chunks = encode_chunks(keys)
        self.store.write(self.INSERT, [(*self._where, generation, n, blob) for n, blob in enumerate(chunks)])
        self.generations.add(generation)
        log.info(
            "key_manifest %s %s: generation %d, %d keys in %d chunks",
            *self._where,
            generation,
            keys.num_rows,
            len(chunks),
        )
        return generation


def bookkeeping(store: Store, sink: Sink, partition: dt.date) -> PartitionKeys | KeyManifest:
    """How the stale keys of `sink`'s partition are found."""
    return (
        PartitionKeys(store, sink, partition)
        if sink.keys_in_partition
        else KeyManifest(store, sink, partition)
    )
