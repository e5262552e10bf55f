"""A run's writer lock, and the data docs site's lock: PostgreSQL advisory locks on `analytics_postgres`.

Every task that writes into a run's files (the extract, the Spark job, the replay of erasures, the
gate) holds a shared lock on the run while it writes (`writing`); an erasure takes it exclusively
before it touches any file of that run or of its date's quarantine (`no_writer`). The lock is the
session's: PostgreSQL drops it when the session ends, and the session ends with its process (the
server sees the socket close, a kill -9 included), so a killed run never holds it: its leftovers are
the erasure's to clean, while a live writer is waited for, and a wait that does not end fails the
erasure naming the run and who holds it (it never skips it silently).

A lock is keyed by a stable 64-bit hash of the run's staging location as text (`s3a://bucket/key`
on an object store, the absolute path on a local disk), so the same lock works whatever the root:
an object store has no `flock`, and a shared POSIX mount needs a working one. Docs/decisions.md,
"The writer lock and the data docs lock: PostgreSQL advisory locks", says why.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from analytics_etl.sql import read_sql

RUN_NAMESPACE = "analytics_etl.run_writer"
SITE_NAMESPACE = "analytics_etl.data_docs_site"


class RunBusy(RuntimeError):
    """A run's files stayed locked by a live writer for longer than the erasure may wait."""


def location(path: Any) -> str:
    """A path as the text its lock is keyed by: `s3a://bucket/key` on a store (an `ObjectStoragePath`,
    its text `s3://<conn id>@bucket/key`, an `s3://` or `s3a://` URL alike), absolute locally."""
    from analytics_etl.storage import on_store, spark_url

    if not on_store(path):
        return os.path.abspath(str(path))
    if isinstance(path, str) and "@" in path.split("/", 3)[2]:  # str() of an ObjectStoragePath
        scheme, _, rest = path.partition("://")
        path = f"{scheme}://{rest.partition('@')[2]}"
    return spark_url(path)


def lock_key(namespace: str, path: Any) -> int:
    """The signed 64-bit advisory lock key of `path` in `namespace`, the same in every process."""
    digest = hashlib.blake2b(f"{namespace}:{location(path)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _connect(role: str) -> Any:
    """A session of its own (autocommit: a session-level lock outlives no transaction of ours)."""
    from analytics_etl import settings
    from analytics_etl.db import connect

    # Named in pg_stat_activity, so that RunBusy can say which host and process hold a run.
    name = f"analytics_etl {role} {socket.gethostname()}:{os.getpid()}"[:63]
    conn = connect(settings.ANALYTICS_CONN_ID, application_name=name)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(read_sql("locks/session.sql"))
    return conn


def _run(conn: Any, statement: str, **params: Any) -> Any:
    with conn.cursor() as cur:
        cur.execute(read_sql(f"locks/{statement}.sql"), params)
        return cur.fetchall()


def holders(conn: Any, key: int) -> list[str]:
    """Who else holds the advisory lock `key`: 'pid N (application name, mode)' each."""
    rows = _run(conn, "holders", high=(key >> 32) & 0xFFFFFFFF, low=key & 0xFFFFFFFF)
    return [f"backend pid {pid} ({name or 'no application name'}, {mode})" for pid, name, mode in rows]


@contextmanager
def _held(namespace: str, folder: Any, role: str, statement: str) -> Iterator[None]:
    """The lock of `folder` in `namespace`, waited for, held until the block ends. A local folder is
    created first, as it always was (the tasks write into it next)."""
    from analytics_etl.storage import on_store

    if not on_store(folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
    key = lock_key(namespace, folder)
    conn = _connect(role)
    try:
        _run(conn, statement, key=key)
        yield
    finally:
        conn.close()  # ends the session, which releases its locks (no unlock that could fail the task)


def writing(staging: Any) -> Any:
    """Held (shared) by a task while it writes the files of the run whose staging location is `staging`."""
    return _held(RUN_NAMESPACE, staging, "writer", "lock_shared")


@contextmanager
def no_writer(stagings: Sequence[Any], timeout: float, poll: float = 0.5) -> Iterator[None]:
    """Every run of `stagings` held exclusively: no job writes them until the block ends.

    Raises RunBusy, naming the run and its holders, when a writer keeps one beyond `timeout` seconds.
    Runs are taken in the order of their location, so two erasures never wait on each other in a
    cycle; writers hold one run each."""
    deadline = time.monotonic() + timeout
    ordered = sorted({location(s): s for s in stagings}.items())
    if not ordered:
        yield
        return
    conn = _connect("erasure")
    try:
        for text, staging in ordered:
            key = lock_key(RUN_NAMESPACE, staging)
            while not _run(conn, "try_lock", key=key)[0][0]:
                if time.monotonic() > deadline:
                    who = "; ".join(holders(conn, key)) or "a writer that has just ended"
                    raise RunBusy(
                        f"a job is still writing {text} after {timeout:.0f} s (its writer lock is held "
                        f"by {who}): the erasure did not touch that run"
                    )
                time.sleep(poll)
        yield
    finally:
        conn.close()


def site_lock(site_dir: Any) -> Any:
    """Serialise the rebuilds of the shared data docs site (its index and static files) across processes
    and hosts; waits as long as a rebuild takes."""
    return _held(SITE_NAMESPACE, site_dir, "data docs", "lock")
