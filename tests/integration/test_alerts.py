"""Alerts against a real SMTP server (aiosmtpd on 127.0.0.1): a failed run mails once, a missed
deadline mails once, and without `smtp_default` the alert is in the log instead.

Failure mails come from real `airflow dags test` runs (the DAG-level failure callback runs in
line there). `airflow dags test` never looks at deadlines, so the deadline test runs Airflow's own
scheduler and triggerer over the test's metadata database: the scheduler finds the missed
deadline, the triggerer awaits the callback, the callback mails.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import signal
import subprocess
import time
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port
from tests.integration import dataset as ds

pytestmark = pytest.mark.integration

DATE = ds.D.isoformat()
TO = "oncall@example.com,data-team@example.com"
BASE_URL = "http://airflow.example.com:8080"


class Inbox:
    """aiosmtpd handler: every message the server accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"

    def wait_for(self, count: int, timeout: float) -> list[email.message.EmailMessage]:
        end = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < end:
            time.sleep(0.5)
        return self.messages


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def with_alerts(deployment, controller, *, connection: bool = True):
    deployment.variables["etl_alert_to"] = TO
    env = deployment.env()
    env["AIRFLOW__API__BASE_URL"] = BASE_URL
    if connection:
        env["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(
            {
                "conn_type": "smtp",
                "host": controller.hostname,
                "port": controller.port,
                "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "etl@example.com",
                          "retry_limit": 1, "timeout": 10},
            }
        )  # fmt: skip
    return env


def dags_test(env, conf: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["airflow", "dags", "test", "daily_analytics_etl", "--conf", json.dumps(conf)],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def html(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def run_id_of(output: str) -> str:
    """The run id `airflow dags test` created (it is in every task's log line)."""
    marker = "run_id="
    for line in output.splitlines():
        if marker in line and "manual__" in line:
            return "manual__" + line.split("manual__", 1)[1].split()[0].strip("',>)\"")
    raise AssertionError("no run id in the output")


@pytest.mark.slow
def test_a_run_failing_at_the_gate_sends_exactly_one_mail(deployment, smtp):
    controller, inbox = smtp
    conn = deployment.source()
    ds.load_source(conn, [*ds.PROGRESS, (ds.U2, "math", ds.D, 10, "250.00")])  # fails the gate
    conn.close()
    ds.write_drop(deployment.drop_dir)
    deployment.variables["etl_max_reject_ratio"] = "0.5"

    result = dags_test(with_alerts(deployment, controller), {"date": DATE})

    assert result.returncode != 0
    time.sleep(2)  # a second mail, if one were sent, would be in by now
    [message] = inbox.wait_for(1, timeout=10)
    assert sorted(inbox.recipients[0]) == sorted(TO.split(","))
    assert message["From"] == "etl@example.com"
    body = html(message)
    run_id = run_id_of(result.stdout + result.stderr)
    for subject_part in ("daily_analytics_etl", DATE, "validate_outputs", run_id):
        assert subject_part in message["Subject"]
    assert "average_score" in body  # the gate's error names the failed expectation's column
    assert "between 0" in body and "and 100" in body  # ... and the bounds it broke
    assert "AirflowFailException" in body
    conn = deployment.analytics()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT error, validation_result, data_docs FROM etl_runs WHERE run_id = %s", (run_id,))
        [(error, result_path, data_docs)] = cur.fetchall()
    conn.close()
    for text in (body, error):  # the gate's paths once each, in the record and the mail
        assert text.count("data docs: ") == 1 and text.count("result: ") == 1, text
    # ... and in the run's log: `airflow dags test` writes every task's log to its output.
    log = result.stdout + result.stderr
    assert (log.count(result_path), log.count(data_docs)) == (1, 1), [
        line for line in log.splitlines() if result_path in line or data_docs in line
    ]
    assert f"{BASE_URL}/dags/daily_analytics_etl/runs/{quote(run_id, safe='')}" in body


def missing_drop(deployment) -> dict:
    """A day whose drop never completes, with a 3 s wait: `wait_for_event_drop` fails, no retry."""
    conn = deployment.source()
    ds.load_source(conn)
    conn.close()
    ds.write_drop(deployment.drop_dir, complete=False)
    deployment.variables["etl_drop_timeout_seconds"] = "3"
    return deployment


@pytest.mark.slow
def test_a_run_failing_at_the_wait_mails_once(deployment, smtp):
    controller, inbox = smtp
    result = dags_test(with_alerts(missing_drop(deployment), controller), {"date": DATE})
    assert result.returncode != 0
    time.sleep(2)
    [message] = inbox.wait_for(1, timeout=10)
    assert DATE in message["Subject"] and "wait_for_event_drop" in message["Subject"]
    output = result.stdout + result.stderr
    assert str(deployment.drop_dir / "user_events" / DATE / "_SUCCESS") in html(message), (
        html(message) + "\n".join(line for line in output.splitlines() if "alert" in line.lower())[-5000:]
    )


@pytest.mark.slow
def test_without_smtp_default_the_alert_is_logged(deployment, smtp):
    controller, inbox = smtp
    result = dags_test(with_alerts(missing_drop(deployment), controller, connection=False), {"date": DATE})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "ALERT (not mailed: no connection 'smtp_default')" in output
    assert "failed task: wait_for_event_drop" in output and "_SUCCESS" in output
    assert inbox.messages == []


def start(command: list[str], env: dict, log_path) -> subprocess.Popen:
    return subprocess.Popen(
        command, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen) -> None:
    """The process and its children (the scheduler's executor, the triggerer's runner), by its group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# The scheduler's own path for the nightly run (`dags trigger` makes manual runs only): the scheduled
# run of yesterday's partition, created through the serialized DAG as the scheduler creates it,
# deadline included.
CREATE_SCHEDULED_RUN = """
import datetime as dt
import sys
from airflow.models.dagbag import DBDagBag
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from airflow.utils.types import DagRunTriggeredByType, DagRunType

with create_session() as session:
    dag = DBDagBag().get_latest_version_of_dag("daily_analytics_etl", session=session)
    # Yesterday's partition, as the nightly run has it, whatever the hour: before the cutoff (02:00)
    # the last due day is the day before, whose run created now would be a late one, not promised.
    info = dag.timetable.info(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    dag.create_dagrun(run_id=sys.argv[1], logical_date=None, data_interval=None, run_after=info.run_after,
                      partition_key=info.partition_key, partition_date=info.partition_date,
                      run_type=DagRunType.SCHEDULED, triggered_by=DagRunTriggeredByType.TIMETABLE,
                      state=DagRunState.QUEUED, session=session)
"""

# The deadlines Airflow holds per run: the UI's "Missed" badge and the late mail both come from them.
COUNT_DEADLINES = """
import json, sys
from airflow.models.dagrun import DagRun
from airflow.models.deadline import Deadline
from airflow.utils.session import create_session
from sqlalchemy import func, select

with create_session() as session:
    print(json.dumps({run_id: session.scalar(select(func.count()).select_from(Deadline).join(DagRun, Deadline.dagrun_id == DagRun.id).where(DagRun.run_id == run_id)) for run_id in sys.argv[1:]}))
"""


def python(env: dict, script: str, *args: str) -> str:
    done = subprocess.run(
        ["python", "-c", script, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_only_the_nightly_run_is_late_and_it_mails_once_from_the_triggerer(deployment, smtp, tmp_path):
    """Yesterday's scheduled run, unfinished at `etl_deadline` today, mails once; a manual rerun of
    an old day created beside it gets no deadline (no "Missed" badge) and sends no late mail."""
    controller, inbox = smtp
    deployment.variables["etl_deadline"] = "00:00"  # today 00:00 UTC: passed for yesterday's run
    env = with_alerts(deployment, controller)
    tag = f"{os.getpid()}_{time.time_ns()}"
    manual_id, scheduled_id = f"manual__alerts_rerun_{tag}", f"scheduled__alerts_nightly_{tag}"
    for command in (
        ["airflow", "dags", "reserialize"],
        # Paused: the scheduler creates no task of the runs, so only a deadline can mail.
        ["airflow", "dags", "pause", "daily_analytics_etl"],
        ["airflow", "dags", "trigger", "daily_analytics_etl", "--run-id", manual_id, "--conf",
         json.dumps({"date": DATE})],
    ):  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    python(env, CREATE_SCHEDULED_RUN, scheduled_id)
    assert json.loads(python(env, COUNT_DEADLINES, manual_id, scheduled_id)) == {
        manual_id: 0,
        scheduled_id: 1,
    }

    processes = [
        start(["airflow", "triggerer"], env, tmp_path / "triggerer.log"),
        start(["airflow", "scheduler"], env, tmp_path / "scheduler.log"),
    ]
    try:
        inbox.wait_for(1, timeout=180)
        time.sleep(10)  # a second mail, if one were sent, would be in by now
    finally:
        for process in processes:
            stop(process)
    logs = "".join((tmp_path / f"{name}.log").read_text()[-4000:] for name in ("scheduler", "triggerer"))
    assert len(inbox.messages) == 1, logs
    [message] = inbox.messages
    subject = message["Subject"]
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    assert "daily_analytics_etl" in subject and "late" in subject and scheduled_id in subject
    assert yesterday.isoformat() in subject and manual_id not in subject
    body = html(message)
    assert f"{(yesterday + dt.timedelta(days=1)).isoformat()} 00:00:00 UTC" in body
    assert "Late by" in body
    assert f"{BASE_URL}/dags/daily_analytics_etl/runs/{quote(scheduled_id, safe='')}" in body
