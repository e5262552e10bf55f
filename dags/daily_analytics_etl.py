"""
### Daily analytics ETL

Every night at 02:00 UTC, processes the previous UTC day D (contract: `shared/CONTRACT.md`):

1. **resolve_run** – the day comes from the `date` conf / Param (`YYYY-MM-DD`) or the run's
   partition key (every scheduled and backfill run is the partition of its day, `YYYY-MM-DD`);
   a bad date fails here, before anything is touched.
2. **extract_source** – `users` and the ISO week's `progress` from `source_postgres` to Parquet;
   **wait_for_event_drop** waits on the triggerer (deferrable) for `<etl_drop_dir>/user_events/D/_SUCCESS`.
3. **daily_outputs** (one Spark application, in the `analytics_spark` pool) – cleans the drop and quarantines rejected rows, then
   computes `page_view_stats` and `user_engagement` from the kept events and `daily_user_stats` and
   `learning_progress` from the extract; **check_ingest** records the counts and fails above
   `etl_max_reject_ratio`, before any load.
4. **validate_outputs** – one Great Expectations checkpoint over all four; a failure stops every load.
5. **load_postgres** replaces D in `daily_user_stats` atomically; **load_cassandra** replaces D in
   the Cassandra tables (skipped when no `cassandra_default` connection exists).

Every step is recorded in `etl_runs` of `analytics_postgres`.

Trigger a day so that the run is keyed, and listed, by it: in the trigger form, the day in
**Partition Key** (under *Advanced Options*; the `date` picker can stay empty); through the REST API,
`{"logical_date": null, "partition_key": "2024-01-15"}`; from the CLI, a one-day backfill,
`airflow backfill create --dag-id daily_analytics_etl --from-date 2024-01-15 --to-date 2024-01-15 --reprocess-behavior completed`.
`airflow dags trigger daily_analytics_etl --conf '{"date": "2024-01-15"}'` and the `date` picker alone
process the day as well, but Airflow 3.3 gives such a run no partition key (docs/decisions.md).
Backfill: `airflow backfill create --dag-id daily_analytics_etl --from-date A --to-date B` (days A .. B,
each run keyed and named by its day).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from analytics_etl import tasks
from analytics_etl.alerts import deadline_alert, on_run_failed
from analytics_etl.assets import CASSANDRA_ASSETS, POSTGRES_ASSETS
from analytics_etl.defaults import DEFAULT_ARGS, SPARK_JOBS
from analytics_etl.metrics import publish_run_metrics, with_timings
from analytics_etl.sensors import DropReadySensor
from analytics_etl.settings import SPARK_CONN_ID
from analytics_etl.spark import SPARK_CONF, SPARK_POOL, SparkJobOperator
from analytics_etl.timetable import DailyAfterCutoffTimetable


def spark_job(task_id: str, py_files, error_file, sized_by, run_staging, **options) -> SparkJobOperator:
    """spark_jobs/<task_id>.py on the `spark_default` master, in the Spark pool, its JIT chosen by the
    size of `sized_by`; each option becomes `--option-name value`."""
    return SparkJobOperator(
        task_id=task_id,
        conn_id=SPARK_CONN_ID,
        application=str(SPARK_JOBS / f"{task_id}.py"),
        py_files=py_files,
        name=f"daily_analytics_etl.{task_id}",
        application_args=[
            item for key, value in options.items() for item in (f"--{key.replace('_', '-')}", value)
        ],
        error_file=error_file,
        sized_by=sized_by,
        run_staging=run_staging,
        conf=SPARK_CONF,
        pool=SPARK_POOL,
    )


@dag(
    dag_id="daily_analytics_etl",
    description="Daily user statistics, rankings, engagement, page views and weekly learning progress",
    doc_md=__doc__,
    schedule=DailyAfterCutoffTimetable(),
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=4,
    # Each task also keeps its wall time for the run's metrics push (docs/monitoring.md).
    default_args=with_timings(DEFAULT_ARGS),
    # One mail per failed run (the task-level callback records each failed task), and one when the
    # scheduled run for yesterday D has not finished by `etl_deadline` on D+1; manual runs and
    # backfills get no deadline (docs/alerts.md).
    on_failure_callback=[on_run_failed, publish_run_metrics],
    # Success or failure, the ended run pushes its figures to the Pushgateway (docs/monitoring.md).
    on_success_callback=publish_run_metrics,
    deadline=deadline_alert(),
    tags=["analytics", "etl", "daily"],
    params={
        # A date picker in the trigger form. A bad value is refused by Airflow, naming it, before a
        # run exists (form, API, CLI); resolve_run checks again whatever reaches it.
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Date to process",
            description=(
                "A UTC calendar day YYYY-MM-DD; empty for the schedule's day (the previous day), or for"
                " the day typed in Partition Key under Advanced Options, which also lists the run by its"
                " day (the date alone does not)."
            ),
        )
    },
)
def daily_analytics_etl():
    run = task(tasks.resolve_run, task_id=tasks.RESOLVE_TASK_ID, multiple_outputs=True)()
    schema = task(tasks.migrate_analytics_schema, task_id="migrate_analytics_schema")()
    started = task(tasks.start_run_record, task_id="start_run_record")(run, dag_id="daily_analytics_etl")
    run >> schema >> started

    extracted = task(tasks.extract_source, task_id="extract_source")(run)
    packaged = task(tasks.package_spark_jobs, task_id="package_spark_jobs")(run)
    drop_ready = DropReadySensor(task_id="wait_for_event_drop", flag_path=run["drop_success_flag"])
    started >> [extracted, drop_ready, packaged]

    # One Spark application computes everything of the day (a spark-submit costs seconds of start-up).
    outputs = spark_job(
        "daily_outputs", packaged, run["spark_error"], run["drop_folder"], run["staging"],
        date=run["date"], drop_folder=run["drop_folder"],
        users=run["users"], progress=run["progress_week"], events_out=run["events"],
        quarantine=run["quarantine_out"], report=run["ingest_report"], scratch=run["ingest_scratch"],
        daily_user_stats=run["out_daily_user_stats"], learning_progress=run["out_learning_progress"],
        page_view_stats=run["out_page_view_stats"], user_engagement=run["out_user_engagement"],
    )  # fmt: skip
    ingest_checked = task(tasks.check_ingest, task_id="check_ingest")(run)
    [extracted, drop_ready, packaged] >> outputs >> ingest_checked

    # A rerun of an older day reads an erased user's events again from the drop: they stay out.
    erasures = task(tasks.keep_erased_users_out, task_id="keep_erased_users_out")(run)
    gate = task(tasks.validate_outputs, task_id="validate_outputs")(run)
    ingest_checked >> erasures >> gate

    # Each load declares the Assets it updates: other DAGs can be scheduled on them (docs/assets.md).
    loaded_pg = task(tasks.load_postgres, task_id="load_postgres", outlets=POSTGRES_ASSETS)(run)
    # One Cassandra load at a time across runs: two days of one week both rewrite that week's
    # learning_progress rows and their manifest (docs/cassandra.md).
    loaded_cassandra = task(
        tasks.load_cassandra, task_id="load_cassandra", max_active_tis_per_dag=1, outlets=CASSANDRA_ASSETS
    )(run)
    finished = task(tasks.finish_run_record, task_id="finish_run_record", trigger_rule="none_failed")(run)
    gate >> [loaded_pg, loaded_cassandra] >> finished


daily_analytics_etl()
