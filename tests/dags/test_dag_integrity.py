"""Every DAG in dags/ imports cleanly and follows the platform's conventions."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(DAGS))
    print(f"\nimporting {DAGS} took {time.perf_counter() - started:.2f} s for {len(bag.dags)} DAG(s)")
    return bag


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAG found"


def test_file_name_is_the_dag_id(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert Path(dag.fileloc).stem == dag_id


def test_conventions(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.catchup is False, f"{dag_id} catches up"
        # A scheduled DAG documents its schedule; a triggered-only one (erase_user_data) has none.
        assert not dag.timetable.can_be_scheduled or dag.timetable.summary, f"{dag_id}: undocumented schedule"
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", f"{dag_id}.{t.task_id} has no owner"
            assert t.retries >= 2, f"{dag_id}.{t.task_id} has {t.retries} retries"
            assert t.on_failure_callback, f"{dag_id}.{t.task_id} records no failure"


def test_contract_schedule_and_date_param(dagbag):
    dag = dagbag.dags["daily_analytics_etl"]
    assert dag.timetable.summary == "0 2 * * *"
    assert "date" in dag.params
    assert dag.params["date"] is None
    first = [t.task_id for t in dag.tasks if not t.upstream_list]
    assert first == ["resolve_run"], "the date must be checked before anything else runs"


def test_backfill_range_processes_each_day_of_the_range_once(dagbag):
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags["daily_analytics_etl"]))
    utc = dt.UTC
    infos = list(
        serialized.iter_dagrun_infos_between(
            dt.datetime(2024, 1, 10, tzinfo=utc), dt.datetime(2024, 1, 15, tzinfo=utc)
        )
    )
    days = [info.partition_date.date() for info in infos]
    assert days == [dt.date(2024, 1, d) for d in range(10, 16)]
    assert [info.partition_key for info in infos] == [d.isoformat() for d in days]
    assert all(info.run_after == info.partition_date + dt.timedelta(days=1, hours=2) for info in infos)


def test_one_spark_application_per_run_on_the_spark_default_connection(dagbag):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    from analytics_etl.spark import SparkJobOperator

    spark = [t for t in dagbag.dags["daily_analytics_etl"].tasks if isinstance(t, SparkSubmitOperator)]
    assert [t.task_id for t in spark] == ["daily_outputs"]
    assert all(isinstance(t, SparkJobOperator) for t in spark)
    assert all(t._conn_id == "spark_default" and Path(t.application).is_file() for t in spark)


def test_every_sink_load_waits_for_the_gate_and_the_reject_guard(dagbag):
    dag = dagbag.dags["daily_analytics_etl"]
    loads = [t for t in dag.tasks if t.task_id.startswith("load_")]
    assert {t.task_id for t in loads} == {"load_postgres", "load_cassandra"}
    for load in loads:
        upstream = load.get_flat_relative_ids(upstream=True)
        assert {"validate_outputs", "check_ingest", "resolve_run"} <= upstream
        assert load.trigger_rule == "all_success", f"{load.task_id} could run after a failed gate"
    gate_upstream = dag.get_task("validate_outputs").get_flat_relative_ids(upstream=True)
    assert {"daily_outputs", "check_ingest"} <= gate_upstream


def test_parsing_the_dags_and_loading_the_plugins_imports_nothing_heavy():
    """Schedulers and DAG processors parse dags/ and load plugins/ all the time: keep them light."""
    import subprocess
    import sys

    probe = (
        "import sys, time; t = time.perf_counter();"
        "from airflow import plugins_manager; plugins_manager.ensure_plugins_loaded();"
        "from airflow.dag_processing.dagbag import DagBag; DagBag(dag_folder=sys.argv[1]);"
        "heavy = ('pyspark', 'pandas', 'pyarrow', 'great_expectations', 'psycopg2', 'cassandra');"
        "print(sorted(m for m in heavy if m in sys.modules)); print(round(time.perf_counter() - t, 2))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(DAGS)], capture_output=True, text=True, check=True
    )
    loaded, seconds = result.stdout.strip().splitlines()[-2:]
    print(f"\nplugins + dags/ import in a fresh interpreter: {seconds} s")
    assert loaded == "[]"
