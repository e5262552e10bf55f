"""The writer lock and the data docs lock (run_lock.py) on a real PostgreSQL, across real processes:
a writer in another process makes the erasure wait and then fail naming the run and the holder; a
writer killed with SIGKILL holds nothing; object-store and local runs are locked alike."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from analytics_etl.run_lock import RunBusy, no_writer, site_lock, writing

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent(
    """
    import sys, time
    from analytics_etl.run_lock import {function}
    with {function}(sys.argv[1]):
        print("held", flush=True)
        time.sleep(600)
    """
)


def spawn(function: str, where: str) -> subprocess.Popen:
    """A child process that takes `function(where)` (a real writer: its own process and session)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'plugins'}:{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(function=function), where],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def holding(child: subprocess.Popen) -> subprocess.Popen:
    """`child` once it says it holds its lock."""
    line = child.stdout.readline()
    if line.strip() != "held":
        child.kill()
        raise AssertionError(f"the holder did not take the lock: {line!r} {child.stderr.read()}")
    return child


def kill_9(child: subprocess.Popen) -> None:
    """SIGKILL to the child by its pid (no cleanup of any kind runs in it)."""
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, child.stderr.read()


def test_a_writer_in_another_process_blocks_the_erasure_until_it_is_killed(analytics_conn):
    staging = "s3://etl/data/staging/date=2024-01-15/run=manual_1"
    other = staging.replace("run=manual_1", "run=manual_2")
    holder = holding(spawn("writing", staging))
    try:
        with no_writer([other], timeout=0):  # another run of the date is free
            pass
        started = time.monotonic()
        with pytest.raises(RunBusy) as busy, no_writer([other, staging], timeout=1.0, poll=0.1):
            pytest.fail("the erasure went on while a job wrote the run")
        assert 1.0 <= time.monotonic() - started < 10
        message = str(busy.value)
        shown = staging.replace("s3://", "s3a://")
        assert (
            shown in message
            and f"writer {os.uname().nodename}:{holder.pid}," in message
            and "ShareLock" in message
        ), message
        with no_writer([other], timeout=0):  # what it held before failing was given back
            pass
    finally:
        kill_9(holder)
    started = time.monotonic()
    with no_writer([staging, other], timeout=10, poll=0.1):  # the session died with its process
        pass
    assert time.monotonic() - started < 5


def test_writers_share_a_run_and_the_site_lock_is_exclusive_across_processes(analytics_conn, tmp_path):
    staging = "s3://etl/data/staging/date=2024-01-16/run=manual_1"
    writer, rebuilding = spawn("writing", staging), spawn("site_lock", str(tmp_path / "data_docs"))
    try:
        holding(writer)
        with writing(staging):  # a second writer of the same run (the gate beside the Spark job)
            pass
        holding(rebuilding)  # a rebuild of the data docs site in another process
        entered = threading.Event()

        def rebuild() -> None:
            with site_lock(tmp_path / "data_docs"):
                entered.set()

        rebuilder = threading.Thread(target=rebuild, daemon=True)
        rebuilder.start()
        assert not entered.wait(1.5), "two rebuilds of the data docs site at once"
    finally:
        kill_9(writer)
        kill_9(rebuilding)
    assert entered.wait(10), "the site lock of a killed process was not released"
    rebuilder.join(10)


def test_a_run_being_written_is_waited_for_never_skipped(analytics_conn, tmp_path):
    """The erasure waits for a writer that ends within its timeout (the unit suite's old flock test)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from analytics_etl.erasure.files import erase_files

    user = "7b0a2d2e-4a4f-4b43-9f4c-2d8e8b6b7c11"
    data_dir = tmp_path / "data"
    staging = data_dir / "staging" / "date=2024-01-15" / "run=manual_1"
    (staging / "events").mkdir(parents=True)
    pq.write_table(
        pa.table({"user_id": [user, user, user, "someone-else"]}), staging / "events" / "part-0.parquet"
    )
    with writing(staging), pytest.raises(RunBusy, match=str(staging)):
        erase_files(data_dir, user, lock_timeout=0.3)
    assert pq.read_table(staging / "events" / "part-0.parquet").num_rows == 4  # nothing of it touched

    held = threading.Event()

    def job() -> None:
        with writing(staging):
            held.set()
            time.sleep(1.0)

    writer = threading.Thread(target=job)
    writer.start()
    held.wait()
    started = time.monotonic()
    done = erase_files(data_dir, user, lock_timeout=30)
    writer.join()
    assert time.monotonic() - started >= 0.5  # it waited for the job
    assert done.rows_removed["staging"] == 3
    assert pq.read_table(staging / "events" / "part-0.parquet").column("user_id").to_pylist() == [
        "someone-else"
    ]


def test_a_lock_session_asks_the_server_to_notice_a_dead_host_within_a_minute(analytics_conn):
    from analytics_etl.run_lock import _connect

    conn = _connect("writer")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'),"
                        " current_setting('tcp_keepalives_count'), application_name FROM pg_stat_activity"
                        " WHERE pid = pg_backend_pid()")  # fmt: skip
            idle, interval, count, name = cur.fetchone()
    finally:
        conn.close()
    assert (idle, interval, count) == ("30", "10", "3")
    assert name == f"analytics_etl writer {os.uname().nodename}:{os.getpid()}"[:63]
