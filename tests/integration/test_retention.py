"""`analytics_retention` through `airflow dags test` on a month of runs with reruns, checked file by file.

One real `daily_analytics_etl` run lays out a day as the platform does (and creates `etl_runs`); the
other runs of the month are folders and `etl_runs` rows made here, four of them with real gate
results and data docs pages in the shared GX site. Which run is kept is written out by hand in
MONTH, not derived from the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from analytics_etl.paths import OUTPUT_TABLES, RunPaths, run_key
from analytics_etl.quality import run_gate
from tests.integration import dataset as ds
from tests.integration.test_quality_gate import make_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

D = ds.D  # 2024-01-17, the day of the real run
OLDEST_KEPT = D - dt.timedelta(days=5)  # retention days are chosen so that 2024-01-12 is the edge
IN_PROGRESS_RUN = "manual__retention_test_in_progress"

# (days from D, run number, etl_runs status or None for no record, kept?, real GX results?)
# A run's etl_runs row starts n hours after 02:00 on D+1 and ends half an hour later.
MONTH = [
    *[
        (off, 1, "success", off >= -5, False)
        for off in range(-20, 10)
        if off not in (-12, -10, -6, -3, -1, 0, 2, 4)
    ],
    # an expired date with a rerun; the first one has real data docs
    (-10, 1, "success", False, True),
    (-10, 2, "success", False, False),
    # an expired date whose backfill is running right now (a queued DAG run in Airflow): kept
    (-12, 1, "success", False, False),
    (-12, 2, "running", True, False),
    # expired, with a folder nobody recorded
    (-6, 1, "success", False, False),
    (-6, 2, None, False, False),
    # inside the window: a rerun supersedes the first run (both with real data docs)
    (-3, 1, "success", False, True),
    (-3, 2, "success", True, True),
    # a failed run before the success goes; the failed latest run stays beside the success
    (-1, 1, "failed", False, False),
    (-1, 2, "success", True, False),
    (-1, 3, "failed", True, False),
    # a record left `running` by a run that died (its DAG run is not in Airflow), superseded
    (2, 1, "running", False, False),
    (2, 2, "success", True, False),
    # a folder without a record inside the window: kept
    (4, 1, "success", True, False),
    (4, 2, None, True, False),
]
# D itself: the real run, superseded by a run 2 made here (with real data docs).


def day(offset: int) -> dt.date:
    return D + dt.timedelta(days=offset)


def run_id_of(offset: int, n: int) -> str:
    if (offset, n) == (-12, 2):
        return IN_PROGRESS_RUN
    return f"manual__{day(offset).isoformat()}T{n:02d}:00:00+00:00"


def files_under(root: Path) -> dict[str, int]:
    """Every file (and link) under `root`, relative, with its size."""
    return {
        str(p.relative_to(root)): p.lstat().st_size for p in root.rglob("*") if p.is_file() or p.is_symlink()
    }


def run_dirs(data: Path, date: dt.date, run_id: str) -> list[Path]:
    """Every directory a run owns: RunPaths' own, and its results and pages in the shared site."""
    paths = RunPaths.build(data, data, date, run_id)
    dirs = [paths.staging, paths.validation, *(paths.output(t) for t in OUTPUT_TABLES)]
    gx_run = f"{date.isoformat()}_{paths.key}"
    return dirs + sorted(paths.data_docs.glob(f"*/*/{gx_run}"))


def write_fake_run(data: Path, date: dt.date, run_id: str, real_gx: bool) -> None:
    if real_gx:  # curated Parquet, the checkpoint result and data docs, as the gate writes them
        paths = make_run(data.parent, date, run_id)
        assert run_gate(paths, run_id).success
    else:
        paths = RunPaths.build(data, data, date, run_id)
        for table in OUTPUT_TABLES:
            paths.output(table).mkdir(parents=True, exist_ok=True)
            (paths.output(table) / "part-00000.snappy.parquet").write_bytes(b"p" * 700)
            (paths.output(table) / "_SUCCESS").write_bytes(b"")
        paths.validation.mkdir(parents=True, exist_ok=True)
        (paths.validation / "checkpoint_result.json").write_text('{"success": true}')
    paths.events.mkdir(parents=True, exist_ok=True)
    (paths.events / "part-00000.parquet").write_bytes(b"e" * 1234)
    paths.users.write_bytes(b"u" * 321)
    paths.quarantine.mkdir(parents=True, exist_ok=True)
    (paths.quarantine / f"rejects-{paths.key}.json").write_text('{"reason": "malformed"}\n')


def insert_records(conn, rows: list[tuple]) -> None:
    with conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO etl_runs (run_id, date, dag_id, started_at, ended_at, status)"
            " VALUES (%s, %s, 'daily_analytics_etl', %s, %s, %s)",
            rows,
        )


def query(deployment, statement: str) -> list[tuple]:
    conn = deployment.analytics()
    with conn, conn.cursor() as cur:
        cur.execute(statement)
        rows = cur.fetchall()
    conn.close()
    return rows


def retention(deployment, conf: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["airflow", "dags", "test", "analytics_retention", "--conf", json.dumps(conf)],
        env=deployment.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    return result


@pytest.fixture
def month(deployment, monkeypatch):
    """The real run of D, then the month around it; returns the directories that must go."""
    # The fake runs' gates take the data docs site's advisory lock on analytics_postgres, as the real one.
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_POSTGRES", deployment.postgres.url(deployment.analytics_db))
    conn = deployment.source()
    ds.load_source(conn)
    conn.close()
    ds.write_drop(deployment.drop_dir)
    deployment.variables["etl_max_reject_ratio"] = "0.5"
    real = deployment.trigger({"date": D.isoformat()})
    assert real.returncode == 0, real.stdout[-6000:] + real.stderr[-6000:]
    [(real_run_id,)] = query(deployment, "SELECT run_id FROM etl_runs")

    data = deployment.data_dir
    records, doomed = [], run_dirs(data, D, real_run_id)
    for offset, n, status, kept, real_gx in MONTH:
        date, run_id = day(offset), run_id_of(offset, n)
        write_fake_run(data, date, run_id, real_gx)
        started = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(2), tzinfo=dt.UTC)
        started += dt.timedelta(hours=n)
        if status:
            ended = None if status == "running" else started + dt.timedelta(minutes=30)
            records.append((run_id, date, started, ended, status))
        if not kept:
            doomed += run_dirs(data, date, run_id)
    # The rerun of D, after the real run.
    write_fake_run(data, D, run_id_of(0, 2), real_gx=True)
    now = dt.datetime.now(dt.UTC)
    records.append((run_id_of(0, 2), D, now, now + dt.timedelta(minutes=1), "success"))
    conn = deployment.analytics()
    insert_records(conn, records)
    conn.close()
    # Expired dates lose their quarantine, except the one with a run in progress.
    expired = {day(o) for o, *_ in MONTH if day(o) < OLDEST_KEPT} - {day(-12)}
    doomed += [data / "quarantine" / "user_events" / f"date={d.isoformat()}" for d in expired]

    # The backfill in progress: a DAG run Airflow holds as queued (no scheduler picks it up here).
    trigger = subprocess.run(
        ["airflow", "dags", "trigger", "daily_analytics_etl", "--run-id", IN_PROGRESS_RUN,
         "--conf", json.dumps({"date": day(-12).isoformat()})],
        env=deployment.env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert trigger.returncode == 0, trigger.stdout + trigger.stderr
    today = dt.datetime.now(dt.UTC).date()
    deployment.variables["etl_retention_days"] = str((today - OLDEST_KEPT).days)
    yield doomed, real_run_id
    db = sqlite3.connect(deployment.home / "airflow.db")
    with db:
        db.execute("DELETE FROM dag_run WHERE run_id = ?", (IN_PROGRESS_RUN,))
    db.close()


def test_retention_over_a_month_of_runs_with_reruns(deployment, month):
    data = deployment.data_dir
    doomed, real_run_id = month
    assert all(d.is_dir() for d in doomed), [d for d in doomed if not d.is_dir()]
    before = files_under(data)
    doomed_files = {
        f: size for f, size in before.items() if any((data / f).is_relative_to(d) for d in doomed)
    }
    sinks = query(deployment, "SELECT * FROM daily_user_stats ORDER BY user_id")
    runs = query(deployment, "SELECT * FROM etl_runs ORDER BY date, run_id")
    assert len(sinks) == 3 and len(runs) == len([m for m in MONTH if m[2]]) + 2

    # 1. A dry run deletes nothing and logs, per date, run and kind, what the real run will delete.
    retention(deployment, {"dry_run": True})
    assert files_under(data) == before
    planned = query(
        deployment,
        "SELECT date, run_key, kind, reason, files, bytes FROM retention_log WHERE action = 'dry_run'",
    )
    assert sum(r[4] for r in planned) == len(doomed_files)
    assert sum(r[5] for r in planned) == sum(doomed_files.values())

    # 2. The real run deletes exactly the doomed directories, file by file.
    retention(deployment, {})
    after = files_under(data)
    assert set(after) == set(before) - set(doomed_files)
    for f in doomed_files:
        assert not (data / f).exists(), f
    deleted = query(
        deployment,
        "SELECT date, run_key, kind, reason, files, bytes FROM retention_log WHERE action = 'deleted'",
    )
    assert Counter(deleted) == Counter(planned)
    assert sum(r[4] for r in deleted) == len(doomed_files)
    assert sum(r[5] for r in deleted) == sum(doomed_files.values())
    reasons = {(r[0], r[1]): r[3] for r in deleted}
    assert reasons[(day(-3), run_key(run_id_of(-3, 1)))] == "superseded"
    assert reasons[(D, run_key(real_run_id))] == "superseded"
    assert reasons[(day(-10), run_key(run_id_of(-10, 1)))] == "expired"
    assert reasons[(day(-10), None)] == "expired"
    # Kept: the latest successful run of each date inside the window, the failed latest run, runs in
    # progress, unrecorded folders inside the window, and the quarantine of every date kept.
    for offset, n, _status, kept, _gx in MONTH:
        if kept:
            assert all(d.is_dir() for d in run_dirs(data, day(offset), run_id_of(offset, n)))
    assert (data / "quarantine" / "user_events" / f"date={day(-12).isoformat()}").is_dir()
    assert (data / "quarantine" / "user_events" / f"date={D.isoformat()}").is_dir()

    # 3. The data docs index lists the runs kept and none of those deleted.
    index = (data / "data_docs" / "index.html").read_text()
    assert f"{day(-3).isoformat()}_{run_key(run_id_of(-3, 2))}" in index
    assert f"{D.isoformat()}_{run_key(run_id_of(0, 2))}" in index
    for date, gone in ((day(-3), run_id_of(-3, 1)), (day(-10), run_id_of(-10, 1)), (D, real_run_id)):
        assert f"{date.isoformat()}_{run_key(gone)}" not in index
    assert (data / "data_docs" / "expectations" / "daily_user_stats.html").is_file()

    # 4. Sinks and etl_runs are untouched; a second run finds nothing more to delete.
    assert query(deployment, "SELECT * FROM daily_user_stats ORDER BY user_id") == sinks
    assert query(deployment, "SELECT * FROM etl_runs ORDER BY date, run_id") == runs
    retention(deployment, {})
    assert files_under(data) == after
    assert len(query(deployment, "SELECT 1 FROM retention_log WHERE action = 'deleted'")) == len(deleted)


MARK_FAILED = """
import sys
from sqlalchemy import select
from airflow.api.common.mark_tasks import set_dag_run_state_to_failed
from airflow.models.dagbag import DBDagBag
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session

with create_session() as session:
    run = session.scalar(select(DagRun).filter_by(dag_id=sys.argv[1], run_id=sys.argv[2]))
    dag = DBDagBag().get_dag_for_run(run, session=session)
    set_dag_run_state_to_failed(dag=dag, run_id=run.run_id, commit=True, session=session)
"""


def mark_dag_run_failed(deployment, dag_id: str, run_id: str) -> None:
    """What the UI's "mark failed" (or the scheduler, once the killed task stops heartbeating) does;
    `airflow dags test` has no scheduler, so a killed run stays 'running' in Airflow until then."""
    done = subprocess.run(
        [sys.executable, "-c", MARK_FAILED, dag_id, run_id],
        env=deployment.env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def test_a_killed_run_is_recorded_failed_by_the_next_run_and_retention_deletes_its_files(
    deployment, tmp_path
):
    from tests.integration.test_faults import BackgroundRun, _jvms

    conn = deployment.source()
    ds.load_source(conn)
    conn.close()
    ds.write_drop(deployment.drop_dir)
    deployment.variables["etl_max_reject_ratio"] = "0.5"
    data, date = deployment.data_dir, D.isoformat()

    # 1. A run killed by SIGKILL while its Spark job writes: its record stays 'running'.
    killed = BackgroundRun(deployment, date, tmp_path / "killed.log")
    scratch = data / "staging" / f"date={date}"
    killed.wait_until(
        lambda: any(scratch.glob("run=*/ingest_scratch")) and _jvms(killed.seen), "the Spark ingest at work"
    )
    killed.kill()
    [(killed_id, status)] = query(deployment, "SELECT run_id, status FROM etl_runs")
    assert status == "running"
    killed_dirs = [d for d in run_dirs(data, D, killed_id) if d.exists()]
    assert RunPaths.build(data, data, D, killed_id).staging in killed_dirs
    mark_dag_run_failed(deployment, "daily_analytics_etl", killed_id)

    # 2. The date again: the new run records the killed one failed (Airflow no longer runs it).
    again = deployment.trigger({"date": date})
    assert again.returncode == 0, again.stdout[-6000:] + again.stderr[-6000:]
    records = dict(
        (r[0], r[1:]) for r in query(deployment, "SELECT run_id, status, ended_at, error FROM etl_runs")
    )
    status, ended_at, error = records.pop(killed_id)
    assert status == "failed" and ended_at is not None and "ended without recording" in error, error
    [(later_id, (later_status, _, _))] = records.items()
    assert later_status == "success"

    # 3. Retention, the date well inside the window: the killed run is a superseded failed run.
    deployment.variables["etl_retention_days"] = "100000"
    kept_before = files_under(data / "staging" / f"date={date}" / f"run={run_key(later_id)}")
    retention(deployment, {})
    assert [d for d in killed_dirs if d.exists()] == []
    assert files_under(data / "staging" / f"date={date}" / f"run={run_key(later_id)}") == kept_before
    rows = query(deployment, "SELECT DISTINCT run_key, action, reason, run_status FROM retention_log")
    logged = [r[1:] for r in rows if r[0] == run_key(killed_id)]
    assert logged == [("deleted", "superseded", "failed")], logged
