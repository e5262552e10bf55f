"""Small helpers to write event drop files in every format the ingest reads."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

U1 = "aaaaaaaa-0000-4000-8000-000000000001"
U2 = "bbbbbbbb-0000-4000-8000-000000000002"
U9 = "99999999-0000-4000-8000-000000000009"  # in no users table: an orphan
HEADER = "event_id,event_type,user_id,timestamp,page,duration_ms,device"
_UNSET: Any = object()


def event(
    event_id: str | None,
    event_type: str | None = "page_view",
    user_id: str | None = U1,
    timestamp: str | None = "2024-01-15T10:00:00Z",
    page: Any = "/home",
    duration_ms: Any = 1000,
    device: Any = "desktop",
    properties: Any = _UNSET,
) -> dict:
    """A JSON event; a None top-level value is left out, `properties=None` leaves properties out."""
    doc = {"event_id": event_id, "event_type": event_type, "user_id": user_id, "timestamp": timestamp}
    doc = {k: v for k, v in doc.items() if v is not None}
    if properties is _UNSET:
        properties = {"page": page, "duration_ms": duration_ms, "device": device}
        properties = {k: v for k, v in properties.items() if v is not None}
    if properties is not None:
        doc["properties"] = properties
    return doc


def write_lines(path: Path, lines: list[str | dict], gz: bool = False) -> Path:
    """One line per item: a dict as JSON, a str as is."""
    text = "".join((json.dumps(x, ensure_ascii=False) if isinstance(x, dict) else x) + "\n" for x in lines)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_parquet(path: Path, columns: dict[str, pa.Array | list]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


STRUCT_PROPS = pa.struct([("page", pa.string()), ("duration_ms", pa.int64()), ("device", pa.string())])
MAP_PROPS = pa.map_(pa.string(), pa.string())
UTC_MICROS = pa.timestamp("us", tz="UTC")
LOCAL_MICROS = pa.timestamp("us")
