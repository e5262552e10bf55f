"""The physical lines of a text file (plain or gzip) as Arrow batches of (line_number, line).

Lines end at `\n`; a `\r` right before it is dropped with it (`\r\n`). Numbers are 1-based physical
positions, so a blank line still takes its number. A UTF-8 byte-order mark at the start of the file is
dropped. Bytes that are not UTF-8 are replaced with U+FFFD, as Spark's text reader does. The file is
read in blocks: memory is bounded by the block size, not by the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

SCHEMA = pa.schema([("line_number", pa.int64()), ("line", pa.string())])
BOM = b"\xef\xbb\xbf"
BLOCK_BYTES = 32 << 20


def _batch(body: bytes, first: int) -> pa.RecordBatch:
    """`body` holds whole lines, each ending with `\n`."""
    raw = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(raw == 10)
    has_cr = (newlines > 0) & (raw[np.maximum(newlines - 1, 0)] == 13)
    ends = newlines - has_cr  # exclusive end of each line's content
    dropped = np.union1d(newlines, newlines[has_cr] - 1) if has_cr.any() else newlines
    keep = np.ones(len(raw), dtype=bool)
    keep[dropped] = False
    data = raw[keep]
    offsets = np.concatenate(([0], ends - np.searchsorted(dropped, ends))).astype(np.int32)
    lines = pa.StringArray.from_buffers(len(newlines), pa.py_buffer(offsets), pa.py_buffer(data.tobytes()))
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:  # not UTF-8: the slow path, line by line
        texts = [
            bytes(data[offsets[i] : offsets[i + 1]]).decode("utf-8", "replace") for i in range(len(newlines))
        ]
        lines = pa.array(texts, pa.string())
    numbers = pa.array(np.arange(first, first + len(newlines), dtype=np.int64))
    return pa.RecordBatch.from_arrays([numbers, lines], schema=SCHEMA)


def line_batches(path: str | Path, block_bytes: int = BLOCK_BYTES) -> Iterator[pa.RecordBatch]:
    path = Path(path)
    compression = "gzip" if path.name.endswith(".gz") else None
    first, carry, start = 1, b"", True
    with pa.input_stream(str(path), compression=compression) as stream:
        while block := stream.read(block_bytes):
            data = carry + block
            if start:
                if len(data) < len(BOM) and BOM.startswith(data):
                    carry = data
                    continue
                data, start = data.removeprefix(BOM), False
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1 :]
            batch = _batch(data[: cut + 1], first)
            first += batch.num_rows
            yield batch
    if start:
        carry = carry.removeprefix(BOM)
    if carry:
        yield _batch(carry + b"\n", first)


def reader(path: str | Path, block_bytes: int = BLOCK_BYTES) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(SCHEMA, line_batches(path, block_bytes))
