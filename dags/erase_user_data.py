"""
### Erase one user's data

Triggered with `airflow dags trigger erase_user_data --conf '{"user_id": "<uuid>"}'` (contract
section 6). Removes every row of the user from `daily_user_stats`, from every Cassandra table and
key manifest, from the staging and curated Parquet of every date and from the quarantine, redacts
the user from validation results and data docs, and writes one row to `erasure_log` in
`analytics_postgres` (created 'running' first, each removal added as it is made, so a failed
erasure leaves a trace and a second one finishes the job). A bad `user_id` is refused naming it,
touching nothing; a second erasure of the same user finds nothing and logs zeros. The producers'
drop folders are not the platform's and are left alone: see `docs/lifecycle.md`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from analytics_etl.defaults import DEFAULT_ARGS
from analytics_etl.erasure import tasks

UUID_PATTERN = r"^\s*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\s*$"


@dag(
    dag_id="erase_user_data",
    description="Erase one user from every sink and platform file (the right to be forgotten)",
    doc_md=__doc__,
    schedule=None,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,  # erasures rewrite shared files: one at a time
    default_args={**DEFAULT_ARGS, "on_failure_callback": tasks.record_failure},
    tags=["analytics", "privacy"],
    params={"user_id": Param(None, type=["null", "string"], pattern=UUID_PATTERN, title="User id (UUID)")},
)
def erase_user_data():
    user_id = task(tasks.validate_request, task_id="validate_request")()
    started = task(tasks.start_erasure_log, task_id="start_erasure_log")(user_id)
    files = task(tasks.erase_files, task_id="erase_files")(user_id)
    postgres = task(tasks.erase_postgres, task_id="erase_postgres")(user_id)
    cassandra = task(tasks.erase_cassandra, task_id="erase_cassandra")(user_id)
    finished = task(tasks.finish_erasure_log, task_id="finish_erasure_log")()
    # One after the other: a file the erasure cannot read stops it before any sink is touched, and
    # the e-mail to redact is read from daily_user_stats before its rows go.
    started >> files >> postgres >> cassandra >> finished


erase_user_data()
