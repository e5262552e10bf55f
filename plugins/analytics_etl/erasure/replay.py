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

from analytics_etl.erasure.files import rewrite_lines, rewrite_parquet
from analytics_etl.paths import RunPaths
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

    ids = pc.utf8_lower(pq.read_table(paths.users, columns=["id"]).column("id").cast("string"))
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
        for part in sorted(folder.glob("*.parquet")):
            removed[kind] = removed.get(kind, 0) + rewrite_parquet(part, gone)
    for part in sorted(paths.quarantine.glob("*.json")):
        removed["quarantine"] = removed.get("quarantine", 0) + rewrite_lines(part, gone)
    return {kind: n for kind, n in removed.items() if n}
