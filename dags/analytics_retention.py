"""
### Retention of the platform's files

Every day at 07:00 UTC (after the ETL's default `etl_deadline`, so it rarely shares the disk with a
run), deletes under `etl_data_dir` (contract section 6, docs/lifecycle.md):

- every staging, curated, validation, data docs and quarantine file of the dates more than
  `etl_retention_days` (default 30) days old;
- inside that window, the files of superseded runs: the latest successful run of each date and its
  latest run are kept.

Nothing of a run in progress is touched, nor anything outside `etl_data_dir`, nor the sinks or
`etl_runs`. What was deleted (files and bytes per date, run and kind) is in the task log and in
table `retention_log` of `analytics_postgres`; the GX data docs index is rebuilt without the
removed results.

Preview with the **dry_run** Param: `airflow dags trigger analytics_retention --conf '{"dry_run": true}'`
reports (and logs as `dry_run` rows) what would go, and deletes nothing.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

from analytics_etl import tasks
from analytics_etl.alerts import on_run_failed
from analytics_etl.retention import DEFAULT_ARGS, apply_retention


@dag(
    dag_id="analytics_retention",
    description="Deletes expired and superseded run files under etl_data_dir and records what went",
    doc_md=__doc__,
    # Core's timetable rather than a cron string: it carries the schedule's summary into the UI.
    schedule=CronTriggerTimetable("0 7 * * *", timezone="UTC"),
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    on_failure_callback=on_run_failed,
    tags=["analytics", "retention", "maintenance"],
    params={
        # False: the scheduled run deletes, as the contract says; a new deployment's DAG starts
        # paused, so a dry run can be looked at before the first real one (docs/lifecycle.md).
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Report and log what would be deleted, delete nothing.",
        )
    },
)
def analytics_retention():
    schema = task(tasks.migrate_analytics_schema, task_id="migrate_analytics_schema")()
    schema >> task(apply_retention, task_id="apply_retention")()


analytics_retention()
