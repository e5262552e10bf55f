"""The fault suite (issue 9): real signals to real processes, real PostgreSQL restarts, no mocks.

Contract section 5: "A run killed at any point and then run again ends as if it had never been
interrupted", "runs of different dates can run at the same time without touching each other", and a
reader of `daily_user_stats` sees the old or the new rows of D, never a mix or none.

Every run is a real `airflow dags test daily_analytics_etl` in its own session (process group); it
runs every task inside that one process, spark-submit and its JVM as children. A kill is SIGKILL to
the whole group, then to anything of the run that left the group (found by its command line holding
the run's paths), and the test checks nothing of the killed run is still alive. A kill lands *inside*
a task: where a task is too quick to catch by timing, the test holds a PostgreSQL lock the task is
about to need, checks in `pg_stat_activity` that the task is blocked on it in the middle of its work,
and kills it there. The runs that follow are compared with one uninterrupted run of the same day.

Retries: the platform retries a transient failure after 5 minutes (DEFAULT_ARGS). Where a fault makes
a task fail transiently, the test checks Airflow set it up for retry, then kills the waiting run and
runs the date again instead of waiting (what an operator clearing the run would do).

docs/lifecycle.md, "Faults", has what each fault did and the measured recovery times.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pyarrow.dataset as pads
import pytest

from analytics_etl.paths import OUTPUT_TABLES, RunPaths, run_key
from tests.integration import dataset as ds
from tests.integration.conftest import PG_DATA, REPO, Deployment, PostgresServer, airflow_env
from tests.integration.stack_client import generate
from tests.integration.tcp_proxy import HttpHoldProxy
from tests.integration.test_dag_end_to_end import (
    CASSANDRA_COLUMNS,
    CASSANDRA_WRITTEN,
    EXPECTED_CASSANDRA,
    EXPECTED_QUARANTINE,
    StoreRoot,
    assert_exact_outputs,
    assert_quarantine_published,
    cassandra_contents,
    daily_user_stats,
    put_store_drop,
    runs,
    store_quarantine,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

DATE = ds.D.isoformat()
# A second day two weeks later: no progress row of either week falls into the other's week.
SHIFT = dt.timedelta(days=14)
D2 = ds.D + SHIFT
DATE2 = D2.isoformat()
RUN_TIMEOUT = 900
# Old rows of D in daily_user_stats before a load is interrupted: a reader must see these or the new
# ones, never a mix. Users that the new rows do not have, so a leftover would show.
OLD_ROWS = [
    ("55555555-5555-4555-8555-555555555555", "Old One", "old1@example.com", 7, 1, None, 1),
    ("66666666-6666-4666-8666-666666666666", "Old Two", "old2@example.com", 3, 1, None, 2),
]
TIMINGS: dict[str, float] = {}


def timed(name: str, seconds: float) -> None:
    """Recovery times, printed at the end of the module (docs/lifecycle.md quotes them)."""
    TIMINGS[name] = round(seconds, 1)
    print(f"[faults] {name}: {seconds:.1f} s")


# -- processes -------------------------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), fields[0], cmdline)
    return found


def _descendants(root: int, table: dict[int, tuple[int, str, str]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> dict[int, str]:
    """The pids of `pids` still running (a zombie is dead), with their command lines."""
    table = _processes()
    return {pid: table[pid][2] for pid in pids if pid in table and table[pid][1] != "Z"}


def _mentioning(text: str) -> set[int]:
    """Processes whose command line holds `text` (a run's private directory)."""
    return {pid for pid, (_, state, cmd) in _processes().items() if text in cmd and state != "Z"}


def _jvms(pids: set[int]) -> set[int]:
    return {pid for pid, cmd in _alive(pids).items() if "org.apache.spark.deploy.SparkSubmit" in cmd}


@dataclass
class BackgroundRun:
    """`airflow dags test` of one date, in its own session, its output in a file read as it grows."""

    deployment: Deployment
    day: str
    log_path: Path
    proc: subprocess.Popen = field(init=False)
    text: str = ""
    seen: set[int] = field(default_factory=set)  # every descendant process ever seen

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        with open(self.log_path, "wb") as sink:
            self.proc = subprocess.Popen(
                ["airflow", "dags", "test", "daily_analytics_etl", "--conf", json.dumps({"date": self.day})],
                env=self.deployment.env(),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._reader = open(self.log_path, encoding="utf-8", errors="replace")

    def output(self) -> str:
        self.text += self._reader.read()
        return self.text

    def track(self) -> None:
        if self.proc.poll() is None:
            self.seen |= _descendants(self.proc.pid, _processes())

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = RUN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.track()
            if ready():
                return
            if self.proc.poll() is not None:
                pytest.fail(f"the run ended ({self.proc.returncode}) before {what}:\n{self.output()[-6000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {timeout} s:\n{self.output()[-6000:]}")
            time.sleep(0.02)

    def wait_for_text(self, text: str, timeout: float = RUN_TIMEOUT) -> None:
        self.wait_until(lambda: text in self.output(), repr(text), timeout)

    def finish(self, timeout: float = RUN_TIMEOUT) -> int:
        code = self.proc.wait(timeout=timeout)
        self.output()
        self._reader.close()
        return code

    def kill(self) -> dict[int, str]:
        """SIGKILL the run's process group, then whatever of the run escaped it; returns the escapees.

        Fails the test if anything of the run is still alive afterwards."""
        self.track()
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        # The run's own root: a local folder, or a store root's unique prefix (Spark's command line
        # names it as s3a://bucket/prefix/...).
        own_files = getattr(self.deployment.data_dir, "prefix", None) or str(self.deployment.data_dir.parent)
        time.sleep(1)  # what the group kill reached is on its way out
        escaped = _alive(self.seen | _mentioning(own_files))
        for pid in escaped:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        while (left := _alive(self.seen | _mentioning(own_files))) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"processes of the killed run still alive: {left}"
        self.output()
        self._reader.close()
        return escaped


# -- deployments and what they hold ----------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow home of this module's own: killed runs leave DAG runs 'running' in its metadata
    database, and the parallel runs write to it at once; no other module sees either."""
    home = tmp_path_factory.mktemp("fault_airflow_home")
    subprocess.run(["airflow", "db", "migrate"], env=airflow_env(home), check=True, capture_output=True)
    return home


def new_deployment(postgres: PostgresServer, home: Path, base: Path, days=(ds.D,)) -> Deployment:
    """A deployment (fresh databases, its own directories) holding the hand-made day in `days`
    (D, or the same day shifted by SHIFT), drops complete."""
    source_db = postgres.fresh_database("source")
    conn = postgres.connect(source_db)
    with conn, conn.cursor() as cur:
        cur.execute((REPO / "sql" / "demo" / "source_schema.sql").read_text())
    progress = [
        (u, s, d + (day - ds.D), m, sc) for day in days for u, s, d, m, sc in ds.PROGRESS
    ]  # fmt: skip
    ds.load_source(conn, progress)
    conn.close()
    deployment = Deployment(
        postgres=postgres,
        home=home,
        source_db=source_db,
        analytics_db=postgres.fresh_database("analytics"),
        data_dir=base / "data",
        drop_dir=base / "drops",
        variables={
            "etl_drop_poke_seconds": "1",
            "etl_drop_timeout_seconds": "60",
            "etl_max_reject_ratio": "0.5",  # the hand-made drop rejects 7 of 16 rows on purpose
        },
    )
    for day in days:
        write_drop(deployment.drop_dir, day)
    return deployment


def _shift_text(text: str, delta: dt.timedelta) -> str:
    """The hand-made drop's days (D and D+1) moved by `delta`."""
    for day in (ds.D, ds.D + dt.timedelta(days=1)):
        text = text.replace(day.isoformat(), (day + delta).isoformat())
    return text


def write_drop(drop_dir: Path, day: dt.date) -> None:
    folder = ds.write_drop(drop_dir, day)
    if day != ds.D:
        for name in ("a.jsonl", "b.csv"):
            path = folder / name
            path.write_text(_shift_text(path.read_text(encoding="utf-8"), day - ds.D), encoding="utf-8")


def _unshift(value, delta: dt.timedelta):
    """A value of the shifted day's outputs brought back to D's (dates and texts)."""
    if isinstance(value, dt.date):
        return value - delta
    if isinstance(value, str):
        for day in (ds.D, ds.D + dt.timedelta(days=1)):
            value = value.replace((day + delta).isoformat(), day.isoformat())
    return value


def _rows(directory: Path) -> list[tuple]:
    table = pads.dataset(str(directory), format="parquet").to_table().to_pylist()
    return sorted(
        (tuple((k, round(v, 9) if isinstance(v, float) else v) for k, v in sorted(r.items())) for r in table),
        key=repr,
    )


def _quarantine(deployment: Deployment, day: str) -> tuple[list, list[str]]:
    folder = deployment.data_dir / "quarantine" / "user_events" / f"date={day}"
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    rows = [json.loads(line) for f in folder.glob("*.json") for line in f.read_text().splitlines()]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True)), names


RUN_SPECIFIC = {"run_id", "started_at", "ended_at", "validation_result", "data_docs"}


def state_of(deployment: Deployment, day: str = DATE, shift: dt.timedelta = dt.timedelta(0)) -> dict:
    """Everything the latest run of `day` leaves, with what names the run taken out (and, for a
    shifted day, its dates brought back to D's): what must equal an uninterrupted run's."""
    records = [r for r in runs(deployment) if r["date"].isoformat() == day]
    final = records[-1]
    paths = RunPaths.build(
        deployment.data_dir, deployment.drop_dir, dt.date.fromisoformat(day), final["run_id"]
    )
    assert paths.key in final["validation_result"] and Path(final["validation_result"]).exists()
    quarantine, names = _quarantine(deployment, day)
    assert all(n == "_SUCCESS" or n.startswith(("part-", ".part-", "._SUCCESS")) for n in names), names

    def back(value):
        return _unshift(value, shift) if shift else value

    conn = deployment.analytics()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM daily_user_stats WHERE date = %s ORDER BY user_id", (day,))
        stats = [tuple(back(v) for v in row) for row in cur.fetchall()]
    conn.close()
    return {
        "daily_user_stats": stats,
        "curated": {
            t: [tuple((k, back(v)) for k, v in row) for row in _rows(paths.output(t))] for t in OUTPUT_TABLES
        },
        "quarantine": json.loads(back(json.dumps(quarantine))),
        "ingest_report": json.loads(back(paths.ingest_report.read_text())),
        "etl_runs": {k: back(v) for k, v in final.items() if k not in RUN_SPECIFIC},
        "run_id": final["run_id"],
    }


def assert_same_as(reference: dict, got: dict) -> None:
    for key in ("daily_user_stats", "curated", "quarantine", "ingest_report", "etl_runs"):
        assert got[key] == reference[key], f"{key} differs from the uninterrupted run's"


@pytest.fixture(scope="module")
def reference(postgres, fault_home, tmp_path_factory) -> dict:
    """One uninterrupted run of D: what every interrupted-then-rerun D must end as."""
    deployment = new_deployment(postgres, fault_home, tmp_path_factory.mktemp("reference"))
    started = time.monotonic()
    result = deployment.trigger({"date": DATE})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    timed("uninterrupted run", time.monotonic() - started)
    assert_exact_outputs(deployment)
    state = state_of(deployment)
    assert state["etl_runs"]["status"] == "success"
    return state


# -- databases ---------------------------------------------------------------------------------------


def task_states(deployment: Deployment, run_id: str) -> dict[str, str]:
    """Airflow's view of a run's tasks (the module's SQLite metadata database)."""
    for _ in range(50):
        try:
            db = sqlite3.connect(deployment.home / "airflow.db", timeout=10)
            try:
                rows = db.execute(
                    "SELECT task_id, state FROM task_instance WHERE dag_id = 'daily_analytics_etl'"
                    " AND run_id = ?",
                    (run_id,),
                ).fetchall()
            finally:
                db.close()
            return dict(rows)
        except sqlite3.OperationalError:  # locked by a writing run
            time.sleep(0.2)
    raise AssertionError("the Airflow metadata database stayed locked")


def assert_up_for_retry(run: BackgroundRun, deployment: Deployment, run_id: str, task_id: str) -> None:
    """Wait for Airflow's verdict on a task a transient fault failed: up for retry, not failed."""
    run.wait_until(
        lambda: task_states(deployment, run_id).get(task_id) in ("up_for_retry", "failed"),
        f"Airflow's verdict on {task_id}",
        timeout=300,
    )
    assert task_states(deployment, run_id)[task_id] == "up_for_retry"


def blocked_backends(deployment: Deployment, dbname: str, query_part: str) -> list[str]:
    """Queries of `dbname` waiting for a lock whose text holds `query_part`."""
    conn = deployment.postgres.connect()
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
            " AND query LIKE %s",
            (dbname, f"%{query_part}%"),
        )
        found = [r[0] for r in cur.fetchall()]
    conn.close()
    return found


def other_backends(deployment: Deployment) -> list[tuple]:
    """Backends of the deployment's databases other than the asking one."""
    conn = deployment.postgres.connect()
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT pid, datname, state, query FROM pg_stat_activity WHERE datname IN (%s, %s)"
            " AND pid <> pg_backend_pid()",
            (deployment.source_db, deployment.analytics_db),
        )
        found = cur.fetchall()
    conn.close()
    return found


def wait_no_backends(deployment: Deployment, timeout: float = 30) -> None:
    """The killed run's PostgreSQL sessions are gone (its open transaction rolled back)."""
    deadline = time.monotonic() + timeout
    while (left := other_backends(deployment)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"sessions of the killed run still open: {left}"


@contextmanager
def holding(deployment: Deployment, dbname: str, statement: str, params=()) -> Iterator[None]:
    """A lock taken by `statement` in an open transaction of the test's own, released at the end."""
    conn = deployment.postgres.connect(dbname)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
        yield
    finally:
        try:
            conn.rollback()
            conn.close()
        except psycopg2.Error:  # the server was restarted under it
            pass


def migrated(deployment: Deployment) -> None:
    """The analytics schema in place, as after an earlier run (the tables a kill locks exist)."""
    from analytics_etl.load_postgres import migrate

    conn = deployment.analytics()
    migrate(conn)
    conn.close()


def seed_old_rows(deployment: Deployment) -> None:
    """The analytics schema, and D already holding OLD_ROWS (as after an earlier load)."""
    migrated(deployment)
    conn = deployment.analytics()
    with conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO daily_user_stats (date, user_id, name, email, total_time, lessons_completed,"
            " average_score, daily_rank) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(DATE, *row) for row in OLD_ROWS],
        )
    conn.close()


def running_record(deployment: Deployment) -> dict:
    """The etl_runs record of the run in flight (once start_run_record has written it)."""
    records = [r for r in _runs_or_none(deployment) if r["status"] == "running"]
    return records[-1] if records else {}


def _runs_or_none(deployment: Deployment) -> list[dict]:
    try:
        return runs(deployment)
    except psycopg2.errors.UndefinedTable:
        return []


def _scratch_exists(deployment: Deployment) -> bool:
    return any((deployment.data_dir / "staging" / f"date={DATE}").glob("run=*/ingest_scratch"))


# -- 1. kill -9 in the middle of each task, then run the date again -------------------------------


def kill_when_blocked(
    dep: Deployment, log: Path, dbname: str, lock: str, query_part: str, what: str
) -> BackgroundRun:
    """Hold `lock` in a transaction of the test's own, start the run, and kill it once one of its
    queries holding `query_part` waits for that lock: in the middle of the task that runs it."""
    with holding(dep, dbname, lock):
        run = BackgroundRun(dep, DATE, log)
        run.wait_until(lambda: blocked_backends(dep, dbname, query_part), what)
        run.kill()
    return run


def kill_in_extract_source(dep: Deployment, log: Path) -> tuple[BackgroundRun, str]:
    # `progress` locked: the extract writes users, then blocks in the week's progress query.
    lock = "LOCK TABLE progress IN ACCESS EXCLUSIVE MODE"
    run = kill_when_blocked(dep, log, dep.source_db, lock, "progress", "the extract of progress")
    return run, "extract_source"


def kill_in_daily_outputs(dep: Deployment, log: Path) -> tuple[BackgroundRun, str]:
    run = BackgroundRun(dep, DATE, log)
    run.wait_until(lambda: _scratch_exists(dep) and _jvms(run.seen), "the Spark ingest at work")
    escaped = run.kill()
    print(f"[faults] outside the killed group: {escaped or 'nothing'}")
    return run, "daily_outputs"


def kill_spark_child_of_daily_outputs(dep: Deployment, log: Path) -> tuple[BackgroundRun, str]:
    """Only spark-submit's JVM (and what it started) dies; Airflow's task must see the failure."""
    run = BackgroundRun(dep, DATE, log)
    run.wait_until(lambda: _scratch_exists(dep) and _jvms(run.seen), "the Spark ingest at work")
    table = _processes()
    jvm_tree = set().union(*({pid} | _descendants(pid, table) for pid in _jvms(run.seen)))
    killed_at = time.monotonic()
    for pid in jvm_tree:
        # A short-lived child of the JVM's launcher may have exited since the listing: nothing to kill.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run_id = running_record(dep)["run_id"]
    run.wait_until(
        lambda: task_states(dep, run_id).get("daily_outputs") in ("up_for_retry", "failed"),
        "Airflow's verdict on daily_outputs",
        timeout=300,
    )
    timed("spark-submit child killed -> task up for retry", time.monotonic() - killed_at)
    assert task_states(dep, run_id)["daily_outputs"] == "up_for_retry", run.output()[-6000:]
    assert not _alive(jvm_tree)
    assert run.proc.poll() is None  # the run waits out the retry delay (5 minutes)
    run.kill()
    return run, "daily_outputs"


def kill_in_validate_outputs(dep: Deployment, log: Path) -> tuple[BackgroundRun, str]:
    run = BackgroundRun(dep, DATE, log)
    run.wait_for_text("[DAG TEST] starting task_id=validate_outputs")
    # GX at work: the data docs site has appeared, the run's validation result is not written yet.
    run.wait_until(lambda: (dep.data_dir / "data_docs").exists(), "Great Expectations at work")
    run.kill()
    assert "end task task_id=validate_outputs" not in run.text
    assert not list((dep.data_dir / "validation").rglob("*.json"))
    return run, "validate_outputs"


def kill_in_load_postgres(dep: Deployment, log: Path) -> tuple[BackgroundRun, str]:
    # The day's rows are share-locked: the load COPYs into its stage, then blocks on the DELETE of
    # the old day, in the middle of its transaction.
    seed_old_rows(dep)
    with holding(dep, dep.analytics_db, "LOCK TABLE daily_user_stats IN SHARE MODE"):
        run = BackgroundRun(dep, DATE, log)
        run.wait_until(
            lambda: blocked_backends(dep, dep.analytics_db, "DELETE FROM daily_user_stats"),
            "the load in the middle of its transaction",
        )
        assert daily_user_stats(dep) == sorted(OLD_ROWS, key=lambda r: (r[6], r[0]))
        run.kill()
    return run, "load_postgres"


def kill_in_finish_run_record(dep: Deployment, log: Path) -> tuple[BackgroundRun, str]:
    run = BackgroundRun(dep, DATE, log)
    run.wait_until(lambda: running_record(dep), "the run record")
    run_id = running_record(dep)["run_id"]
    conn = dep.analytics()
    try:
        # Both loads done (the run's tasks run one at a time): lock the record before the last task
        # writes it; the task then blocks in its UPDATE.
        run.wait_until(
            lambda: (
                "end task task_id=load_postgres" in run.output()
                and "end task task_id=load_cassandra" in run.text
            ),
            "the end of both loads",
        )
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM etl_runs WHERE run_id = %s FOR UPDATE", (run_id,))
            assert cur.fetchone() == ("running",), "finish_run_record ended before it could be caught"
        run.wait_until(
            lambda: blocked_backends(dep, dep.analytics_db, "ended_at = now()"), "finish_run_record's UPDATE"
        )
        run.kill()
    finally:
        conn.rollback()
        conn.close()
    return run, "finish_run_record"


def latest_run_id(deployment: Deployment) -> str:
    """The run id of the newest DAG run in Airflow's metadata database (before any etl_runs record)."""
    db = sqlite3.connect(deployment.home / "airflow.db", timeout=30)
    try:
        [(run_id,)] = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = 'daily_analytics_etl' ORDER BY id DESC LIMIT 1"
        ).fetchall()
    finally:
        db.close()
    return run_id


def kill_in_migrate_analytics_schema(dep: Deployment, log: Path) -> tuple[BackgroundRun, str]:
    # The migrations' advisory lock held: the task blocks on it, inside its transaction.
    lock = (REPO / "sql" / "analytics" / "migrate_lock.sql").read_text()
    run = kill_when_blocked(dep, log, dep.analytics_db, lock, "pg_advisory_xact_lock", "the migration's lock")
    return run, "migrate_analytics_schema"


def kill_in_start_run_record(dep: Deployment, log: Path) -> tuple[BackgroundRun, str]:
    migrated(dep)
    lock = "LOCK TABLE etl_runs IN SHARE MODE"
    run = kill_when_blocked(dep, log, dep.analytics_db, lock, "INSERT INTO etl_runs", "the record's INSERT")
    return run, "start_run_record"


def kill_in_wait_for_event_drop(dep: Deployment, log: Path) -> tuple[BackgroundRun, str]:
    # The drop not complete yet: the run is killed while it waits for the flag, which comes later.
    flag = dep.drop_dir / "user_events" / DATE / "_SUCCESS"
    flag.unlink()
    run = BackgroundRun(dep, DATE, log)
    run.wait_for_text("deferring until")
    run.kill()
    flag.write_text("")
    return run, "wait_for_event_drop"


def kill_in_check_ingest(dep: Deployment, log: Path) -> tuple[BackgroundRun, str]:
    run = BackgroundRun(dep, DATE, log)
    run.wait_until(lambda: running_record(dep), "the run record")
    run_id = running_record(dep)["run_id"]
    conn = dep.analytics()
    try:
        # The record locked while Spark works: check_ingest blocks in its UPDATE of the counts.
        run.wait_for_text("[DAG TEST] starting task_id=daily_outputs")
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM etl_runs WHERE run_id = %s FOR UPDATE", (run_id,))
        run.wait_until(
            lambda: blocked_backends(dep, dep.analytics_db, "rows_read ="), "check_ingest's UPDATE"
        )
        run.kill()
    finally:
        conn.rollback()
        conn.close()
    return run, "check_ingest"


def kill_in_keep_erased_users_out(dep: Deployment, log: Path) -> tuple[BackgroundRun, str]:
    migrated(dep)
    lock = "LOCK TABLE erasure_log IN ACCESS EXCLUSIVE MODE"
    run = kill_when_blocked(dep, log, dep.analytics_db, lock, "erasure_log", "the replay's read of erasures")
    return run, "keep_erased_users_out"


# Killed before the run's etl_runs record exists (or in its INSERT): the rerun writes the only one.
BEFORE_THE_RECORD = {"migrate_analytics_schema", "start_run_record"}


@pytest.mark.parametrize(
    "kill",
    [
        kill_in_migrate_analytics_schema,
        kill_in_start_run_record,
        kill_in_extract_source,
        kill_in_wait_for_event_drop,
        kill_in_daily_outputs,
        kill_spark_child_of_daily_outputs,
        kill_in_check_ingest,
        kill_in_keep_erased_users_out,
        kill_in_validate_outputs,
        kill_in_load_postgres,
        kill_in_finish_run_record,
    ],
    ids=lambda f: f.__name__.removeprefix("kill_"),
)
def test_a_run_killed_inside_a_task_then_run_again_ends_as_if_never_interrupted(
    kill, reference, postgres, fault_home, tmp_path
):
    dep = new_deployment(postgres, fault_home, tmp_path)
    killed, task_id = kill(dep, tmp_path / "killed.log")
    killed_at = time.monotonic()
    wait_no_backends(dep)  # the killed run's open transaction, if any, rolled back

    # What the killed run left: its record says 'running' (no failure callback ran), Airflow's task
    # instance is still running (or up for retry), no later task started, the old day is intact.
    records = _runs_or_none(dep)
    if task_id in BEFORE_THE_RECORD:
        assert records == [], records
        run_id = latest_run_id(dep)
    else:
        [record] = records
        assert record["status"] == "running" and record["ended_at"] is None
        run_id = record["run_id"]
    states = task_states(dep, run_id)
    assert states[task_id] in ("running", "up_for_retry", "deferred"), states
    # load_cassandra runs beside load_postgres (either may come first): only what follows both counts.
    later = {"finish_run_record"} if task_id == "load_postgres" else {"load_postgres", "finish_run_record"}
    if task_id != "finish_run_record":
        assert not later & {t for t, s in states.items() if s}, states
    if task_id == "finish_run_record":
        assert record["rows_written"] == {"daily_user_stats": 3}
        assert daily_user_stats(dep) == ds.EXPECTED_DAILY_USER_STATS
    elif task_id == "load_postgres":
        assert daily_user_stats(dep) == sorted(OLD_ROWS, key=lambda r: (r[6], r[0]))
    elif task_id != "migrate_analytics_schema":  # that kill leaves no table at all
        assert daily_user_stats(dep) == []

    # Run the date again: everything as after one uninterrupted run.
    result = dep.trigger({"date": DATE})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    timed(f"rerun after a kill in {kill.__name__.removeprefix('kill_')}", time.monotonic() - killed_at)
    assert_same_as(reference, state_of(dep))
    assert_exact_outputs(dep)
    if task_id in BEFORE_THE_RECORD:
        [only] = runs(dep)
        assert only["status"] == "success" and only["run_id"] != run_id
    else:
        first, second = runs(dep)
        assert first["run_id"] == run_id and first["status"] == "running"  # stays so: see docs
        assert second["status"] == "success"


# -- 2. runs side by side ------------------------------------------------------------------------------


def _run_dirs(deployment: Deployment) -> set[tuple[str, str]]:
    """(date, run key) of every run folder under the data dir, and of every data docs result."""
    found = set()
    for path in deployment.data_dir.rglob("*"):
        parts = path.relative_to(deployment.data_dir).parts
        dates = [p.removeprefix("date=") for p in parts if p.startswith("date=")]
        keys = [p.removeprefix("run=") for p in parts if p.startswith("run=")]
        if dates and keys:
            found.add((dates[0], keys[0]))
    return found


def test_two_dates_at_once_land_exactly_without_touching_each_other(
    reference, postgres, fault_home, tmp_path
):
    dep = new_deployment(postgres, fault_home, tmp_path, days=(ds.D, D2))
    started = time.monotonic()
    first = BackgroundRun(dep, DATE, tmp_path / "d1.log")
    second = BackgroundRun(dep, DATE2, tmp_path / "d2.log")
    codes = (first.finish(), second.finish())
    timed("two dates side by side (wall clock)", time.monotonic() - started)
    assert codes == (0, 0), first.text[-4000:] + second.text[-4000:]

    assert_same_as(reference, state_of(dep, DATE))
    assert_same_as(reference, state_of(dep, DATE2, shift=SHIFT))
    records = runs(dep)
    assert sorted((r["date"], r["status"]) for r in records) == [(ds.D, "success"), (D2, "success")]
    keys = {r["date"].isoformat(): RunPaths.build("", "", r["date"], r["run_id"]).key for r in records}
    # Each date's folders hold only its own run's files; no row of one date is in the other's.
    assert _run_dirs(dep) == set(keys.items())
    conn = dep.analytics()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT date, count(*) FROM daily_user_stats GROUP BY date ORDER BY date")
        assert cur.fetchall() == [(ds.D, 3), (D2, 3)]
    conn.close()
    assert sorted(p.name for p in (dep.data_dir / "quarantine" / "user_events").iterdir()) == [
        f"date={DATE}",
        f"date={DATE2}",
    ]


def test_the_same_date_twice_at_once_ends_as_one_run(reference, postgres, fault_home, tmp_path):
    dep = new_deployment(postgres, fault_home, tmp_path)
    started = time.monotonic()
    first = BackgroundRun(dep, DATE, tmp_path / "a.log")
    second = BackgroundRun(dep, DATE, tmp_path / "b.log")
    codes = (first.finish(), second.finish())
    timed("the same date twice side by side (wall clock)", time.monotonic() - started)
    assert codes == (0, 0), first.text[-4000:] + second.text[-4000:]
    final = state_of(dep)
    assert_same_as(reference, final)
    records = runs(dep)
    assert [r["status"] for r in records] == ["success", "success"]
    for record in records:  # each run's own outputs are whole too
        paths = RunPaths.build(dep.data_dir, dep.drop_dir, ds.D, record["run_id"])
        assert {t: _rows(paths.output(t)) for t in OUTPUT_TABLES} == reference["curated"]


# -- 3. PostgreSQL restarted in the middle of load_postgres ----------------------------------------------


@dataclass
class Reader:
    """Reads D's user ids from daily_user_stats over and over, as a dashboard would, through restarts."""

    deployment: Deployment
    seen: list[frozenset] = field(default_factory=list)
    refused: int = 0

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn = self.deployment.analytics()
                try:
                    with conn, conn.cursor() as cur:
                        cur.execute("SELECT user_id::text FROM daily_user_stats WHERE date = %s", (DATE,))
                        self.seen.append(frozenset(r[0] for r in cur.fetchall()))
                finally:
                    conn.close()
            except psycopg2.Error:
                self.refused += 1  # the server is down
            time.sleep(0.05)

    def close(self) -> set[frozenset]:
        self.stop.set()
        self.thread.join(timeout=30)
        return set(self.seen)


def test_postgres_restarted_in_the_middle_of_load_postgres(reference, postgres, fault_home, tmp_path):
    dep = new_deployment(postgres, fault_home, tmp_path)
    seed_old_rows(dep)
    script = str(REPO / "scripts" / "postgres.sh")
    reader = Reader(dep)
    try:
        with holding(dep, dep.analytics_db, "LOCK TABLE daily_user_stats IN SHARE MODE"):
            run = BackgroundRun(dep, DATE, tmp_path / "restart.log")
            run.wait_until(
                lambda: blocked_backends(dep, dep.analytics_db, "DELETE FROM daily_user_stats"),
                "the load in the middle of its transaction",
            )
            run_id = running_record(dep)["run_id"]
            down = time.monotonic()
            subprocess.run([script, "stop", str(PG_DATA)], check=True)
            subprocess.run([script, "start", str(PG_DATA), str(postgres.port)], check=True)
            timed("PostgreSQL stop + start", time.monotonic() - down)
        assert_up_for_retry(run, dep, run_id, "load_postgres")
        timed("restart -> load_postgres up for retry", time.monotonic() - down)
        assert "OperationalError" in run.output(), run.text[-6000:]
        assert daily_user_stats(dep) == sorted(OLD_ROWS, key=lambda r: (r[6], r[0]))
        assert running_record(dep)["run_id"] == run_id  # a retry is coming: still 'running'
        assert not task_states(dep, run_id).get("finish_run_record")
        run.kill()  # instead of waiting out the 5 minutes of retry delay
        result = dep.trigger({"date": DATE})
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
        timed("restart -> rerun finished", time.monotonic() - down)
    finally:
        seen = reader.close()
    old = frozenset(r[0] for r in OLD_ROWS)
    new = frozenset(r[0] for r in ds.EXPECTED_DAILY_USER_STATS)
    assert seen == {old, new}, seen  # never a mix, never none
    print(f"[faults] reader: {len(reader.seen)} reads, {reader.refused} refused while the server was down")
    assert_same_as(reference, state_of(dep))


# -- 4. The Cassandra node stopped in the middle of load_cassandra.


def curated_as_cassandra(deployment: Deployment, day: str, run_id: str) -> dict[str, list[tuple]]:
    """The run's curated outputs of the three Cassandra tables, shaped as `cassandra_contents` reads
    the tables back: what the node must hold once the load of that run is done."""
    paths = RunPaths.build(deployment.data_dir, deployment.drop_dir, dt.date.fromisoformat(day), run_id)
    columns = {table: cols.replace(" ", "").split(",") for table, cols in CASSANDRA_COLUMNS.items()}
    return {
        table: sorted(
            tuple(round(r[c], 9) if isinstance(r[c], float) else r[c] for c in cols)
            for r in pads.dataset(str(paths.output(table)), format="parquet").to_table().to_pylist()
        )
        for table, cols in columns.items()
    }


@pytest.mark.cassandra
def test_cassandra_stopped_in_the_middle_of_load_cassandra(
    postgres, fault_home, tmp_path, cassandra_server, cassandra_keyspace
):
    """The session's node is stopped by its pid while `load_cassandra` writes a demo-sized day (one
    row per request, one request at a time, so the load lasts seconds). The sink retries a bounded
    number of times, then the task fails naming the host and the rows written so far (a transient
    fault: Airflow sets it up for retry). With the node started again, the rerun is exact."""
    node = cassandra_server.node
    if node is None:
        pytest.skip("stopping the node needs the session's own: CASSANDRA_HOST names an external one")
    dep = new_deployment(postgres, fault_home, tmp_path, days=())
    dep.cassandra_url = cassandra_keyspace.url
    dep.variables.update(
        etl_cassandra_batch_size="1", etl_cassandra_concurrency="1", etl_cassandra_max_retries="2",
        etl_cassandra_request_timeout="5", etl_max_reject_ratio="0.05",
    )  # fmt: skip
    day = "2024-01-15"
    generate(day, postgres.url(dep.source_db), dep.drop_dir, users=2000, events=20000)
    session, ks = cassandra_keyspace.session, cassandra_keyspace.name
    run = BackgroundRun(dep, day, tmp_path / "cassandra_down.log")
    try:
        run.wait_for_text("[DAG TEST] starting task_id=load_cassandra")

        def writing() -> bool:
            from cassandra import InvalidRequest
            from cassandra.cluster import NoHostAvailable

            try:  # the load creates the table: until then (and while it does), no count
                count = session.execute(f"SELECT count(*) FROM {ks}.user_engagement").one()[0]  # noqa: S608
            except (InvalidRequest, NoHostAvailable):
                return False
            return count > 0

        run.wait_until(writing, "rows of the load in Cassandra")
        run_id = running_record(dep)["run_id"]
        down = time.monotonic()
        node.stop()
        timed("Cassandra stop (SIGTERM, flushed, exited)", time.monotonic() - down)
        assert_up_for_retry(run, dep, run_id, "load_cassandra")
        timed("Cassandra stopped -> load_cassandra up for retry", time.monotonic() - down)
        log = run.output()
        failure = next((line for line in log.splitlines() if "rows written so far" in line), "")
        assert f"127.0.0.1:{node.cql_port}" in failure and "after 2 retries" in failure, log[-6000:]
        assert "retry 2/2" in log  # the sink's own bounded retries ran first
        assert not task_states(dep, run_id).get("finish_run_record")
    finally:
        if run.proc.poll() is None:
            run.kill()  # instead of waiting out the 5 minutes of retry delay (or after a failed check)
        if not node.pid():
            node.start()
    result = dep.trigger({"date": day})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    timed("Cassandra stopped -> restarted -> rerun finished", time.monotonic() - down)
    final = runs(dep)[-1]
    assert final["status"] == "success" and final["cassandra_status"] == "loaded"
    assert cassandra_contents(cassandra_keyspace) == curated_as_cassandra(dep, day, final["run_id"])


# -- 5. Both roots on the store (issue 24): killed in daily_outputs and in the quarantine's publish ------
#
# Marked `cassandra` (every sink is checked, Cassandra's too), so CI's `.ci/run` runs these two with the
# fault suite's other Cassandra case. Each compares with test_dag_end_to_end's expectations of the
# hand-made day (what an uninterrupted run on the store leaves, tested there), not with `reference`:
# that would add an uninterrupted local run to CI for nothing the expectations do not say.

QUARANTINE = f"quarantine/user_events/date={DATE}"


def store_deployment(postgres, home: Path, base: Path, s3_server, keyspace) -> Deployment:
    """A deployment with both roots under a prefix of its own on the session's store, the day's drop
    put there by the test's own client, and every sink configured."""
    import uuid

    dep = new_deployment(postgres, home, base)
    prefix = f"faults-{uuid.uuid4().hex[:10]}"
    dep.data_dir = StoreRoot(s3_server, f"{prefix}/data")
    dep.drop_dir = StoreRoot(s3_server, f"{prefix}/drops")
    put_store_drop(dep.drop_dir)
    dep.connections["aws_default"] = s3_server.connection_json()
    dep.cassandra_url = keyspace.url
    return dep


def through(dep: Deployment, proxy: HttpHoldProxy) -> None:
    """Point the deployment's `aws_default` (Airflow's side and Spark's S3A) at `proxy`."""
    connection = json.loads(dep.data_dir.server.connection_json())
    connection["extra"]["endpoint_url"] = f"http://{proxy.address}"
    dep.connections["aws_default"] = json.dumps(connection)


def quarantine_runs(root: StoreRoot) -> set[str]:
    """The run keys of every `run=K/` prefix in the date's quarantine folder (the test's own listing)."""
    return {k.split("/")[0].removeprefix("run=") for k in root.keys(QUARANTINE) if k.startswith("run=")}


def assert_store_day_exact(dep: Deployment, keyspace) -> str:
    """Every sink and the quarantine (through its pointer) as an uninterrupted run leaves them, the run
    recorded as one; the date's quarantine folder holds only the pointer and the last run's prefix.
    Returns the published run key."""
    assert_exact_outputs(dep)
    assert cassandra_contents(keyspace) == EXPECTED_CASSANDRA
    final = runs(dep)[-1]
    assert final["status"] == "success" and final["cassandra_status"] == "loaded"
    counts = ("rows_read", "rows_kept", "rows_rejected", "orphan_user")
    assert {k: final[k] for k in counts} == {k: ds.EXPECTED_REPORT[k] for k in counts}
    assert final["rejected_by_reason"] == ds.EXPECTED_REPORT["rejected"]
    written = final["rows_written"]
    assert written["daily_user_stats"] == 3
    assert {k: v for k, v in written["cassandra"].items() if not k.endswith("_deleted")} == CASSANDRA_WRITTEN
    assert final["validation_success"] is True
    published = assert_quarantine_published(dep.data_dir)  # rows exact, folder = pointer + one run
    assert published == run_key(final["run_id"])
    report = json.loads(dep.data_dir.read(f"staging/date={DATE}/run={published}/ingest_report.json"))
    assert {k: report[k] for k in ds.EXPECTED_REPORT} == ds.EXPECTED_REPORT
    return published


@pytest.mark.cassandra
def test_on_the_store_a_run_killed_in_daily_outputs_then_run_again_is_exact(
    postgres, fault_home, tmp_path, s3_server, cassandra_keyspace
):
    """SIGKILL while the Spark job writes the run's prefixes through S3A; the rerun publishes its own
    quarantine and deletes the killed run's, every sink exact."""
    dep = store_deployment(postgres, fault_home, tmp_path, s3_server, cassandra_keyspace)
    root = dep.data_dir
    run = BackgroundRun(dep, DATE, tmp_path / "killed.log")

    def spark_writing() -> bool:  # the job has written into the run's quarantine prefix (S3A)
        return bool(_jvms(run.seen)) and any(k.startswith("run=") for k in root.keys(QUARANTINE))

    try:
        run.wait_until(spark_writing, "the Spark job writing the quarantine to the store")
    finally:
        run.kill()  # also when the wait failed: nothing of the run outlives the test
    killed_at = time.monotonic()
    assert "end task task_id=daily_outputs" not in run.text, "the kill landed after daily_outputs"
    wait_no_backends(dep)
    [record] = runs(dep)
    assert record["status"] == "running"
    killed = run_key(record["run_id"])
    assert task_states(dep, record["run_id"])["daily_outputs"] in ("running", "up_for_retry")
    # What the kill left: no pointer (a reader sees no quarantine), nothing loaded, the run's own
    # prefixes on the store.
    assert "_PUBLISHED.json" not in root.keys(QUARANTINE)
    assert quarantine_runs(root) == {killed}
    unfinished = [
        t for t in OUTPUT_TABLES if "_SUCCESS" not in root.keys(f"curated/{t}/date={DATE}/run={killed}")
    ]
    assert unfinished, "the Spark job had finished: the kill did not land in the middle of it"
    assert daily_user_stats(dep) == []

    result = dep.trigger({"date": DATE})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    timed("store: rerun after a kill in daily_outputs", time.monotonic() - killed_at)
    published = assert_store_day_exact(dep, cassandra_keyspace)
    assert published != killed and quarantine_runs(root) == {published}


@pytest.mark.cassandra
def test_on_the_store_runs_killed_before_and_after_the_pointer_put_then_run_again_are_exact(
    postgres, fault_home, tmp_path, s3_server, cassandra_keyspace
):
    """The quarantine's publish (check_ingest) killed at its two cut points. The store is reached
    through a proxy that holds the task at one request, in a real socket call, until the SIGKILL:
    (a) the pointer's PUT, which never reaches the store: the run's prefix is complete, unpublished;
    (b) the request after the pointer's PUT (the listing before the other prefixes are deleted): a
    reader already sees only that run's files. A last run, held a moment at its pointer's PUT (a reader
    still sees the published run's files, whole), is exact and leaves only its own prefix."""
    dep = store_deployment(postgres, fault_home, tmp_path, s3_server, cassandra_keyspace)
    root = dep.data_dir
    target = ("127.0.0.1", int(s3_server.endpoint.rsplit(":", 1)[1]))
    pointer_put = (b"PUT ", root.prefix.encode(), b"/_PUBLISHED.json")
    keys = []
    for name, let_through in (("before_put", False), ("after_put", True)):
        proxy = HttpHoldProxy(target, pointer_put, let_through).start()
        through(dep, proxy)
        run = BackgroundRun(dep, DATE, tmp_path / f"{name}.log")
        try:
            run.wait_until(proxy.holding.is_set, f"check_ingest held {name.replace('_', ' ')}")
            assert "[DAG TEST] starting task_id=check_ingest" in run.output()
            key = run_key(running_record(dep)["run_id"])
            state = (set(root.keys(f"{QUARANTINE}/run={key}")), quarantine_runs(root))
            on_store = "_PUBLISHED.json" in root.keys(QUARANTINE)
        finally:
            run.kill()  # also when a check failed: nothing of the run outlives the test
            proxy.stop()
        assert "end task task_id=check_ingest" not in run.text
        own, prefixes = state
        assert "_SUCCESS" in own and any(n.startswith("part-") for n in own), own  # complete
        assert prefixes == {*keys, key}, prefixes  # every killed run's prefix is still there
        if let_through:  # (b): the pointer names this run only; a reader sees its files, exact
            pointer, rows = store_quarantine(root)
            assert on_store and pointer["run"] == key and rows == EXPECTED_QUARANTINE
            assert all(f["name"].startswith(f"run={key}/") for f in pointer["files"])
        else:  # (a): nothing published, a reader sees no quarantine
            assert not on_store and "_PUBLISHED.json" not in root.keys(QUARANTINE)
        keys.append(key)
    wait_no_backends(dep)
    assert daily_user_stats(dep) == []

    # The last run, held once at its pointer's PUT (then let go): while it publishes, a reader still
    # sees exactly the published run's rows (its files untouched), beside two unpublished prefixes.
    killed_at = time.monotonic()
    proxy = HttpHoldProxy(target, pointer_put, let_through=False).start()
    through(dep, proxy)
    last = BackgroundRun(dep, DATE, tmp_path / "rerun.log")
    try:
        last.wait_until(proxy.holding.is_set, "the last run at its pointer's PUT")
        pointer, rows = store_quarantine(root)
        assert pointer["run"] == keys[1] and rows == EXPECTED_QUARANTINE
        assert len(quarantine_runs(root)) == 3
        proxy.release()
        code = last.finish()
    finally:
        if last.proc.poll() is None:  # a check failed: the run must not outlive the test
            last.kill()
        proxy.stop()
    assert code == 0, last.text[-6000:]
    timed("store: rerun after kills before and after the pointer's PUT", time.monotonic() - killed_at)
    published = assert_store_day_exact(dep, cassandra_keyspace)
    assert published not in keys and quarantine_runs(root) == {published}
    assert [r["status"] for r in runs(dep)] == ["running", "running", "success"]


@pytest.fixture(scope="module", autouse=True)
def _print_timings() -> Iterator[None]:
    yield
    for name, seconds in TIMINGS.items():
        print(f"[faults] timing {name}: {seconds} s")
