"""The user's rows in Cassandra, and the user's keys in every key manifest.

`page_view_stats` holds no user. `user_engagement` is partitioned by user: one partition delete
removes every day. `learning_progress` is partitioned by (user, subject), and the subjects are
found where the loads list the keys they wrote: the key manifests of every week. Each manifest
that lists the user is then rewritten without the user (a new generation, the older ones dropped,
as a load settles it), so a later load never sees the user's keys as its own to delete or keep.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pyarrow.compute as pc

from analytics_etl.cassandra.load import delete
from analytics_etl.cassandra.manifest import KeyManifest, stale_keys
from analytics_etl.cassandra.tables import SINKS, Sink

log = logging.getLogger(__name__)

BY_USER = {sink.table: sink for sink in SINKS if not sink.keys_in_partition}
PARTITIONS_FETCH_SIZE = 1_000


def _as_date(value: Any) -> dt.date:
    """The driver's `cassandra.util.Date` (or a date) as a `datetime.date`."""
    return value.date() if hasattr(value, "date") and not isinstance(value, dt.date) else value


def manifest_partitions(store: Any) -> list[tuple[Sink, dt.date]]:
    """(sink, day or week) of every key manifest of a table partitioned by user."""
    rows = store.read("key_manifest_partitions", (), list, fetch_size=PARTITIONS_FETCH_SIZE)
    return sorted(
        ((BY_USER[table], _as_date(day)) for table, day in rows if table in BY_USER),
        key=lambda item: (item[0].table, item[1]),
    )


Record = Callable[[dict[str, int]], None]


def erase_from_manifests(store: Any, user_id: str, record: Record | None = None) -> dict[str, int]:
    """Delete the rows the manifests list for the user, then list them no more; rows per table.
    `record` gets each partition's removals once they are made (the erasure's log row)."""
    removed = {table: 0 for table in BY_USER}
    for sink, partition in manifest_partitions(store):
        book = KeyManifest(store, sink, partition)
        keys = book.read()
        mine = keys.filter(pc.equal(keys.column("user_id"), user_id))
        if mine.num_rows == 0:
            continue
        delete(store, sink, partition, mine)
        book.settle(stale_keys(keys, mine), mine.num_rows)
        removed[sink.table] += mine.num_rows
        if record is not None:
            record({f"cassandra.{sink.table}": mine.num_rows})
        log.info(
            "%s %s: %d rows of the user deleted, manifest rewritten", sink.table, partition, mine.num_rows
        )
    return removed


def erase_user(store: Any, user_id: str, record: Record | None = None) -> dict[str, int]:
    """Every Cassandra row of the user; returns the rows the manifests listed, per table."""
    from uuid import UUID

    removed = erase_from_manifests(store, user_id, record)
    # Whatever no manifest listed (none should be): the user's whole engagement partition.
    store.write("user_engagement_delete_user", [(UUID(user_id),)], label="user_engagement_deleted")
    return {f"cassandra.{table}": rows for table, rows in removed.items()}


def erase_user_in_cluster(conn_id: str, user_id: str, record: Record | None = None) -> dict[str, int]:
    """`erase_user` with the sink's connection, settings and retries (analytics_etl.cassandra)."""
    from analytics_etl.cassandra.load import connected

    with connected(conn_id) as writer:
        return erase_user(writer, user_id, record)
