"""The bodies of the DAG's Python tasks: each one a few lines over the modules that do the work.

They live here, not in the DAG file, so that the DAG file stays wiring only and parses without
importing pyarrow, pandas or Great Expectations. Every task gets the run's resolved date and paths
(the `resolve_run` XCom) and rebuilds what it needs from them, so all tasks of a run agree even if
a variable changes while the run is in flight.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from analytics_etl import settings
from analytics_etl.assets import CASSANDRA_ASSETS, POSTGRES_ASSETS, mark_updated
from analytics_etl.dates import InvalidRunDate, RunDate, resolve_run_date
from analytics_etl.paths import OUTPUT_TABLES, RunPaths
from analytics_etl.storage import as_text, root_path

log = logging.getLogger(__name__)

RESOLVE_TASK_ID = "resolve_run"


def resolve_run(**context: Any) -> dict[str, str]:
    """Validate the requested date (or derive it from the schedule) and fix the run's file layout."""
    dag_run = context["dag_run"]
    requested = (dag_run.conf or {}).get("date", context["params"].get("date"))
    try:
        day = resolve_run_date(
            requested,
            dag_run.data_interval_start,
            dag_run.run_after,
            dag_run.run_type,
            getattr(dag_run, "partition_key", None),
        )
    except InvalidRunDate as err:
        raise AirflowFailException(str(err)) from None
    dirs = settings.dirs()
    paths = RunPaths.build(dirs.data_dir, dirs.drop_dir, day, dag_run.run_id)
    run = {
        **RunDate(day).as_xcom(),
        "run_id": dag_run.run_id,
        "run_key": paths.key,
        **{
            name: as_text(getattr(paths, name))
            for name in (
                "data_dir", "drop_dir", "staging", "users", "progress_week", "events", "ingest_report",
                "spark_error", "quarantine", "quarantine_out", "drop_folder", "drop_success_flag",
            )
        },
        "ingest_scratch": str(_ingest_scratch(paths)),
        **{f"out_{table}": as_text(paths.output(table)) for table in OUTPUT_TABLES},
    }  # fmt: skip
    log.info("run %s processes %s (week %s..%s)", dag_run.run_id, day, run["week_start"], run["week_end"])
    return run


def _ingest_scratch(paths: RunPaths) -> str | Path:
    """The ingest's scratch: beside the run's staging on a local root (the quarantine is renamed
    from it); for a root on a store, this host's disk when Spark runs here (`local[*]`), else the
    run's staging on the store, which every executor of a cluster sees."""
    if not paths.data_on_store:
        return paths.ingest_scratch
    from analytics_etl.spark import spark_runs_here

    return paths.local_scratch if spark_runs_here(settings.SPARK_CONN_ID) else as_text(paths.ingest_scratch)


def run_paths(run: dict[str, str]) -> RunPaths:
    return RunPaths.build(run["data_dir"], run["drop_dir"], dt.date.fromisoformat(run["date"]), run["run_id"])


def _analytics() -> Any:
    from analytics_etl.db import connect

    return connect(settings.ANALYTICS_CONN_ID)


@contextmanager
def _record(run: dict[str, str]) -> Iterator[Any]:
    """The run's `etl_runs` record, on a connection closed when the block ends."""
    from analytics_etl.run_record import RunRecord

    conn = _analytics()
    try:
        yield RunRecord(conn, run["run_id"], run["date"])
    finally:
        conn.close()


def _writing(run: dict[str, str]) -> Any:
    """The run's writer lock (run_lock.py): an erasure waits while the task writes the run's files."""
    from analytics_etl.run_lock import writing

    return writing(run["staging"])


def migrate_analytics_schema() -> list[str]:
    from analytics_etl.load_postgres import migrate

    conn = _analytics()
    try:
        return migrate(conn)
    finally:
        conn.close()


def start_run_record(run: dict[str, str], dag_id: str) -> None:
    with _record(run) as record:
        record.start(dag_id)
    reconcile_date(run)


# A DAG run in one of these states is going on (or about to); any other has ended.
ACTIVE_DAG_RUN_STATES = ["queued", "running"]


def reconcile_date(run: dict[str, str]) -> list[str]:
    """Other runs of the date that Airflow no longer runs but whose record says 'running' (a killed
    run: its failure callback died with it) are recorded failed; returns their run ids.

    Run at the start and the end of every run of the date, so a killed run is never left 'running'
    once the date has been run again, and retention deletes its files as a superseded failed run's.
    When Airflow cannot be asked, the record is left as it is (the run may well be going on)."""
    from airflow.sdk import get_current_context

    from analytics_etl.run_record import mark_abandoned, running_others

    ti = get_current_context()["ti"]
    reconciled = []
    conn = _analytics()
    try:
        for other, dag_id in running_others(conn, run["run_id"], run["date"]):
            try:
                active = ti.get_dr_count(dag_id=dag_id, run_ids=[other], states=ACTIVE_DAG_RUN_STATES)
            except Exception:
                log.exception("could not ask Airflow whether %s is running: its record is left", other)
                continue
            error = f"the DAG run ended without recording it (killed?); seen by {run['run_id']}"
            if not active and mark_abandoned(conn, other, run["date"], error):
                log.warning(
                    "run %s of %s is no longer running in Airflow: recorded failed", other, run["date"]
                )
                reconciled.append(other)
    finally:
        conn.close()
    return reconciled


def extract_source(run: dict[str, str]) -> dict[str, int]:
    from analytics_etl.db import connect
    from analytics_etl.extract import extract_source as extract

    conn = connect(settings.SOURCE_CONN_ID)
    try:
        with _writing(run):
            return extract(
                conn,
                root_path(run["users"]),
                root_path(run["progress_week"]),
                (run["week_start"], run["week_end"]),
            )
    finally:
        conn.close()


def package_spark_jobs(run: dict[str, str]) -> str:
    """Zip the jobs' package for spark-submit's --py-files, so drivers and executors on other hosts
    (cluster deploy mode, YARN, Kubernetes) import the same code as this worker."""
    import shutil

    from analytics_etl.defaults import SPARK_JOBS

    target = run_paths(run).jobs_archive_dir / "analytics_jobs"  # a local file for spark-submit
    target.parent.mkdir(parents=True, exist_ok=True)
    with _writing(run):
        archive = shutil.make_archive(str(target), "zip", root_dir=SPARK_JOBS, base_dir="analytics_jobs")
    log.info("packaged %s into %s", SPARK_JOBS / "analytics_jobs", archive)
    return archive


def check_ingest(run: dict[str, str]) -> dict[str, Any]:
    """Record the ingest counts, then fail the run (before any load) above the reject ratio."""
    from analytics_etl.ingest import RejectRatioExceeded, check_reject_ratio, read_report

    report = read_report(run["ingest_report"])
    paths = run_paths(run)
    if paths.data_on_store:  # the run's quarantine prefix becomes the date's (publish.py)
        from analytics_etl.publish import publish_quarantine

        with _writing(run):
            publish_quarantine(paths.quarantine, paths.key)
    with _record(run) as record:
        record.ingest(report)
    log.info(
        "events: read %d, kept %d, rejected %d %s, orphan_user %d; quarantine: %s",
        report["rows_read"],
        report["rows_kept"],
        report["rows_rejected"],
        report["rejected"],
        report["orphan_user"],
        run["quarantine"],
    )
    try:
        check_reject_ratio(report, settings.max_reject_ratio())
    except RejectRatioExceeded as err:
        raise AirflowFailException(f"{err}; rejected rows are in {run['quarantine']}") from None
    return report


def validate_outputs(run: dict[str, str]) -> dict[str, Any]:
    """The gate: a failed expectation fails the run here, so no load task ever starts."""
    from analytics_etl.gate_store import run_gate_anywhere

    with _writing(run):
        result = run_gate_anywhere(run_paths(run), run["run_id"])
    with _record(run) as record:
        record.validation(result.success, as_text(result.result_path), as_text(result.data_docs_index))
    # summary() ends with the result and data docs paths: each is once in the task log (logged on
    # success, in the exception's text on failure), the record's error and the mail. The return value
    # leaves them out: the operator logs it ("Done. Returned value was: ..."); they are in etl_runs.
    if not result.success:
        raise AirflowFailException(f"validation failed, nothing was loaded:\n{result.summary()}")
    log.info("%s", result.summary())
    return {"rows": result.row_counts, "seconds": result.elapsed_seconds}


def keep_erased_users_out(run: dict[str, str]) -> dict[str, int]:
    """Users erased since (and gone from the source) stay out of this run's files: see erasure.replay."""
    from analytics_etl.erasure.replay import keep_erased_users_out as enforce

    conn = _analytics()
    try:
        with _writing(run):
            removed = enforce(run_paths(run), conn)
    finally:
        conn.close()
    if removed:
        log.info("rows of erased users removed from the run's files: %s", removed)
    return removed


def load_postgres(run: dict[str, str]) -> int:
    from analytics_etl.load_postgres import replace_daily_user_stats

    conn = _analytics()
    try:
        rows = replace_daily_user_stats(conn, run["date"], run_paths(run).output("daily_user_stats"))
    finally:
        conn.close()
    with _record(run) as record:
        record.written("daily_user_stats", rows)
    _mark_assets(POSTGRES_ASSETS, run, {"daily_user_stats": rows})
    return rows


def load_cassandra(run: dict[str, str]) -> dict[str, int]:
    from analytics_etl import load_cassandra as sink

    paths = run_paths(run)
    if not sink.cassandra_configured():
        would = sink.count_output_rows(paths)
        message = f"skipped: no {settings.CASSANDRA_CONN_ID} connection configured"
        log.warning("Cassandra load %s; it would have written %s", message, would)
        with _record(run) as record:
            record.cassandra_status(f"{message}; would write {would}")
        raise AirflowSkipException(message)
    from analytics_etl.cassandra.errors import SinkRefusedRow
    from analytics_etl.metrics import LATENCY_XCOM, LatencyHistogram, keep_xcom

    latency = LatencyHistogram()  # the write latency, for the run's metrics (docs/monitoring.md)
    try:
        written = sink.load_day(paths, dt.date.fromisoformat(run["date"]), listen=latency.listen)
    except SinkRefusedRow as err:  # the same row is refused on every try
        raise AirflowFailException(f"Cassandra refused a row: {err}") from None
    finally:
        keep_xcom(LATENCY_XCOM, latency.as_xcom())
    with _record(run) as record:
        record.written("cassandra", written)
        record.cassandra_status("loaded")
    _mark_assets(CASSANDRA_ASSETS, run, written)
    return written


def _mark_assets(assets, run: dict[str, str], rows: dict[str, int]) -> None:
    from airflow.sdk import get_current_context

    mark_updated(get_current_context(), assets, run, rows)


def finish_run_record(run: dict[str, str]) -> None:
    with _record(run) as record:
        record.finish("success")
    reconcile_date(run)


def record_failure(context: Any) -> None:
    """on_failure_callback: mark the run failed with the task and the error that ended it.

    A run whose date never resolved (a bad `date`) has no record: nothing was touched.
    """
    ti = context["ti"]
    try:
        run = ti.xcom_pull(task_ids=RESOLVE_TASK_ID)
    except Exception:  # a callback must never mask the original failure
        log.exception("could not read the run's date")
        return
    if not run:
        return
    error = context.get("exception")
    try:
        with _record(run) as record:
            record.finish("failed", failed_task=ti.task_id, error=f"{type(error).__name__}: {error}")
    except Exception:  # idem
        log.exception("could not record the failure of run %s in etl_runs", run.get("run_id"))
