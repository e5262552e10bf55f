"""Reading the run's curated Parquet outputs, in bounded batches, as Spark wrote them."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from analytics_etl.cassandra.manifest import distinct, key_schema
from analytics_etl.cassandra.tables import SINKS, Sink
from analytics_etl.storage import parquet_dataset

if TYPE_CHECKING:
    from analytics_etl.paths import RunPaths

log = logging.getLogger(__name__)


def iter_batches(directory: Path, columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
    """The rows of a Parquet directory (as Spark writes it) in record batches of at most `batch_size` rows.

    Only a few batches are held at a time (no read-ahead beyond one fragment); files starting with
    `_` or `.` (`_SUCCESS`, checksums) are ignored.
    """
    if not directory.is_dir():
        raise FileNotFoundError(f"Parquet output directory {directory} does not exist")
    dataset = parquet_dataset(directory)
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


def output_keys(sink: Sink, directory: Path, batch_size: int) -> pa.Table:
    """The distinct keys of an output (only its key columns are read), as the bookkeeping compares
    them; a key Cassandra would refuse raises `SinkRefusedRow` before anything is written."""
    parts = [sink.keys_of(batch) for batch in iter_batches(directory, sink.key_columns, batch_size)]
    if not parts:
        return key_schema(sink.key_columns).empty_table()
    return distinct(pa.concat_tables(parts))


def count_output_rows(paths: RunPaths) -> dict[str, int]:
    """Rows of each of the run's Cassandra outputs, from the Parquet footers (nothing is read).

    What a load would write: logged and recorded when the load is skipped for want of a connection.
    """
    counts = {}
    for sink in SINKS:
        directory = paths.output(sink.table)
        if not directory.is_dir():
            raise FileNotFoundError(f"output {sink.table} of the run is missing: {directory}")
        counts[sink.table] = parquet_dataset(directory).count_rows()
    return counts
