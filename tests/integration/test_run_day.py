"""The day a run processes, as Airflow 3.3.2 itself records it, on a real metadata database of the
test's own (SQLite, migrated here) holding this DAG and the consumer example of docs/assets.md:

- a manual run given its day as partition key (what the trigger form's Partition Key field and the
  REST API send) is keyed by it and processes it, through the real API and a real `resolve_run`;
- from the CLI, `dags trigger --conf` still processes its date but is not keyed (Airflow's limit,
  docs/decisions.md), and a one-day backfill is the keyed way;
- the loads' events of two days, whichever run emitted them, make the scheduler's own run-creation
  step create one consumer run per day, keyed by it, and one more for a day loaded again later.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import airflow_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PRODUCER, CONSUMER = "daily_analytics_etl", "daily_user_stats_consumer"


def run(env: dict[str, str], *command: str) -> str:
    """The command's standard output; it must succeed."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def python(env: dict[str, str], script: str, *args: str) -> object:
    """Run `script` against the test's metadata database; it prints one JSON document last."""
    out = run(env, "python", "-c", script, *args)
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An Airflow home of this module's own (the session's is shared with tests that run a real
    scheduler: an unpaused consumer there would get runs), both DAGs serialized in it."""
    home = tmp_path_factory.mktemp("run_day_home")
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(REPO / "dags" / f"{PRODUCER}.py", dags)
    shutil.copy(REPO / "docs" / "examples" / f"{CONSUMER}.py", dags)
    env = airflow_env(home)
    env.update(
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW_VAR_ETL_DATA_DIR": str(home / "data"),
            "AIRFLOW_VAR_ETL_DROP_DIR": str(home / "drops"),
        }
    )
    run(env, "airflow", "db", "migrate")
    run(env, "airflow", "dags", "reserialize")
    return env


# POST /api/v2/dags/{id}/dagRuns through Airflow's own API app (the trigger form sends the same body).
API_TRIGGER = """
import json, sys
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app

client = TestClient(create_app("core"))
answers = []
for body in json.loads(sys.argv[1]):
    response = client.post("/api/v2/dags/daily_analytics_etl/dagRuns", json=body)
    answers.append({"status": response.status_code, "body": response.json()})
print(json.dumps(answers))
"""

DAG_RUNS = """
import json, sys
from sqlalchemy import select
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session

with create_session() as session:
    runs = session.scalars(select(DagRun).where(DagRun.dag_id == sys.argv[1]).order_by(DagRun.id)).all()
    print(json.dumps([{"run_id": r.run_id, "run_type": getattr(r.run_type, "value", r.run_type), "key": r.partition_key,
                       "date": r.partition_date and r.partition_date.isoformat(), "conf": r.conf,
                       "events": sorted(e.extra["run_id"] for e in r.consumed_asset_events)}
                      for r in runs]))
"""


def resolve_run(env: dict[str, str], run_id: str) -> str:
    """The DAG's real first task on an existing run (`airflow tasks test`): its log says the day."""
    done = subprocess.run(
        ["airflow", "tasks", "test", PRODUCER, "resolve_run", run_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout + done.stderr


def test_a_manual_run_given_its_day_as_partition_key_is_keyed_by_it_and_processes_it(env):
    keyed, conflicting, impossible = python(
        env,
        API_TRIGGER,
        json.dumps(
            [
                {"logical_date": None, "partition_key": "2024-01-15"},
                {"logical_date": None, "partition_key": "2024-01-16", "conf": {"date": "2024-01-17"}},
                {"logical_date": None, "partition_key": "2024-02-30"},
            ]
        ),
    )
    assert keyed["status"] == 200, keyed
    assert keyed["body"]["partition_key"] == "2024-01-15"
    assert keyed["body"]["run_type"] == "manual"
    # Not a day: refused before a run exists, naming the value.
    assert impossible["status"] == 400 and "'2024-02-30'" in impossible["body"]["detail"], impossible

    assert "processes 2024-01-15" in resolve_run(env, keyed["body"]["dag_run_id"])
    # A date that names another day than the key: the run fails at its first task, naming both.
    assert conflicting["status"] == 200, conflicting
    log = resolve_run(env, conflicting["body"]["dag_run_id"])
    assert "conf date 2024-01-17 is not 2024-01-16, the partition key of this manual run" in log, log[-3000:]


def test_from_the_cli_a_date_alone_leaves_the_run_unkeyed_and_a_one_day_backfill_keys_it(env):
    day = "2024-01-20"
    run(env, "airflow", "dags", "trigger", PRODUCER, "--conf", json.dumps({"date": day}))
    run(env, "airflow", "backfill", "create", "--dag-id", PRODUCER, "--from-date", day, "--to-date", day,
        "--reprocess-behavior", "completed")  # fmt: skip
    runs = python(env, DAG_RUNS, PRODUCER)

    # The contract's command processes its date, but Airflow 3.3.2 keys no such run (docs/decisions.md):
    # when this fails, Airflow has learnt to, and the docs should say so.
    [manual] = [r for r in runs if r["conf"] == {"date": day}]
    assert (manual["run_type"], manual["key"]) == ("manual", None), manual
    assert f"processes {day}" in resolve_run(env, manual["run_id"])

    [backfill] = [r for r in runs if r["run_type"] == "backfill"]
    assert backfill["key"] == day and backfill["run_id"].startswith(f"backfill__{day}__"), backfill
    assert backfill["date"].startswith(f"{day}T00:00:00"), backfill


# The loads' events as Airflow records them when `load_postgres` succeeds: the task's outlet events,
# built by the project's `mark_updated` into the SDK's accessors and serialized as the task runner
# sends them, registered by `TaskInstance.register_asset_changes_in_db` (what the execution API calls).
# Then the scheduler's own run-creation step (`_create_dagruns_for_dags`, one pass of its loop).
PRODUCE_AND_SCHEDULE = """
import datetime as dt, json, sys
from sqlalchemy import select
from airflow.jobs.job import Job
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
from airflow.models.dagbag import DBDagBag
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.sdk.execution_time.context import OutletEventAccessors
from airflow.sdk.execution_time.task_runner import _build_asset_profiles, _serialize_outlet_events
from airflow.utils.session import create_session
from airflow.utils.sqlalchemy import prohibit_commit
from airflow.utils.state import DagRunState
from airflow.utils.types import DagRunTriggeredByType, DagRunType

from analytics_etl.assets import POSTGRES_ASSETS, mark_updated


def load(run_id, run_type, key, conf, day):  # a producer run of `day`, keyed or not, loads it
    with create_session() as session:
        dag = DBDagBag().get_latest_version_of_dag("daily_analytics_etl", session=session)
        table = dag.timetable
        run_after = table.info(dt.date.fromisoformat(day)).run_after
        dag_run = dag.create_dagrun(
            run_id=run_id, run_type=run_type, triggered_by=DagRunTriggeredByType.TEST, partition_key=key,
            partition_date=table.resolve_partition_date(key), conf=conf, run_after=run_after,
            state=DagRunState.RUNNING, session=session,
        )
        events = OutletEventAccessors()
        mark_updated({"outlet_events": events}, POSTGRES_ASSETS, {"date": day, "run_id": run_id},
                     {"daily_user_stats": 3})
        TaskInstance.register_asset_changes_in_db(
            dag_run.get_task_instance("load_postgres", session=session),
            list(_build_asset_profiles(POSTGRES_ASSETS)), list(_serialize_outlet_events(events)),
            session=session,
        )


def schedule(runner):
    with create_session() as session, prohibit_commit(session) as guard:
        runner._create_dagruns_for_dags(guard, session)
        guard.commit()
    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == "daily_user_stats_consumer")
                               .order_by(DagRun.id)).all()
        return [{"run_type": getattr(r.run_type, "value", r.run_type), "key": r.partition_key,
                 "date": r.partition_date and r.partition_date.isoformat(),
                 "events": sorted(e.extra["run_id"] for e in r.consumed_asset_events)} for r in runs]


d1, d2 = sys.argv[1:3]
runner = SchedulerJobRunner(job=Job())
load(f"scheduled__{d1}", DagRunType.SCHEDULED, d1, None, d1)  # the nightly run of D1
load("manual__conf_only", DagRunType.MANUAL, None, {"date": d2}, d2)  # `dags trigger --conf`: no key
load(f"manual__{d1}_rerun", DagRunType.MANUAL, d1, {}, d1)  # a rerun of D1 given its key
passes = [schedule(runner), schedule(runner)]  # the second pass finds nothing new
load(f"manual__{d1}_again", DagRunType.MANUAL, d1, {}, d1)  # D1 reloaded after its consumer run
passes.append(schedule(runner))
print(json.dumps(passes))
"""


def test_the_scheduler_creates_one_consumer_run_per_day_the_loads_emitted(env):
    d1, d2 = "2024-03-04", "2024-03-05"
    run(env, "airflow", "dags", "unpause", CONSUMER)  # Airflow queues runs for unpaused consumers only
    first, second, after_reload = python(env, PRODUCE_AND_SCHEDULE, d1, d2)

    assert sorted((r["run_type"], r["key"]) for r in first) == [
        ("asset_triggered", d1),
        ("asset_triggered", d2),
    ], first
    by_day = {r["key"]: r for r in first}
    # Both events of D1 (the nightly run and its rerun) feed the one run of D1; the run of D2 was
    # fed by a run without a key of its own: its load keyed the event by the day all the same.
    assert by_day[d1]["events"] == sorted([f"scheduled__{d1}", f"manual__{d1}_rerun"])
    assert by_day[d2]["events"] == ["manual__conf_only"]
    # The day's date travels with a keyed producer's events (the example's identity mapper).
    assert by_day[d1]["date"] == dt.datetime(2024, 3, 4, tzinfo=dt.UTC).isoformat()
    assert second == first
    # A day loaded again after its consumer run was created gets a run of its own.
    assert [(r["key"], r["events"]) for r in after_reload[2:]] == [(d1, [f"manual__{d1}_again"])]
