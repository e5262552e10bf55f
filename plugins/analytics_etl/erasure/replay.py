"""A run of `daily_analytics_etl` after an erasure: the erased users stay erased.

The producers' drops are not the platform's, so a rerun of an older day reads an erased user's
events again; they would be kept (events of users unknown to the source are kept, as `orphan_user`).
Before the gate, the run's own files lose the events of every user in `erasure_log` that the
source no longer holds: the kept events, `user_engagement` and the quarantine of the day. A user
the source still holds is the application's to delete first, and comes back (contract section 6).
`page_view_stats` counts pages, not users, and keeps the views.
"""

from __future__ import annotations

from typing import Any

from analytics_etl import objects
from analytics_etl.erasure.files import rewrite_lines, rewrite_parquet
from analytics_etl.paths import RunPaths
from analytics_etl.publish import refresh_pointer
from analytics_etl.sql import read_sql


def erased_users(conn: Any) -> set[str]:
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("erasure/erased_users.sql"))
        return {user_id for (user_id,) in cur.fetchall()}


def still_in_source(paths: RunPaths, user_ids: set[str]) -> set[str]:
    """Those of `user_ids` the run's extract of source `users` holds."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = pa.BufferReader(paths.users.read_bytes()) if objects.on_store(paths.users) else paths.users
    ids = pc.utf8_lower(pq.read_table(source, columns=["id"]).column("id").cast("string"))
    present = pc.filter(ids, pc.is_in(ids, value_set=pa.array(sorted(user_ids), pa.string())))
    return set(present.to_pylist())


def keep_erased_users_out(paths: RunPaths, conn: Any) -> dict[str, int]:
    """Rows removed from the run's files, per kind; nothing to do (and nothing read) without erasures."""
    erased = erased_users(conn)
    if not erased:
        return {}
    gone = erased - still_in_source(paths, erased)
    if not gone:
        return {}
    removed: dict[str, int] = {}
    folders = {"events": paths.events, "user_engagement": paths.output("user_engagement")}
    for kind, folder in folders.items():
        for part in _parts(folder, ".parquet"):
            removed[kind] = removed.get(kind, 0) + rewrite_parquet(part, gone)
    # On a store the run's rejects are its own prefix of the date's quarantine (docs/decisions.md).
    quarantine = paths.quarantine_out
    for part in _parts(quarantine, ".json"):
        removed["quarantine"] = removed.get("quarantine", 0) + rewrite_lines(part, gone)
    if removed.get("quarantine") and objects.on_store(quarantine):
        refresh_pointer(paths.quarantine)  # when this run has published already
    return {kind: n for kind, n in removed.items() if n}


def _parts(folder: Any, suffix: str) -> list[Any]:
    """The files of `folder` itself (not below) named `*<suffix>`, in name order; locally or on a store."""
    if not objects.on_store(folder):
        return sorted(folder.glob(f"*{suffix}"))
    names = [rel for rel in objects.files(folder) if "/" not in rel and rel.endswith(suffix)]
    return [folder / name for name in sorted(names)]
